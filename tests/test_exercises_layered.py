"""Exercise levels conv, pool, batchnorm and cnn: networks of typed layers worked by hand,
with keys whose every answer PyTorch's torch.nn layers give too, worksheets in every format,
and grading that names the layer mistake behind wrong answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chainrule.cli.main import main
from chainrule.exercises.generate import generate
from chainrule.exercises.grade import Grader
from chainrule.exercises.layered import LAYERED_LEVELS, truth
from chainrule.exercises.levels import split_key
from chainrule.exercises.model import ExerciseError
from chainrule.spec.network import parse_spec
from chainrule.verify.layer_mistakes import candidates
from chainrule.verify.layered import EngineStep
from tests.test_latex import compile_latex, needs_pdflatex

LEVELS = list(LAYERED_LEVELS)
COUNTS = {"conv": 30, "pool": 20, "batchnorm": 20, "cnn": 31, "rnn": 15, "lstm": 19,
          "attention": 37, "layernorm": 18, "embedding": 15}


@pytest.mark.parametrize("level", LEVELS)
def test_a_set_is_drawn_the_same_for_a_seed(level):
    first, again = generate(level, count=3, seed=4), generate(level, count=3, seed=4)
    assert first.to_json() == again.to_json()
    assert [len(e.questions) for e in first.exercises] == [COUNTS[level]] * 3
    assert generate(level, count=1, seed=5).to_json() != generate(level, count=1,
                                                                  seed=4).to_json()


@pytest.mark.parametrize("level", LEVELS)
def test_every_answer_is_what_pytorch_computes_too(level):
    """The key's numbers are the engine's; PyTorch's torch.nn layers, given the same numbers,
    agree to 1e-10 (no chainrule rule runs on that side). A layer's own steps, which
    torch.nn keeps hidden (∂E/∂h_t, the attention weights), are held to the NumPy reference."""
    pytest.importorskip("torch")
    from chainrule.verify.reference_layers import layered_step
    from chainrule.verify.torch_layers import torch_layered_step

    for exercise in generate(level, count=2, seed=1).exercises:
        spec = parse_spec(exercise.spec)
        step = EngineStep(spec)
        theirs, _ = torch_layered_step(spec, step.before, step.buffers, step.masks)
        reference = layered_step(spec, step.before, step.buffers, step.masks)
        for q in exercise.questions:
            name, index = split_key(q.quantity)
            source = reference if name.startswith("inside.") else theirs
            assert q.answer == pytest.approx(float(np.asarray(source[name])[index]),
                                             rel=1e-10, abs=1e-12), q.id


def _answers(problem_set, mistake=None, precision=4):
    """Each answer as a student making ``mistake`` (or none) writes it, rounded."""
    out = {}
    for exercise in problem_set.exercises:
        values = truth(exercise.spec).variants[mistake][1] if mistake else \
            truth(exercise.spec).values
        for q in exercise.questions:
            name, index = split_key(q.quantity)
            out[q.label] = f"{float(np.asarray(values[name])[index]):.{precision}f}"
    return out


@pytest.mark.parametrize("level", LEVELS)
def test_right_answers_earn_every_point(level):
    problem_set = generate(level, count=2, seed=2)
    grade = Grader(problem_set).grade(_answers(problem_set))
    assert grade.points == grade.max_points and grade.count("correct") == grade.max_points


MISTAKES = [(level, m.id) for level in LEVELS
            for m in candidates(parse_spec(generate(level, count=1, seed=0).exercises[0].spec))
            if (level, m.id) not in {("conv", "conv_padding_forgotten"),  # no padding here
                                     ("cnn", "conv_padding_forgotten"),
                                     ("pool", "max_pool_gradient_to_every_tie"),  # no ties
                                     ("cnn", "max_pool_gradient_to_every_tie"),
                                     ("cnn", "conv_kernel_not_flipped"),  # no ∂E/∂x asked
                                     # no truncation asked: none to exceed
                                     ("rnn", "bptt_truncated_too_long"),
                                     ("lstm", "bptt_truncated_too_long"),
                                     # two steps: one short of them is the recurrent path
                                     # forgotten, named as that
                                     ("lstm", "bptt_truncated_too_short")}]


def test_the_levels_can_show_the_mistakes_of_their_layers():
    assert MISTAKES == [
        ("conv", "conv_kernel_not_flipped"), ("conv", "conv_weight_gradient_flipped"),
        ("pool", "max_pool_gradient_spread"), ("batchnorm", "batchnorm_unbiased_variance"),
        ("batchnorm", "batchnorm_backward_without_mean_and_variance"),
        ("cnn", "conv_weight_gradient_flipped"), ("cnn", "max_pool_gradient_spread"),
        ("rnn", "bptt_recurrent_path_forgotten"), ("rnn", "bptt_gradient_averaged_over_steps"),
        ("rnn", "bptt_truncated_too_short"), ("lstm", "bptt_recurrent_path_forgotten"),
        ("lstm", "bptt_gradient_averaged_over_steps"),
        ("lstm", "lstm_forget_gate_gradient_left_out"), ("lstm", "lstm_cell_gradient_not_gated"),
        ("attention", "attention_softmax_elementwise"), ("attention", "attention_scale_forgotten"),
        ("layernorm", "layer_norm_wrong_axis"), ("embedding", "embedding_gradient_overwritten")]


@pytest.mark.parametrize("level, mistake", MISTAKES)
def test_grading_names_the_layer_mistake(level, mistake):
    problem_set = generate(level, count=2, seed=3)
    grade = Grader(problem_set).grade(_answers(problem_set, mistake))
    assert [e.diagnoses for e in grade.exercises] == [(mistake,), (mistake,)]
    wrong = [j for j in grade.judgements if j.status == "incorrect"]
    assert wrong and all(j.mistakes[0] == mistake for j in wrong)


def test_the_options_of_an_mlp_are_refused_in_one_line():
    with pytest.raises(ExerciseError, match=r"^arch: level conv has its own layers, not a "
                                            r"network of your choosing; leave arch out$"):
        generate("conv", arch="2-2-1")
    with pytest.raises(ExerciseError, match="^learning_rate: level cnn"):
        generate("cnn", learning_rate=0.5)


def test_the_worksheet_gives_the_numbers_and_asks_by_row_and_column(tmp_path):
    assert main(["exercise", "new", "--level", "conv", "--count", "1", "-o",
                 str(tmp_path / "conv"), "--key", "worked"]) == 0
    sheet = (tmp_path / "conv" / "worksheet.md").read_text()
    key = json.loads((tmp_path / "conv" / "key.json").read_text())
    spec = key["exercises"][0]["spec"]
    assert spec["layers"][0]["type"] == "Conv2d" and "diagrams" not in sheet
    assert "$$w = \\begin{bmatrix}" in sheet and "cross-correlated" in sheet
    assert "| **1o** | the gradient $\\frac{\\partial E}{\\partial x_{1,1}}$ (row 1, " \
           "column 1) | |" in sheet
    answer_key = (tmp_path / "conv" / "key.md").read_text()
    assert "### Worked solution" in answer_key and "flipped kernel" in answer_key


def test_a_graded_answer_shows_the_lens_derivation(tmp_path, capsys):
    problem_set = generate("conv", count=1, seed=0)
    (tmp_path / "key.json").write_text(problem_set.to_json())
    answers = _answers(problem_set, "conv_kernel_not_flipped")
    (tmp_path / "ann.csv").write_text("student," + ",".join(answers) + "\nann,"
                                      + ",".join(answers.values()) + "\n")
    assert main(["exercise", "grade", str(tmp_path / "key.json"),
                 str(tmp_path / "ann.csv")]) == 0
    out = capsys.readouterr().out
    assert "diagnosis conv_kernel_not_flipped (∂E/∂x with the kernel not flipped)" in out
    assert "The correct working:" in out and "(over the windows that hold x[0,0,0,0])" in out


@needs_pdflatex
@pytest.mark.parametrize("level", LEVELS)
def test_the_latex_worksheet_and_key_compile(tmp_path, level):
    from chainrule.exercises import latex

    problem_set = generate(level, count=2, seed=0)
    for document in (latex.worksheet(problem_set), latex.key(problem_set)):
        log = compile_latex(tmp_path, document)
        assert "Overfull \\hbox" not in log


@pytest.mark.parametrize("level", ["batchnorm", "cnn"])
def test_the_notebook_asks_every_question(tmp_path, level):
    assert main(["exercise", "new", "--level", level, "--count", "1", "-f", "ipynb", "-o",
                 str(tmp_path / level)]) == 0
    notebook = json.loads((tmp_path / level / "worksheet.ipynb").read_text())
    asked = [c for c in notebook["cells"] if c["cell_type"] == "code"
             and "answers[" in "".join(c["source"])]
    assert len(asked) == COUNTS[level]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.sampled_from(LEVELS))
def test_any_seed_draws_a_set(seed, level):
    """Every level finds a network worth asking for any seed, well within the attempts."""
    exercise = generate(level, count=1, seed=seed, precision=4).exercises[0]
    unit = 1e-4
    for q in exercise.questions:
        assert q.answer == 0.0 or abs(q.answer) >= 5 * unit, q.id


def _by_key(exercise):
    return {q.quantity: q.answer for q in exercise.questions}


def test_the_rnn_key_is_backpropagation_through_time_by_hand():
    """Every answer of an rnn exercise, recomputed with scalars and math.tanh as a student
    would: the forward pass, then ∂E/∂h_t from the last step down (its direct part from
    y_t, its recurrent part w·(1 − h_(t+1)²)·∂E/∂h_(t+1)), then the sums over the steps."""
    import math

    for exercise in generate("rnn", count=3, seed=8).exercises:
        spec, got = exercise.spec, _by_key(exercise)
        cell, out = spec["layers"]
        u, w = cell["weight_ih_l0"][0][0], cell["weight_hh_l0"][0][0]
        b, v, c = cell["bias_ih_l0"][0], out["weight"][0][0], out["bias"][0]
        x, d = [row[0] for row in spec["input"]], [row[0] for row in spec["target"]]
        h, prev = [], 0.0
        for x_t in x:
            prev = math.tanh(u * x_t + w * prev + b)
            h.append(prev)
        y = [v * h_t + c for h_t in h]
        loss = sum(0.5 * (y_t - d_t) ** 2 for y_t, d_t in zip(y, d)) / 3
        dy = [(y_t - d_t) / 3 for y_t, d_t in zip(y, d)]
        dh = [0.0] * 3
        for t in (2, 1, 0):
            dh[t] = dy[t] * v + (w * (1 - h[t + 1] ** 2) * dh[t + 1] if t < 2 else 0.0)
        dz = [dh[t] * (1 - h[t] ** 2) for t in range(3)]
        expected = {"loss": loss, "gradients.0.weight_hh_l0[0,0]":
                    sum(dz[t] * (h[t - 1] if t else 0.0) for t in range(3)),
                    "gradients.0.weight_ih_l0[0,0]": sum(dz[t] * x[t] for t in range(3)),
                    "gradients.0.bias_ih_l0[0]": sum(dz),
                    "gradients.1.weight[0,0]": sum(dy[t] * h[t] for t in range(3)),
                    "gradients.1.bias[0]": sum(dy)}
        for t in range(3):
            expected[f"forward.0[0,{t},0]"] = h[t]
            expected[f"forward.1[0,{t},0]"] = y[t]
            expected[f"inside.0.dh[0,{t},0]"] = dh[t]
        assert set(expected) == set(got)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-14), key


def test_the_lstm_key_is_the_gates_by_hand():
    """An lstm exercise's answers with scalars: the gates, the cell, ∂E/∂c_t = ∂E/∂h_t·o·(1 −
    tanh² c_t) + ∂E/∂c_(t+1)·f_(t+1), and each gate's gradient summed over the two steps."""
    import math

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    for exercise in generate("lstm", count=3, seed=8).exercises:
        spec, got = exercise.spec, _by_key(exercise)
        cell, out = spec["layers"]
        wi = [row[0] for row in cell["weight_ih_l0"]]
        wh = [row[0] for row in cell["weight_hh_l0"]]
        b, v, c0 = cell["bias_ih_l0"], out["weight"][0][0], out["bias"][0]
        x, target = [row[0] for row in spec["input"]], spec["target"][0]
        h, c, steps = 0.0, 0.0, []
        for x_t in x:
            z = [wi[k] * x_t + wh[k] * h + b[k] for k in range(4)]
            i, f, g, o = sigmoid(z[0]), sigmoid(z[1]), math.tanh(z[2]), sigmoid(z[3])
            c_prev, h_prev = c, h
            c = f * c + i * g
            h = o * math.tanh(c)
            steps.append((i, f, g, o, c_prev, c, h_prev, x_t))
        y = v * h + c0
        dy = y - target
        dh, dc_next, f_next = dy * v, 0.0, 0.0
        grads = {"ih": [0.0] * 4, "hh": [0.0] * 4, "b": [0.0] * 4}
        dcs = [0.0, 0.0]
        for t in (1, 0):
            i, f, g, o, c_prev, c_t, h_prev, x_t = steps[t]
            dc = dh * o * (1 - math.tanh(c_t) ** 2) + dc_next * f_next
            dcs[t] = dc
            dz = [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                  dh * math.tanh(c_t) * o * (1 - o)]
            for k in range(4):
                grads["ih"][k] += dz[k] * x_t
                grads["hh"][k] += dz[k] * h_prev
                grads["b"][k] += dz[k]
            dh = sum(dz[k] * wh[k] for k in range(4))
            dc_next, f_next = dc, f
        expected = {"forward.0[0,0]": h, "forward.1[0,0]": y, "loss": 0.5 * dy ** 2,
                    "inside.0.c[0,0,0]": steps[0][5], "inside.0.c[0,1,0]": steps[1][5],
                    "inside.0.dc[0,0,0]": dcs[0], "inside.0.dc[0,1,0]": dcs[1]}
        for k in range(4):
            expected[f"gradients.0.weight_ih_l0[{k},0]"] = grads["ih"][k]
            expected[f"gradients.0.weight_hh_l0[{k},0]"] = grads["hh"][k]
            expected[f"gradients.0.bias_ih_l0[{k}]"] = grads["b"][k]
        assert set(expected) == set(got)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-14), key


def test_the_attention_key_is_the_sheets_formulas_by_hand():
    """An attention exercise's answers from the worksheet's own words, in NumPy: Q = x·W_Qᵀ,
    K, V likewise, S = Q·Kᵀ/√2, A = softmax(S) by row, O = A·V, E = ½ Σ (O − T)²; then
    ∂E/∂O = O − T, ∂E/∂V = Aᵀ·∂E/∂O, ∂E/∂A = ∂E/∂O·Vᵀ, ∂E/∂S = A ⊙ (∂E/∂A − rowsum(A ⊙ ∂E/∂A))
    and ∂E/∂x through the three projections."""
    for exercise in generate("attention", count=2, seed=8).exercises:
        spec, got = exercise.spec, _by_key(exercise)
        x = np.array(spec["input"])
        t = np.reshape(spec["target"], (3, 2))
        w = np.array(spec["layers"][0]["in_proj_weight"])
        wq, wk, wv = w[0:2], w[2:4], w[4:6]
        q, k, v = x @ wq.T, x @ wk.T, x @ wv.T
        s = q @ k.T / np.sqrt(2)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        o = a @ v
        do = o - t
        dv, da = a.T @ do, do @ v.T
        ds = a * (da - (a * da).sum(axis=1, keepdims=True))
        dq, dk = ds @ k / np.sqrt(2), ds.T @ q / np.sqrt(2)
        dx = dq @ wq + dk @ wk + dv @ wv
        expected = {"loss": 0.5 * np.sum(do ** 2)}
        for (i, j) in np.ndindex(3, 3):
            expected[f"inside.0.weights[0,0,{i},{j}]"] = a[i, j]
            expected[f"inside.0.dscores[0,0,{i},{j}]"] = ds[i, j]
        for (i, j) in np.ndindex(3, 2):
            expected[f"forward.0[0,{i},{j}]"] = o[i, j]
            expected[f"inside.0.dv[0,0,{i},{j}]"] = dv[i, j]
            expected[f"gradients.input[0,{i},{j}]"] = dx[i, j]
        assert set(expected) == set(got)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-14), key
