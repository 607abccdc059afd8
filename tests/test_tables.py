"""The activation and loss tables: each entry checked against the engine, and every reader
checked to use the tables' names rather than copies (STYLE.md, "One table per fact")."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.tables.activations import ACTIVATION_TABLE, LEAKY_RELU_SLOPE, derivative_value
from chainrule.tables.losses import FROM_LOGITS, LOSS_TABLE, REDUCTIONS
from chainrule.nn.activations import ACTIVATIONS
from chainrule.nn.losses import _FROM_LOGITS_FUNCTIONS, LOSSES, output_loss
from chainrule.autodiff.ops import PRIMITIVES

SRC = Path(cr.__file__).parent
STEP = 1e-6


def _forward(name: str, z: np.ndarray) -> np.ndarray:
    return ACTIVATIONS[name](cr.Tensor(z)).data


def _random_z(rng: np.random.Generator, size: int = 5) -> np.ndarray:
    z = rng.uniform(-3.0, 3.0, size)
    return np.where(np.abs(z) < 0.05, 0.5, z)  # away from relu's kink, where no slope exists


@pytest.mark.parametrize("name", list(ACTIVATION_TABLE))
def test_activation_derivative_matches_central_differences(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    z = _random_z(rng)
    a = _forward(name, z)
    numeric = np.empty((z.size, z.size))
    for j in range(z.size):  # column j: ∂a/∂zⱼ
        step = np.zeros_like(z)
        step[j] = STEP
        numeric[:, j] = (_forward(name, z + step) - _forward(name, z - step)) / (2 * STEP)
    entry = ACTIVATION_TABLE[name]
    np.testing.assert_allclose(derivative_value(name, z, a), np.diag(numeric), atol=1e-8)
    if entry.elementwise:
        np.testing.assert_allclose(numeric - np.diag(np.diag(numeric)), 0.0, atol=1e-8)
    else:  # off the diagonal: the cross term ∂aₘ/∂zⱼ = −aₘaⱼ that local.softmax_factor uses
        from chainrule.explain.lens.local import softmax_factor
        for m in range(z.size):
            for j in range(z.size):
                if m != j:
                    factor = softmax_factor(1, m, j, a, None)
                    assert factor.value == pytest.approx(numeric[m, j], abs=1e-8)


@pytest.mark.parametrize("name", [n for n, e in ACTIVATION_TABLE.items() if e.elementwise
                                  and e.primitive is not None])
def test_activation_derivative_matches_its_primitive_rule(name):
    entry = ACTIVATION_TABLE[name]
    z = _random_z(np.random.default_rng(3))
    primitive = PRIMITIVES[entry.primitive]
    out = primitive.forward(z, **entry.params)
    rule = primitive.vjps[0](np.ones_like(z), out, z, **entry.params)
    np.testing.assert_allclose(derivative_value(name, z, out), rule, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATION_TABLE))
def test_activation_formulas_are_complete(name):
    entry = ACTIVATION_TABLE[name]
    assert entry.name == name and entry.symbol and entry.symbol_latex and entry.short
    symbols = {"a": "A", "z": "Z", "am": "M", "aj": "J"}
    for template in (entry.definition, entry.definition_latex, entry.derivative_text,
                     entry.derivative_latex, entry.cross_text or "", entry.cross_latex or ""):
        filled = entry.text(template, **symbols)
        assert "$" not in filled
    assert entry.text(entry.definition) and entry.text(entry.derivative_text, **symbols)
    assert (entry.cross_text is None) == entry.elementwise
    assert entry.derivative_of in ("a", "z", None)
    assert entry.primitive is None or entry.primitive in PRIMITIVES


def _loss_of_output(name: str, a: np.ndarray, t: np.ndarray) -> float:
    return float(LOSSES[name](cr.Tensor(a), t, reduction="sum").item())


def _loss_example(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    units = 4
    target = LOSS_TABLE[name].target
    if target == "classes":
        return rng.normal(size=units), np.eye(units)[rng.integers(units)]
    a = rng.uniform(0.1, 0.9, units)
    return a, (rng.uniform(0.0, 1.0, units) if target == "probabilities" else rng.normal(
        size=units))


@pytest.mark.parametrize("name", list(LOSS_TABLE))
def test_loss_gradient_matches_central_differences(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    x, t = _loss_example(name, rng)
    numeric = np.empty_like(x)
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = STEP
        numeric[k] = (_loss_of_output(name, x + step, t)
                      - _loss_of_output(name, x - step, t)) / (2 * STEP)
    entry = LOSS_TABLE[name]
    if entry.target == "classes":
        # The table's ∂E/∂a is in the softmax's probabilities a; the engine's loss takes the
        # logits x, so compare through the softmax's Jacobian: ∂E/∂x = Jᵀ ∂E/∂a.
        a = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
        jacobian = np.diag(a) - np.outer(a, a)
        analytic = jacobian.T @ entry.gradient(a, t)
        # after any other activation, the output x itself is the logits
        np.testing.assert_allclose(entry.logits_gradient(x, t), numeric, rtol=1e-6, atol=1e-8)
    else:
        analytic = entry.gradient(x, t)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(LOSS_TABLE))
def test_loss_formulas_are_complete(name):
    entry = LOSS_TABLE[name]
    assert entry.target in ("values", "classes", "probabilities")
    for template in (entry.gradient_text, entry.gradient_latex):
        assert "$" not in entry.text(template, a="A", t="T", K=3)
    assert (entry.logits_gradient is None) == (entry.logits_gradient_text is None)
    for template in (entry.logits_gradient_text or "", entry.logits_gradient_latex or ""):
        assert "$" not in entry.text(template, t="T", layer=2, k=1)
    for template in (entry.plugged_text, entry.plugged_latex):
        assert "$" not in entry.text(template, squares="S", logs="L", nll="N", K=3)
    assert entry.definition.startswith("E = ") and entry.definition_latex.startswith("E = ")
    for activation in entry.from_logits:
        assert activation in ACTIVATION_TABLE


@pytest.mark.parametrize(("loss", "activation"), sorted(FROM_LOGITS))
def test_from_logits_pairs_equal_the_loss_of_the_output(loss, activation):
    """Each pair's from-logits form has a function, and gives the loss of the output a."""
    assert LOSS_TABLE[loss].from_logits[activation] in _FROM_LOGITS_FUNCTIONS
    rng = np.random.default_rng(5)
    z = cr.Tensor(rng.normal(size=(3, 4)))
    a = ACTIVATIONS[activation](z)
    t = rng.uniform(0.0, 1.0, (3, 4)) if LOSS_TABLE[loss].target == "probabilities" else \
        np.eye(4)[[0, 2, 3]]
    from_z = output_loss(loss, z, a, activation, t).item()
    textbook = -(t * np.log(a.data)).sum(axis=-1).mean() if loss == "cross_entropy" else \
        LOSSES[loss](a, t).item()
    assert from_z == pytest.approx(textbook, rel=1e-12)


def test_the_engine_and_nn_are_built_from_the_tables():
    assert list(ACTIVATIONS) == list(ACTIVATION_TABLE)
    assert list(LOSSES) == list(LOSS_TABLE)
    assert REDUCTIONS == ("mean", "sum", "none")
    z = cr.Tensor(np.array([-2.0, 3.0]))
    assert z.leaky_relu().data[0] == LEAKY_RELU_SLOPE * -2.0
    assert PRIMITIVES["leaky_relu"].forward(np.array([-2.0])) == LEAKY_RELU_SLOPE * -2.0


def test_spec_and_cli_take_the_tables_names():
    from chainrule.cli.train import HIDDEN_ACTIVATIONS
    from chainrule.spec.network import parse_spec

    assert set(HIDDEN_ACTIVATIONS) == {n for n, e in ACTIVATION_TABLE.items() if e.elementwise}
    for name in ACTIVATION_TABLE:
        loss = "cross_entropy" if name == "softmax" else "half_sse"
        spec = parse_spec({"layers": [2, 2], "activations": name, "loss": loss,
                           "input": [0.1, 0.2], "target": [1, 0], "learning_rate": 0.1})
        assert spec.activations == (name,)


def test_the_schema_enums_are_the_tables_names():
    schema = json.loads((SRC / "schemas" / "trace-1.schema.json").read_text("utf-8"))
    network = schema["$defs"]["network"]["properties"]
    assert network["activations"]["items"]["enum"] == list(ACTIVATION_TABLE)
    assert network["loss"]["enum"] == list(LOSS_TABLE)


def test_the_independent_reference_computes_the_same_names():
    from chainrule.verify import reference

    assert reference.ACTIVATION_NAMES == tuple(ACTIVATION_TABLE)
    assert reference.LOSS_NAMES == tuple(LOSS_TABLE)
    z = _random_z(np.random.default_rng(1))
    for name in ACTIVATION_TABLE:  # its own formulas, the same numbers
        np.testing.assert_allclose(reference.activate(name, z), _forward(name, z), rtol=1e-12)


def test_symbolic_has_a_closed_form_for_every_name():
    sympy = pytest.importorskip("sympy")
    from chainrule.verify.symbolic import _activate, _exact_slope

    slope = _exact_slope(sympy)  # the decimal as written, exactly: a short fraction
    assert isinstance(slope, sympy.Rational) and float(slope) == LEAKY_RELU_SLOPE
    assert slope.q <= 10 ** 6
    z = list(sympy.symbols("z0 z1"))
    for name in ACTIVATION_TABLE:
        assert len(_activate(sympy, name, z)) == 2


def test_the_page_reads_the_activations_as_data():
    from chainrule.tables.activations import page_facts

    page = cr.render(cr.explain("seed"), "html")
    match = re.search(r'data-activations="([^"]*)"', page)
    assert match
    import html
    assert json.loads(html.unescape(match.group(1))) == page_facts()
    assets = resources.files("chainrule.explain.render") / "assets"
    scripts = " ".join((assets / n).read_text("utf-8") for n in ("steps.js", "diagram.js",
                                                                  "narrate.js"))
    for entry in ACTIVATION_TABLE.values():  # no definition copied into the scripts
        assert entry.text(entry.definition) not in scripts
    assert "lrelu" not in scripts and "smax" not in scripts


def test_leaky_relus_slope_is_written_once():
    """No second copy of 0.01 beside a leaky relu or a slope anywhere in the package."""
    copies = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".js", ".json") or path == SRC / "tables" / "activations.py":
            continue
        lines = path.read_text("utf-8").splitlines()
        for i, line in enumerate(lines):
            if re.search(r"(?<![\d.])0?\.01(?!\d)|1\s*/\s*100|Rational\(1,\s*100\)", line):
                near = " ".join(lines[max(0, i - 3):i + 4]).lower()
                if "leaky" in near or "slope" in near:
                    copies.append(f"{path.relative_to(SRC)}:{i + 1}: {line.strip()}")
    assert not copies, "\n".join(copies)
