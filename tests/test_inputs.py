"""Hostile and clumsy input files: one line naming the file, exit code 2, bounded time and memory.

Each case is a file a user or a student could hand to chainrule; the CLI is run in-process
(``cli.main``) and in a subprocess where a hang or a traceback would show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule as cr
from chainrule import inputs
from chainrule.cli import main as cli
from chainrule.train.checkpoint import save_model
from chainrule.errors import SpecError

SEED = {"layers": [2, 2, 1], "loss": "sse", "input": [0.5, 0.3], "target": [0.7],
        "learning_rate": 0.1}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- nesting, big integers, encodings --------------------------------------------------------

@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_deep_nesting_is_one_line(tmp_path, capsys, suffix):
    deep = "[" * 5000 + "]" * 5000
    body = {".json": f'{{"layers": {deep}}}', ".yaml": f"layers: {deep}\n",
            ".toml": f"layers = {deep}\n"}[suffix]
    path = tmp_path / f"deep{suffix}"
    path.write_text(body)
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, str(path), f"more than {inputs.MAX_DEPTH} levels")


def test_deep_nesting_in_weights_and_in_answers(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SEED, "weights": [[[0.1]]]}).replace(
        "[[[0.1]]]", "[" * 3000 + "0.1" + "]" * 3000))
    assert_one_line_error(*run(capsys, "explain", str(spec))[::2], "levels deep")
    answers = tmp_path / "answers.json"
    answers.write_text('{"gradients": ' + "{\"a\": " * 3000 + "1" + "}" * 3001)
    assert_one_line_error(*run(capsys, "verify", "seed", "--answers", str(answers))[::2],
                          str(answers), "levels deep")
    yaml_answers = tmp_path / "answers.yaml"
    yaml_answers.write_text("loss: " + "[" * 3000 + "]" * 3000 + "\n")
    assert_one_line_error(*run(capsys, "verify", "seed", "--answers", str(yaml_answers))[::2],
                          str(yaml_answers))


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_an_integer_of_thousands_of_digits_is_refused(tmp_path, capsys, suffix):
    digits = "9" * 5000
    body = {".json": json.dumps(SEED)[:-1] + f', "seed": {digits}}}',
            ".yaml": "\n".join(f"{k}: {json.dumps(v)}" for k, v in SEED.items())
            + f"\nseed: {digits}\n",
            ".toml": "\n".join(f"{k} = {json.dumps(v)}" for k, v in SEED.items())
            + f"\nseed = {digits}\n"}[suffix]
    path = tmp_path / f"big{suffix}"
    path.write_text(body)
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, str(path), "digits")


def test_invalid_utf8_names_the_place(tmp_path, capsys):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{\n  "name": "r\xe9seau",\n' + json.dumps(SEED)[1:].encode())
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, f"{path}:2:", "not UTF-8", "0xe9")


# --- resource exhaustion ---------------------------------------------------------------------

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("command", ["explain", "answers", "grade"])
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys, command):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    if command == "explain":
        code, _, err = run(capsys, "explain", str(path))
    elif command == "answers":
        code, _, err = run(capsys, "verify", "seed", "--answers", str(path))
    else:
        sheet = tmp_path / "sheet"
        assert run(capsys, "exercise", "new", "--seed", "1", "--out", str(sheet))[0] == 0
        code, _, err = run(capsys, "exercise", "grade", str(sheet / "key.json"), str(path))
    assert_one_line_error(code, err, str(path), "aliases")


def test_a_recursive_yaml_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    with pytest.raises(SpecError, match="recursive alias|invalid YAML"):
        cr.spec.load_spec(path)


def test_yaml_aliases_within_the_limit_still_work(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text("layers: [2, 2, 1]\nloss: sse\ninput: &x [0.5, 0.3]\ntarget: [0.7]\n"
                    "learning_rate: 0.1\ndescription: shares an anchor\n")
    assert cr.spec.load_spec(path).inputs.tolist() == [0.5, 0.3]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_never_blocks(tmp_path, capsys):
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    code, _, err = run(capsys, "explain", str(fifo))
    assert_one_line_error(code, err, str(fifo), "not a regular file")
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "alice.json").write_text('{"1a": "0.1"}')
    os.mkfifo(folder / "bob.json")
    sheet = tmp_path / "sheet"
    assert run(capsys, "exercise", "new", "--seed", "1", "--out", str(sheet))[0] == 0
    code, _, err = run(capsys, "exercise", "grade", str(sheet / "key.json"), str(folder))
    assert_one_line_error(code, err, "bob.json", "not a regular file")


def test_a_link_to_dev_zero_is_not_read(tmp_path, capsys):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    link = tmp_path / "answers.json"
    link.symlink_to("/dev/zero")
    code, _, err = run(capsys, "verify", "seed", "--answers", str(link))
    assert_one_line_error(code, err, str(link), "not a regular file")


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    path = tmp_path / "huge.json"
    with open(path, "wb") as file:  # sparse: 9 MB of nothing, costs no disk
        file.truncate(inputs.MAX_FILE_BYTES + 1)
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, str(path), f"at most {inputs.MAX_FILE_BYTES:,} bytes")


@pytest.mark.parametrize("layers, fragment", [
    ([2, 100000, 100000, 1], "units"),
    ([2, 5000, 5000, 1], "parameters; a spec may have at most"),
    ([2] + [2] * 100 + [1], "weight layers"),
])
def test_networks_too_large_to_hold_are_refused_before_allocating(tmp_path, capsys, layers,
                                                                   fragment):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({**SEED, "layers": layers}))
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize("command", ["explain", "verify"])
def test_a_step_too_large_to_list_is_refused(tmp_path, capsys, command):
    path = tmp_path / "wide.json"
    path.write_text(json.dumps({**SEED, "layers": [2, 300, 300, 1]}))
    code, _, err = run(capsys, command, str(path))
    assert_one_line_error(code, err, "91,501 parameters", f"at most {cr.spec.MAX_EXPLAINED:,}")


def test_a_large_batch_is_refused(tmp_path, capsys):
    path = tmp_path / "batch.json"
    rows = cr.spec.MAX_EXAMPLES + 1
    path.write_text(json.dumps({**{k: v for k, v in SEED.items() if k not in ("input", "target")},
                                "inputs": [[0.5, 0.3]] * rows, "targets": [[0.7]] * rows}))
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, "inputs:", "examples")


# --- silently accepted before ----------------------------------------------------------------

@pytest.mark.parametrize("suffix, body", [
    (".json", '{"layers": [2, 2, 1], "loss": "sse", "loss": "bce", "input": [0.5, 0.3], '
              '"target": [0.7], "learning_rate": 0.1}'),
    (".yaml", "layers: [2, 2, 1]\nloss: sse\nloss: bce\ninput: [0.5, 0.3]\ntarget: [0.7]\n"
              "learning_rate: 0.1\n"),
])
def test_a_key_given_twice_in_a_spec_is_refused(tmp_path, capsys, suffix, body):
    path = tmp_path / f"twice{suffix}"
    path.write_text(body)
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, str(path), "'loss' is given twice")


def test_a_key_given_twice_in_yaml_answers_is_refused(tmp_path, capsys):
    path = tmp_path / "answers.yaml"
    path.write_text("loss: '0.1'\nloss: '0.2'\n")
    code, _, err = run(capsys, "verify", "seed", "--answers", str(path))
    assert_one_line_error(code, err, str(path), "'loss' is given twice")


@pytest.mark.parametrize("target", [[1.5], [-0.2]])
def test_bce_targets_outside_zero_one_are_refused(tmp_path, capsys, target):
    path = tmp_path / "bce.json"
    path.write_text(json.dumps({**SEED, "loss": "bce", "target": target}))
    code, _, err = run(capsys, "explain", str(path))
    assert_one_line_error(code, err, "target[0]", "[0, 1]", f"{target[0]:g}")


def test_a_quoted_multiline_cell_is_one_student(tmp_path, capsys):
    sheet = tmp_path / "sheet"
    assert run(capsys, "exercise", "new", "--seed", "1", "--out", str(sheet))[0] == 0
    key = json.loads((sheet / "key.json").read_text())
    first = key["exercises"][0]["questions"][0]["label"]
    roster = tmp_path / "class.csv"
    roster.write_text(f'student,{first}\n"Ada\nLovelace",0.1\nBob,0.2\n')
    code, out, err = run(capsys, "exercise", "grade", str(sheet / "key.json"), str(roster),
                         "--format", "json")
    assert code in (0, 1), err
    students = [row["student"] for row in json.loads(out)["students"]]
    assert sorted(students) == ["Ada\nLovelace", "Bob"]


@pytest.mark.parametrize("text", ["1_0,0", "٣,0", "inf,0", "nan,0", "0x1,0", "1e400,0"])
def test_input_numbers_must_be_plain_ascii_decimals(capsys, text, tmp_path):
    model = tmp_path / "m.npz"
    save_model(model, cr.nn.MLP([2, 2, 1], "sigmoid", seed=0), extra={"loss": "mse"})
    code, _, err = run(capsys, "explain", "--model", str(model), "--input", text,
                       "--target", "0.5")
    assert_one_line_error(code, err, "--input", "number 1")


def test_a_wrong_length_model_input_is_one_line(capsys, tmp_path):
    model = tmp_path / "m.npz"
    save_model(model, cr.nn.MLP([2, 2, 1], "sigmoid", seed=0), extra={"loss": "mse"})
    code, _, err = run(capsys, "explain", "--model", str(model), "--input", "1,2,3",
                       "--target", "0.5")
    assert_one_line_error(code, err, "--input: expected 2 numbers", "got 3")
    code, _, err = run(capsys, "explain", "--model", str(model), "--input", "1,2",
                       "--target", "0.5,0.2")
    assert_one_line_error(code, err, "--target: expected 1 numbers", "got 2")


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e9"])
def test_timeout_must_be_a_sane_number_of_seconds(capsys, tmp_path, value):
    impl = tmp_path / "impl.py"
    impl.write_text("def step(params, x, t, lr):\n    return {}\n")
    code, _, err = run(capsys, "verify", "seed", "--impl", f"{impl}:step", "--timeout", value)
    assert_one_line_error(code, err, "--timeout")


def test_an_unexpected_exception_is_one_line_not_a_traceback(tmp_path):
    """The last line of defence: a bug still prints one line (and exit code 70, not 2)."""
    code = ("import sys, chainrule.cli.main as c\n"
            "c._explain = lambda args: {}['boom']\n"
            "sys.exit(c.main(['explain']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={k: v for k, v in os.environ.items()
                                             if k != "CHAINRULE_TRACEBACK"})
    assert result.returncode == 70
    assert result.stderr.count("\n") == 1 and "internal error: KeyError" in result.stderr
    assert "Traceback" not in result.stderr


def test_plain_number():
    assert inputs.plain_number(" -1.5e-3 ") == -1.5e-3
    assert inputs.plain_number(".5") == 0.5
    for text in ("1_0", "٣", "inf", "nan", "0x10", "1e", "--1", ""):
        assert inputs.plain_number(text) is None, text


def test_a_notebook_submission_is_read_never_run(tmp_path, capsys):
    """A student's notebook is text to read: code in it (here, writing a file) never runs."""
    sheet = tmp_path / "sheet"
    assert run(capsys, "exercise", "new", "--seed", "1", "--out", str(sheet))[0] == 0
    key = json.loads((sheet / "key.json").read_text())
    first = key["exercises"][0]["questions"][0]
    witness = tmp_path / "ran.txt"
    source = [f"open({str(witness)!r}, 'w').write('ran')\n",
              f"answers[{first['label']!r}] = {first['answer']}\n"]
    notebook = tmp_path / "ada.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": source}],
                                    "nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    code, out, err = run(capsys, "exercise", "grade", str(sheet / "key.json"), str(notebook),
                         "--format", "json")
    assert code in (0, 1), err
    assert not witness.exists()
    (student,) = json.loads(out)["students"]
    assert student["student"] == "ada" and student["counts"]["correct"] == 1


def test_control_characters_never_reach_the_terminal(tmp_path, capsys):
    path = tmp_path / "esc.json"
    path.write_text(json.dumps({**SEED, "name": "net\x1b[2J"}))
    assert_one_line_error(*run(capsys, "explain", str(path))[::2], "name: control character")
    sheet = tmp_path / "sheet"
    assert run(capsys, "exercise", "new", "--seed", "1", "--out", str(sheet))[0] == 0
    roster = tmp_path / "class.csv"
    roster.write_text('student,1a\n"Eve\x1b[2J\x07",0.1\nBob,0.2\n')
    code, out, err = run(capsys, "exercise", "grade", str(sheet / "key.json"), str(roster))
    assert code in (0, 1), err
    assert "\x1b" not in out and "\x07" not in out and "Eve\\x1b[2J\\x07" in out


@pytest.mark.parametrize("value", [["0.1", []], [["0.1"], "0.2"], [["0.1", "0.2"], ["0.3"]]])
def test_ragged_answers_are_one_line(tmp_path, capsys, value):
    """Found by the fuzzer: a number beside an empty list passed the ragged check."""
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"updated": {"b1": value}}))
    code, _, err = run(capsys, "verify", "seed", "--answers", str(path))
    assert_one_line_error(code, err, "updated.b1", "rows of different lengths")


@pytest.mark.parametrize("loss", [["mse"], "nonsense", 3])
def test_a_checkpoints_unknown_loss_is_one_line(capsys, tmp_path, loss):
    """Found by the fuzzer: a list as the saved loss reached the loss table unchecked."""
    model = tmp_path / "m.npz"
    save_model(model, cr.nn.MLP([2, 2, 1], "sigmoid", seed=0), extra={"loss": loss})
    code, _, err = run(capsys, "explain", "--model", str(model), "--input", "1,2",
                       "--target", "0.5")
    assert_one_line_error(code, err, "extra.loss: expected one of")
