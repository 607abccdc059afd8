"""Someone's intermediate tensors against chainrule's step (chainrule.verify.tensors)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.errors import SpecError
from chainrule.verify.mistakes import correct_step, mistaken_step
from chainrule.verify.tensors import (
    MAX_ELEMENTS, TensorChecker, check_tensors, load_tensors, quantity_of,
)

NOTEBOOK_NAMES = {"z1": "forward.z1", "a1": "forward.a1", "z2": "forward.z2",
                  "h2": "forward.a2", "dz2": "backward.delta2", "delta1": "backward.delta1",
                  "dW1": "gradients.W1", "db1": "gradients.b1", "dW2": "gradients.W2",
                  "db2": "gradients.b2", "W1_new": "updated.W1", "loss": "forward.loss",
                  "loss_after": "loss_after", "da2": "backward.dE_da2"}


def namespace(step: dict) -> dict:
    """A notebook's globals: the tensors by their short names, and things that are not."""
    return {**{name: step[key].copy() for name, key in NOTEBOOK_NAMES.items()},
            "np": np, "x": np.array([0.05, 0.1]), "lr": 0.5, "W1": step["parameters.W1"],
            "note": "my working", "b9": np.zeros(3)}


def test_the_names_a_notebook_uses_are_chainrules_quantities():
    truth = correct_step("seed")
    for name, key in NOTEBOOK_NAMES.items():
        assert quantity_of(name, truth) == key
        assert quantity_of(key, truth) == key
    for name in ("W1", "x", "a0", "forward.a0", "parameters.W1", "z3", "dW3", "zz1"):
        assert quantity_of(name, truth) is None, name


def test_correct_tensors_agree_exactly():
    report = check_tensors("seed", namespace(correct_step("seed")), namespace=True)
    assert report.ok and report.first_off is None
    assert [row.name for row in report.rows][:5] == ["z1", "a1", "z2", "h2", "loss"]
    assert all(row.exact and row.close and row.max_diff == 0 for row in report.rows)
    assert "All 14 tensors agree" in str(report)


def test_the_first_tensor_off_is_where_the_mistake_begins_and_what_follows_is_carried():
    step = mistaken_step("seed", "derivative_of_z")
    report = check_tensors("seed", namespace(step), namespace=True)
    rows = {row.name: row for row in report.rows}
    assert not report.ok and report.first_off.name == "dz2"
    assert rows["z1"].status == "correct" and rows["loss"].status == "correct"
    assert rows["dz2"].status == "wrong" and rows["dz2"].mistakes == ("derivative_of_z",)
    assert rows["dz2"].max_diff == pytest.approx(
        float(np.max(np.abs(step["backward.delta2"] - correct_step("seed")["backward.delta2"]))))
    # dW1 = x ⊗ δ¹ is right from the given δ¹: error carried forward, not a second mistake
    assert rows["dW1"].status == "carried" and not rows["dW1"].close
    assert report.marked.diagnosis.id == "derivative_of_z"
    data = report.to_dict()
    assert data["first_off"] == "dz2" and data["tensors"][6]["name"] == "dz2"
    json.dumps(data)


def test_a_tensor_of_the_wrong_shape_is_a_wrong_row_not_an_error():
    step = correct_step("seed")
    report = check_tensors("seed", {"dW2": step["gradients.W2"].T})  # (1, 2) for (2, 1)
    row = report.rows[0]
    assert (row.shape, row.expected_shape, row.status) == ((1, 2), (2, 1), "wrong")
    assert row.max_diff is None and not row.close and "1×2 ≠ 2×1" in str(report)


def test_cmp_prints_one_line_like_the_ninja_notebook(capsys):
    check = TensorChecker("seed")
    grad = correct_step("seed")["gradients.W1"]
    assert check.cmp("dW1", grad) is True
    assert check.cmp("dW1", grad + 1e-3) is False
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dW1") and "(gradients.W1) | exact: True | close: True" in lines[0]
    assert "exact: False | close: False | max |diff|: 0.001" in lines[1]


@pytest.mark.parametrize("tensors, message", [
    ({"z9": [1.0]}, r"'z9': not a quantity of this network's step \(names: forward.z1"),
    ({"z1": "1, 2"}, r"'z1': not an array of numbers"),
    ({"z1": [1.0, 2.0], "forward.z1": [1.0, 2.0]}, r"'forward.z1': forward.z1 is given twice"),
    ({}, r"no tensor of this network's step"),
])
def test_bad_tensors_are_one_line(tensors, message):
    with pytest.raises(SpecError, match=message):
        check_tensors("seed", tensors)


def test_files_npz_and_json(tmp_path):
    step = mistaken_step("seed", "gradient_ascent")
    np.savez(tmp_path / "mine.npz", z1=step["forward.z1"], W1_new=step["updated.W1"])
    loaded = load_tensors(tmp_path / "mine.npz")
    assert set(loaded) == {"z1", "W1_new"}
    report = check_tensors("seed", loaded)
    assert report.first_off.name == "W1_new" and report.marked.diagnosis.id == "gradient_ascent"
    (tmp_path / "mine.json").write_text(json.dumps({"dW1": step["gradients.W1"].tolist()}))
    assert check_tensors("seed", load_tensors(tmp_path / "mine.json")).ok


def _npz_with_header(path, shape, dtype="<f8"):
    """An .npz whose one member claims ``shape`` (with no data behind it)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("z1.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])


def test_hostile_files_are_refused_before_reading(tmp_path):
    _npz_with_header(tmp_path / "huge.npz", (MAX_ELEMENTS + 1,))
    with pytest.raises(SpecError, match=r"huge.npz: more than 1000000 numbers"):
        load_tensors(tmp_path / "huge.npz")
    np.savez(tmp_path / "objects.npz", z1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SpecError, match=r"objects.npz: 'z1': dtype object, expected numbers"):
        load_tensors(tmp_path / "objects.npz")
    (tmp_path / "not.npz").write_bytes(b"not a zip")
    with pytest.raises(SpecError, match=r"not.npz: not a readable .npz"):
        load_tensors(tmp_path / "not.npz")
    (tmp_path / "t.txt").write_text("1")
    with pytest.raises(SpecError, match=r"expected an .npz"):
        load_tensors(tmp_path / "t.txt")
    with pytest.raises(SpecError, match=r"missing.npz"):
        load_tensors(tmp_path / "missing.npz")
    (tmp_path / "deep.json").write_text('{"z1": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SpecError, match=r"deep.json.*(deep|nest)"):
        load_tensors(tmp_path / "deep.json")
    (tmp_path / "twice.json").write_text('{"z1": [1, 2], "z1": [3, 4]}')
    with pytest.raises(SpecError, match=r"twice.json.*given twice"):
        load_tensors(tmp_path / "twice.json")


def test_the_command_line(tmp_path, capsys):
    step = correct_step("seed")
    np.savez(tmp_path / "ok.npz", dz1=step["backward.delta1"], dW1=step["gradients.W1"])
    assert main(["verify", "seed", "--tensors", str(tmp_path / "ok.npz")]) == 0
    assert "All 2 tensors agree" in capsys.readouterr().out
    wrong = mistaken_step("seed", "missing_activation_derivative")
    np.savez(tmp_path / "bad.npz", dz1=wrong["backward.delta1"])
    assert main(["verify", "seed", "--tensors", str(tmp_path / "bad.npz"), "-f", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_off"] == "dz1" and data["tensors"][0]["status"] == "wrong"
    (tmp_path / "bad.json").write_text('{"q": 1}')
    assert main(["verify", "seed", "--tensors", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'q': not a quantity" in err
