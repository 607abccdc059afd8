"""Symbolic gradients: the loss as one closed-form sympy expression, differentiated exactly.

An independent way to the gradients: the whole network written as a formula in one symbol per
parameter element, ``w1_11`` (LaTeX ``w^{1}_{11}``; layers and units from 1, as textbooks
write them), differentiated by sympy and evaluated at the spec's parameter values. The
formulas follow chainrule's definitions (z = a·W + b, :mod:`chainrule.nn.activations`,
:mod:`chainrule.nn.losses`, the mean over a batch). They grow fast with the network, so the
size is capped at ``MAX_PARAMETERS`` parameter elements and ``MAX_EXAMPLES`` examples.

sympy is an optional extra (``pip install 'chainrule[symbolic]'``), imported only when used.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.tables.activations import LEAKY_RELU_SLOPE
from chainrule.errors import ChainruleError, MissingDependency
from chainrule.explain.notation import element_key, parameter_symbol
from chainrule.spec.network import Spec, load_spec, parse_spec

MAX_PARAMETERS = 40  # parameter elements: beyond, the formulas are too long to read or print
MAX_EXAMPLES = 4  # each example adds a full copy of the network to the loss expression
# Significant digits for evaluating the formulas (the engine has ~16): enough that 1 − σ(z)
# keeps its digits up to |z| ≈ 100, where the engine itself works from logits.
PRECISION = 50
# Where a unit saturates (|z| of 1e4: 1 − σ(z) ≈ e^−10000), the formula needs about |z|/ln 10
# digits not to divide by 0: it is evaluated again with more digits, up to the last of these.
PRECISIONS = (PRECISION, 1_000, 10_000)

INSTALL_HINT = "sympy is not installed: pip install 'chainrule[symbolic]'"


@dataclass
class SymbolicGradient:
    """∂E/∂θ for one parameter element θ: its formula and its value at the spec's parameters."""

    key: str  # "W1[0,1]": the NumPy index, as the trace's chain keys
    parameter: str  # "W1"
    index: tuple[int, ...]  # (0, 1)
    symbol_text: str  # "w1_12"
    symbol_latex: str  # "w^{1}_{12}"
    text: str  # the derivative, sympy's plain-text form
    latex: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "parameter": self.parameter, "index": list(self.index),
                "symbol_text": self.symbol_text, "symbol_latex": self.symbol_latex,
                "text": self.text, "latex": self.latex, "value": _json_number(self.value)}


@dataclass
class SymbolicResult:
    """The loss as a formula of the parameters, its value, and every derivative."""

    loss_text: str
    loss_latex: str
    loss_value: float
    gradients: dict[str, SymbolicGradient] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (strings, floats and lists; no sympy objects)."""
        return {"loss_text": self.loss_text, "loss_latex": self.loss_latex,
                "loss_value": _json_number(self.loss_value),
                "gradients": {key: g.to_dict() for key, g in self.gradients.items()}}


def _json_number(value: float) -> float | None:
    """JSON has no NaN or Infinity: a non-finite value is written as null, as in the trace."""
    return value if math.isfinite(value) else None


def symbolic_gradients(source: Spec | str | Path | dict | None = None) -> SymbolicResult:
    """Derive every gradient of ``source`` (a spec, built-in name, spec file or dict) with sympy.

    Raises :class:`MissingDependency` without sympy, :class:`ChainruleError` beyond the size
    limits ``MAX_PARAMETERS`` and ``MAX_EXAMPLES``.
    """
    sympy, elements, latex_names, loss, derivatives, (loss_value, *values) = _derive(source)
    gradients = {
        key: SymbolicGradient(
            key=key, parameter=name, index=tuple(int(i) for i in index),
            symbol_text=symbol.name, symbol_latex=latex_names[symbol],
            text=_text(sympy, derivative), latex=_latex(sympy, derivative, latex_names),
            value=value)
        for (key, name, index, symbol, _), derivative, value in zip(elements, derivatives, values)
    }
    return SymbolicResult(loss_text=_text(sympy, loss), loss_value=loss_value,
                          loss_latex=_latex(sympy, loss, latex_names), gradients=gradients)


def symbolic_values(source: Spec | str | Path | dict | None = None) -> dict[str, float]:
    """Every gradient's value, by element key (``"W1[0,1]"``), as :func:`symbolic_gradients`
    computes it, without writing the formulas out: printing them is most of the time that
    takes, and ``chainrule verify`` compares numbers only."""
    _, elements, _, _, _, (_, *values) = _derive(source)
    return {key: value for (key, *_), value in zip(elements, values)}


def _derive(source: Spec | str | Path | dict | None) -> tuple:
    """(sympy, elements, LaTeX names, loss, derivatives, [loss value, *gradient values]);
    an element is (key, parameter name, index, Symbol, value), in named_parameters order."""
    sympy = _import_sympy()
    spec = source if isinstance(source, Spec) else (
        parse_spec(source) if isinstance(source, dict) else load_spec(source))
    # The model gives the parameter values, also when the spec leaves them to its init.
    params = [(name, p.data) for name, p in spec.build_model().named_parameters()]
    inputs = spec.inputs if spec.batched else spec.inputs[None, :]
    targets = spec.targets if spec.batched else spec.targets[None, ...]
    _check_size(spec, params, len(inputs))

    shared = spec.bias == "shared_per_layer"
    matrices: dict[str, np.ndarray] = {}  # parameter name → array of Symbols, same shape
    latex_names: dict[Any, str] = {}  # Symbol → w^{1}_{11}
    elements = []
    for name, values in params:
        matrices[name] = np.empty(values.shape, dtype=object)
        for index in np.ndindex(values.shape):
            symbol = sympy.Symbol(_symbol_name(name, index, shared), real=True)
            matrices[name][index] = symbol
            latex_names[symbol] = parameter_symbol(name, index, shared).latex
            elements.append((element_key(name, index), name, index, symbol, float(values[index])))

    per_example = [_example_loss(sympy, spec, matrices, x, t) for x, t in zip(inputs, targets)]
    loss = sympy.Add(*per_example) / len(per_example)
    # Unsimplified on purpose: simplify() costs seconds, and the raw form shows the chain rule.
    derivatives = [sympy.diff(loss, symbol) for *_, symbol, _ in elements]
    values = _evaluate(sympy, [e[3] for e in elements], [e[4] for e in elements],
                       [loss, *derivatives])
    return sympy, elements, latex_names, loss, derivatives, values


def _import_sympy() -> Any:
    try:
        import sympy
    except ImportError:  # also when sys.modules["sympy"] is None
        raise MissingDependency(INSTALL_HINT) from None
    return sympy


def _check_size(spec: Spec, params: list[tuple[str, np.ndarray]], examples: int) -> None:
    count = sum(values.size for _, values in params)
    if count > MAX_PARAMETERS:
        raise ChainruleError(
            f"symbolic: network {spec.architecture} has {count} parameter elements; symbolic "
            f"derivation is limited to MAX_PARAMETERS = {MAX_PARAMETERS}")
    if examples > MAX_EXAMPLES:
        raise ChainruleError(
            f"symbolic: batch of {examples} examples; symbolic derivation is limited to "
            f"MAX_EXAMPLES = {MAX_EXAMPLES}")


def _symbol_name(name: str, index: tuple[int, ...], shared_bias: bool) -> str:
    """``W1`` (0, 1) → ``w1_12``; ``b2`` (0,) → ``b2_1``, or ``b2`` for a shared bias."""
    letter, layer = name[0].lower(), name[1:]
    if letter == "b" and shared_bias:
        return f"b{layer}"
    units = [str(i + 1) for i in index]
    joiner = "," if any(len(u) > 1 for u in units) else ""  # w1_10,1, not the ambiguous w1_101
    return f"{letter}{layer}_{joiner.join(units)}"


def _exact(sympy, value: float) -> Any:
    """A data value as the shortest decimal that reads back as the same float: 0.3 → 3/10.

    Exact rationals keep derivatives exact and formulas readable (a sympy Float prints as
    0.300000000000000 and rounds every product). The decimal differs from the engine's float
    by under half an ulp, far below the 1e-12 asked of the gradients; the float's exact binary
    value, 5404319552844595/18014398509481984, would make every formula unreadable.
    """
    return sympy.Rational(repr(float(value)))


def _example_loss(sympy, spec: Spec, matrices: dict[str, np.ndarray], x: np.ndarray,
                  t: np.ndarray) -> Any:
    """The loss of one example as an expression of the parameter symbols."""
    a = [_exact(sympy, v) for v in x]
    z: list[Any] = []
    for layer, activation in enumerate(spec.activations, start=1):
        weights, bias = matrices[f"W{layer}"], matrices.get(f"b{layer}")
        z = [sympy.Add(*(a[i] * weights[i, j] for i in range(len(a))))
             + (0 if bias is None else bias[j if bias.size > 1 else 0])
             for j in range(weights.shape[1])]
        a = _activate(sympy, activation, z)
    if t.ndim == 0:  # a class index for cross_entropy → one-hot
        target = [sympy.Integer(int(k == int(t))) for k in range(spec.layers[-1])]
    else:
        target = [_exact(sympy, v) for v in t]
    return _loss(sympy, spec.loss, spec.activations[-1], z, a, target)


def _activate(sympy, name: str, z: list[Any]) -> list[Any]:
    if name == "sigmoid":
        return [1 / (1 + sympy.exp(-v)) for v in z]
    if name == "tanh":
        return [sympy.tanh(v) for v in z]
    if name in ("relu", "leaky_relu"):
        function = _kinked_functions(sympy)[name]
        return [function(v) for v in z]
    if name == "softmax":
        total = sympy.Add(*(sympy.exp(v) for v in z))
        return [sympy.exp(v) / total for v in z]
    if name == "identity":
        return list(z)
    raise ChainruleError(f"symbolic: no formula for activation {name!r}")


@functools.cache
def _kinked_functions(sympy) -> dict[str, Any]:
    """relu and leaky_relu as named sympy functions whose derivative is a step.

    Not Max(0, z), whose derivative at 0 is undefined, nor Piecewise: a Piecewise inside the
    next layer's Piecewise repeats every argument in its conditions, and differentiating and
    printing those took 30 s for examples/deep.json with leaky_relu and relu (2 s this way).
    The steps are Heaviside(z, 0), 0 at z = 0: relu'(0) = 0 and leaky_relu'(0) = slope, as in
    the engine and PyTorch.
    """
    slope = _exact_slope(sympy)

    class relu(sympy.Function):  # noqa: N801 (printed as the activation's name)
        def fdiff(self, argindex: int = 1) -> Any:
            return sympy.Heaviside(self.args[0], 0)

    class leaky_relu(sympy.Function):  # noqa: N801
        def fdiff(self, argindex: int = 1) -> Any:
            return slope + (1 - slope) * sympy.Heaviside(self.args[0], 0)

    return {"relu": relu, "leaky_relu": leaky_relu}


def _exact_slope(sympy) -> Any:
    """Leaky relu's slope from the activation table as the exact decimal it is written as."""
    return sympy.Rational(repr(LEAKY_RELU_SLOPE))


def _loss(sympy, name: str, last: str, z: list[Any], y: list[Any], t: list[Any]) -> Any:
    units = len(y)
    if name in ("sse", "half_sse", "mse"):
        squares = sympy.Add(*((yk - tk) ** 2 for yk, tk in zip(y, t)))
        return {"sse": squares, "half_sse": squares / 2, "mse": squares / units}[name]
    if name == "bce":
        return -sympy.Add(*(tk * sympy.log(yk) + (1 - tk) * sympy.log(1 - yk)
                            for yk, tk in zip(y, t))) / units
    if name == "cross_entropy":
        # From the logits, as chainrule's output_loss: z after softmax, else the output itself.
        # ln softmax(z)ₖ written as zₖ − ln Σⱼ e^zⱼ (the engine's log_softmax; the same value).
        logits = z if last == "softmax" else y
        log_total = sympy.log(sympy.Add(*(sympy.exp(v) for v in logits)))
        return -sympy.Add(*(tk * (v - log_total) for v, tk in zip(logits, t)))
    raise ChainruleError(f"symbolic: no formula for loss {name!r}")


def _evaluate(sympy, symbols: list[Any], values: list[float], expressions: list[Any]
              ) -> list[float]:
    """Evaluate the expressions at the parameter values with PRECISION digits.

    One lambdified function with common subexpressions shared (cse) is far faster than
    subs + evalf per derivative; mpmath at PRECISION digits makes rounding in the formula itself
    (1 − σ(z) near saturation) negligible against the engine's float64.
    """
    import mpmath

    # relu and leaky_relu are evaluated as the engine does (ops.py); Heaviside(z, 0) is
    # printed by sympy itself as (0 if z <= 0 else 1).
    slope = _exact_slope(sympy)  # z·p/q: the decimal slope exactly, not its nearest float
    kinks = {"relu": lambda z: z if z > 0 else 0 * z,
             "leaky_relu": lambda z: z if z > 0 else z * int(slope.p) / int(slope.q)}
    function = sympy.lambdify(symbols, expressions, modules=[kinks, "mpmath"], cse=True)
    for digits in PRECISIONS:
        with mpmath.workdps(digits):
            try:
                # mpf(float) is the float's exact binary value: the engine's very parameters.
                results = function(*(mpmath.mpf(v) for v in values))
            except ZeroDivisionError:  # 1 − σ(z) rounded to 0 at these digits: take more
                continue
            # A logarithm of a negative number (bce after tanh) is complex: NaN, as the engine.
            floats = [float(mpmath.re(r)) if mpmath.im(r) == 0 else math.nan for r in results]
        if all(math.isfinite(f) for f in floats) or digits == PRECISIONS[-1]:
            return floats
    raise ChainruleError(f"symbolic: the closed form divides by zero even at {PRECISIONS[-1]} "
                         "significant digits (a unit saturates beyond what it can resolve)")


# Printing in sympy's canonical term order sorts every sum, recursively: that sorting was most
# of the time on a 3-layer network (seconds), so terms are printed in the order they are stored.
def _text(sympy, expression: Any) -> str:
    return sympy.sstr(expression, order="none")


def _latex(sympy, expression: Any, names: dict[Any, str]) -> str:
    return sympy.latex(expression, symbol_names=names, order="none")
