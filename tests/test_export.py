"""``chainrule export`` and ``explain --torch``: a network as PyTorch code that runs with
PyTorch alone, as ONNX that onnxruntime runs, and a saved PyTorch model explained; the same
numbers every way (float64 to 1e-12, an ONNX float32 graph to float32's precision)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from chainrule.fileset import write_set  # noqa: E402
from chainrule.interop.export import Exportable, onnx_bytes, torch_files  # noqa: E402
from chainrule.interop.torch_files import torch_step_spec  # noqa: E402
from chainrule.interop.torch_in import torch_names, torch_spec  # noqa: E402
from chainrule.spec.network import parse_spec  # noqa: E402
from chainrule.verify.layered import EngineStep  # noqa: E402
from tests.test_torch_out import NETWORKS, inputs, network  # noqa: E402


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def item(name: str) -> Exportable:
    model = network(name).eval()
    return Exportable(model, name, NETWORKS[name][0],
                      indices=NETWORKS[name][1][0]["type"] == "Embedding")


RUN_EXPORTED = """
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
import exported
model = exported.load().eval()
x = np.load(sys.argv[2])
y = model(torch.as_tensor(x)).detach().numpy()
np.save(sys.argv[3], y)
print(sorted(model.state_dict()) == sorted(exported.build().state_dict()))
"""


@pytest.mark.parametrize("name", NETWORKS)
def test_the_pytorch_code_runs_alone_and_gives_the_same_outputs(tmp_path, name):
    exported = item(name)
    files = torch_files(exported, "exported")
    write_set(tmp_path, files)
    code = files["exported.py"]
    assert "chainrule" not in code.split('"""', 2)[2].replace("# chainrule", "")  # no import
    compile(code, "exported.py", "exec")
    x = inputs(name, np.random.default_rng(4))
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([sys.executable, "-I", "-c", RUN_EXPORTED, str(tmp_path),
                             str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    expected = exported.model(x.astype(float)).data
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-12, atol=1e-14)


def test_the_code_is_clean_python():
    pyflakes = pytest.importorskip("pyflakes.api")
    from pyflakes.reporter import Reporter
    import io

    for name in NETWORKS:
        out = io.StringIO()
        code = torch_files(item(name), "exported")["exported.py"]
        assert pyflakes.check(code, "exported.py", Reporter(out, out)) == 0, out.getvalue()
        assert max(len(line) for line in code.splitlines()) <= 100


@pytest.mark.parametrize("name", NETWORKS)
def test_onnx_is_valid_and_runs_with_the_same_outputs(name):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    exported = item(name)
    data = onnx_bytes(exported)
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "chainrule"
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for batch in (1, 5):  # the batch axis is dynamic
        x = inputs(name, np.random.default_rng(batch), batch)
        feed = x.astype(np.int64) if exported.indices else x.astype(np.float32)
        (y,) = session.run(None, {"input": feed})
        expected = exported.model(x.astype(float)).data
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_export_from_the_command_line(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch_run = cli(tmp_path, "export", "--to", "torch", "-o", "seed_net.py")
    assert torch_run.returncode == 0, torch_run.stderr
    assert "wrote seed (MLP, input (2,)) to seed_net.py and seed_net.safetensors" in \
        torch_run.stderr
    onnx_run = cli(tmp_path, "export", "seed", "--to", "onnx", "--dtype", "float64", "-o",
                   "seed.onnx")
    assert onnx_run.returncode == 0, onnx_run.stderr
    session = ort.InferenceSession(str(tmp_path / "seed.onnx"),
                                   providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"input": np.array([[0.5, 0.3]])})
    # the seed's forward pass, as `chainrule explain` works it: a² = σ(0.7507…)
    explained = json.loads(cli(tmp_path, "explain", "--format", "json").stdout)
    output = [v for k, v in explained["forward"].items() if k == "a2"][0]
    np.testing.assert_allclose(y.ravel(), np.ravel(output), rtol=1e-12)


@pytest.mark.parametrize("args, message", [
    (("--to", "torch", "-o", "my-model.py"), "-o: expected a Python module's file name"),
    (("--to", "onnx", "-o", "model.py"), "-o: expected a file name ending in .onnx"),
    (("--to", "torch", "--dtype", "float32", "-o", "m.py"), "--dtype: for --to onnx"),
    (("nothere.yaml", "--to", "torch", "-o", "m.py"), "nothere.yaml"),
])
def test_bad_export_options_are_one_line(tmp_path, args, message):
    result = cli(tmp_path, "export", *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_trained_model_continues_training_in_pytorch(tmp_path):
    """chainrule train → export → PyTorch: the first batch's loss and gradients are
    chainrule's, and training on goes on lowering the loss."""
    trained = cli(tmp_path, "train", "--data", "iris", "--arch", "4-6-3", "--optimizer",
                  "sgd", "--lr", "0.05", "--epochs", "5", "--quiet", "--save", "iris.npz")
    assert trained.returncode == 0, trained.stderr
    exported = cli(tmp_path, "export", "iris.npz", "--to", "torch", "-o", "iris_net.py")
    assert exported.returncode == 0, exported.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        import iris_net
    finally:
        sys.path.remove(str(tmp_path))
    from chainrule.train.checkpoint import load_model, standardized_input
    from chainrule.train.datasets.shipped import iris

    data = iris()
    ours, state = load_model(tmp_path / "iris.npz")
    x = np.stack([standardized_input(state, row) for row in data.x])
    y = np.asarray(data.y, dtype=int)
    model = iris_net.load()
    logits = model[:-1]  # the Softmax dropped: CrossEntropyLoss takes logits
    xt = iris_net.standardize(torch.as_tensor(data.x))
    np.testing.assert_allclose(xt.numpy(), x, rtol=1e-13, atol=1e-13)
    loss = torch.nn.functional.cross_entropy(logits(xt), torch.as_tensor(y))
    loss.backward()
    from chainrule.nn.losses import output_loss

    z, a, activation = ours.head(x)
    ours_loss = output_loss("cross_entropy", z, a, activation, np.eye(3)[y])
    ours_loss.backward()
    assert abs(float(ours_loss.data) - loss.item()) < 1e-12
    np.testing.assert_allclose(model[0].weight.grad.numpy().T, ours.layers[0].weight.grad,
                               rtol=1e-10, atol=1e-13)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    first = loss.item()
    for _ in range(200):
        optimizer.zero_grad()
        step = torch.nn.functional.cross_entropy(logits(xt), torch.as_tensor(y))
        step.backward()
        optimizer.step()
    assert step.item() < 0.6 * first


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.tanh(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


ARCH = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.tanh(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


def build():
    return Net()
'''


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(3)
    model = _Net().double()
    torch.save(model.state_dict(), tmp_path / "net.pt")
    (tmp_path / "arch.py").write_text(ARCH)
    return tmp_path, model


def test_a_saved_model_is_explained_with_pytorchs_gradients(saved):
    folder, model = saved
    x = np.random.default_rng(0).normal(size=16)
    spec = torch_step_spec(str(folder / "net.pt"), f"{folder / 'arch.py'}:build",
                           input_shape=(1, 4, 4), input=x.tolist(), target=2)
    assert spec["loss"] == "cross_entropy"
    step = EngineStep(parse_spec(spec))
    xt = torch.as_tensor(x.reshape(1, 1, 4, 4))
    loss = torch.nn.functional.cross_entropy(model(xt), torch.tensor([2]))
    loss.backward()
    assert abs(float(step.values["loss"]) - loss.item()) < 1e-12
    np.testing.assert_allclose(step.values["gradients.0.weight"],
                               model.conv.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(step.values["gradients.4.weight"],
                               model.fc.weight.grad.numpy().T, rtol=1e-10, atol=1e-13)
    # the command line, with a spec of the same layers as the architecture instead
    arch = torch_spec(_Net(), (1, 4, 4))
    for layer in arch["layers"]:
        for key in ("weight", "bias"):
            layer.pop(key, None)
    (folder / "arch.json").write_text(json.dumps(arch))
    names = torch_names(_Net(), (1, 4, 4))  # a Sequential's names: by position
    torch.save({ours: model.state_dict()[theirs] for ours, theirs in names.items()},
               folder / "positional.pt")
    text = ",".join(repr(float(v)) for v in x)
    for given in (f"{folder / 'arch.py'}:build", str(folder / "arch.json")):
        extra = ("--input-shape", "1,4,4") if given.endswith(":build") else ()
        weights = "net.pt" if extra else "positional.pt"
        result = cli(folder, "explain", "--torch", weights, "--arch", given, *extra,
                     "--input", text, "--target", "2")
        assert result.returncode == 0, result.stderr
        assert f"E = {loss.item():.4g}" in result.stdout
        named = "its layers as the module names them: 0 is conv, 4 is fc." in result.stdout
        assert named == bool(extra)  # a traced module's names; a spec's are by position


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


@pytest.mark.parametrize("weights, message", [
    ("evil.pt", "not a state_dict PyTorch can load with weights_only=True"),
    ("net.pt2", "not a torch.export archive"),
    ("wrong.pt", "0.weight... no"),
    ("shape.pt", "conv.weight: the architecture has shape (2, 1, 3, 3), the weights (2, 1, 2, 2)"),
    ("nan.pt", "conv.bias holds NaN or infinity"),
    ("missing.pt", "no such file"),
])
def test_bad_weights_are_one_line(saved, weights, message):
    folder, model = saved
    state = model.state_dict()
    (folder / "evil.pt").write_bytes(pickle.dumps({"conv.weight": _Evil()}))
    (folder / "net.pt2").write_bytes(b"PK")
    torch.save({"0.weight": state["conv.weight"]}, folder / "wrong.pt")
    torch.save({**state, "conv.weight": torch.zeros(2, 1, 2, 2)}, folder / "shape.pt")
    torch.save({**state, "conv.bias": torch.tensor([0.0, float("nan")])}, folder / "nan.pt")
    result = cli(folder, "explain", "--torch", weights, "--arch", "arch.py:build",
                 "--input-shape", "1,4,4", "--input", ",".join(["0.1"] * 16), "--target", "1")
    assert result.returncode == 2, result.stderr
    if weights == "wrong.pt":
        assert "the weights do not fit the architecture: no conv.weight" in result.stderr
        assert "0.weight not in the architecture" in result.stderr
    else:
        assert message in result.stderr, result.stderr
    assert "unpickled!" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_trained_models_onnx_takes_the_features_as_they_are(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    trained = cli(tmp_path, "train", "--data", "iris", "--arch", "4-5-3", "--epochs", "3",
                  "--quiet", "--save", "iris.npz")
    assert trained.returncode == 0, trained.stderr
    result = cli(tmp_path, "export", "iris.npz", "--to", "onnx", "--dtype", "float64", "-o",
                 "iris.onnx")
    assert result.returncode == 0, result.stderr
    from chainrule.train.checkpoint import load_model, standardized_input
    from chainrule.train.datasets.shipped import iris

    ours, state = load_model(tmp_path / "iris.npz")
    raw = np.asarray(iris().x[:7], dtype=float)
    expected = ours(np.stack([standardized_input(state, row) for row in raw])).data
    session = ort.InferenceSession(str(tmp_path / "iris.onnx"),
                                   providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"input": raw})
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)


def test_a_value_with_a_minus_sign_is_a_value(tmp_path):
    """``--input -0.5,1`` is the input, not an option (argparse's rule for "-0.5,1")."""
    result = cli(tmp_path, "explain", "--expr", "f = x * y", "--at", "-2.5,y=3")
    assert result.returncode == 2 and "--at" in result.stderr  # read as the value
    good = cli(tmp_path, "explain", "--expr", "f = x * y", "--at", "x=-2.5,y=3")
    assert good.returncode == 0, good.stderr
    from chainrule.cli.main import _join_signed

    assert _join_signed(["explain", "--input", "-0.5,1", "--target", "-.2", "-o", "-x"]) == \
        ["explain", "--input=-0.5,1", "--target=-.2", "-o", "-x"]


def test_a_torch_export_archive_gives_its_weights_without_unpickling(saved, monkeypatch):
    folder, model = saved
    bn = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)).double().eval()
    bn[1].running_mean.uniform_(-1, 1)
    program = torch.export.export(bn, (torch.zeros(2, 3, dtype=torch.float64),))
    torch.export.save(program, folder / "bn.pt2")
    from chainrule.interop.torch_files import load_state

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled")

    with monkeypatch.context() as patched:  # nothing of the archive goes through pickle
        patched.setattr(pickle, "load", refuse)
        patched.setattr(pickle, "loads", refuse)
        patched.setattr(torch, "load", refuse)
        state = load_state(folder / "bn.pt2")
    assert sorted(state) == sorted(bn.state_dict())
    for key, value in bn.state_dict().items():
        assert torch.equal(state[key], value), key
    # the same weights explained with the architecture as a spec
    arch = torch_spec(bn, (3,))
    for layer in arch["layers"]:
        for key in ("weight", "bias", "running_mean", "running_var"):
            layer.pop(key, None)
    (folder / "bn.json").write_text(json.dumps(arch))
    result = cli(folder, "explain", "--torch", "bn.pt2", "--arch", "bn.json", "--input",
                 "0.5,-1,2,1,0,-0.5", "--target", "0.1,0.2,0.3,0.4", "--format", "json")
    assert result.returncode == 0, result.stderr


def test_a_hostile_torch_export_archive_is_one_line(tmp_path):
    import zipfile

    from chainrule.errors import ChainruleError
    from chainrule.interop.torch_files import load_state

    def archive(name: str, entry: dict, data: bytes = b"\0" * 8) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("m/data/weights/model_weights_config.json",
                       json.dumps({"config": {"w": entry}}))
            z.writestr("m/data/weights/weight_0", data)
            z.writestr("m/byteorder", "little")
        return path

    meta = {"dtype": 8, "sizes": [{"as_int": 1}], "strides": [{"as_int": 1}],
            "storage_offset": {"as_int": 0}, "layout": 7}
    plain = {"path_name": "weight_0", "use_pickle": False, "tensor_meta": meta}
    assert float(load_state(archive("ok.pt2", plain))["w"]) == 0.0
    for name, entry, message in [
        ("pickled.pt2", {**plain, "use_pickle": True}, "stored pickled; chainrule never"),
        ("far.pt2", {**plain, "tensor_meta": {**meta, "sizes": [{"as_int": 10**6}]}},
         "reaches past its 8 bytes"),
        ("offset.pt2", {**plain, "tensor_meta": {**meta, "sizes": [],
                                                 "strides": [], "storage_offset":
                                                     {"as_int": 5}}}, "reaches past"),
        ("complex.pt2", {**plain, "tensor_meta": {**meta, "dtype": 10}}, "not plain"),
        ("odd.pt2", {"path_name": "weight_0"}, "an index entry not as torch.export writes"),
    ]:
        with pytest.raises(ChainruleError, match=message):
            load_state(archive(name, entry))
    (tmp_path / "zip.pt2").write_bytes(b"not a zip")
    with pytest.raises(ChainruleError, match="not a torch.export archive"):
        load_state(tmp_path / "zip.pt2")
