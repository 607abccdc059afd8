"""``chainrule verify --expr``: an expression's gradients checked independent ways.

The program (:mod:`chainrule.expr.program`) is interpreted once per method, each over its own
numbers: the engine's reverse mode (the analytic values), central finite differences
(:func:`chainrule.verify.gradcheck.gradcheck`), PyTorch autograd on torch tensors, and sympy's
derivative of the closed form, evaluated exactly. The interpreter walks the parsed program and
asks a *backend* how to add, multiply or call ``tanh``; a backend is a small table, so the
functions a program may call and the ways they are checked cannot drift apart (a test checks
that every backend covers :data:`chainrule.expr.functions.FUNCTIONS`).

At a kink (relu, leaky relu or abs at 0, a tie in max/min, sqrt at 0) the one-sided limits
differ and the methods' conventions may too: PyTorch's are chainrule's and must still agree
exactly, while finite differences and sympy are reported as "kink" instead of as a failure.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from chainrule.frozen import Frozen
from chainrule.errors import ChainruleError, MissingDependency
from chainrule.expr.program import Program, evaluate
from chainrule.expr.functions import FUNCTIONS
from chainrule.expr.tree import Binary, Call, Expr, Name, Number, Unary
from chainrule.verify.report import METHODS, TOLERANCES, ElementRow, _agrees, _json

# Functions whose derivative jumps where their arguments tie or reach 0.
KINKED = {"relu", "leaky_relu", "abs", "max", "maximum", "min", "minimum", "sqrt"}


@dataclass(unsafe_hash=True)
class Backend(Frozen):
    """How one method computes: a number, the operators and every callable function."""

    number: Callable[[float], Any]
    functions: Mapping[str, Callable[..., Any]]
    operators: Mapping[str, Callable[[Any, Any], Any]] = field(default_factory=lambda: {
        "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
        "**": operator.pow})


def interpret(program: Program, values: Mapping[str, Any], backend: Backend) -> Any:
    """The program's output computed by ``backend``, the inputs given by ``values``."""
    scope = dict(values)
    result = None
    for statement in program.statements:
        result = _value(statement.value, scope, backend)
        if statement.target is not None:
            scope[statement.target] = result
    return result


def _value(node: Expr, scope: dict[str, Any], backend: Backend) -> Any:
    if isinstance(node, Number):
        return backend.number(node.value)
    if isinstance(node, Name):
        return scope[node.id]
    if isinstance(node, Unary):
        return -_value(node.operand, scope, backend)
    if isinstance(node, Binary):
        return backend.operators[node.op](_value(node.left, scope, backend),
                                          _value(node.right, scope, backend))
    if isinstance(node, Call):
        numeric = FUNCTIONS[node.function].numeric
        params = FUNCTIONS[node.function].params
        args = [arg.value if name in numeric else _value(arg, scope, backend)
                for name, arg in zip(params, node.args)]
        return backend.functions[node.function](*args)
    raise TypeError(f"not an expression node: {type(node).__name__}")


def engine_backend() -> Backend:
    from chainrule.autodiff.tensor import Tensor

    return Backend(lambda v: Tensor(v, requires_grad=False),
                   {name: function.apply for name, function in FUNCTIONS.items()})


def torch_backend():
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        raise MissingDependency("PyTorch is not installed (pip install 'chainrule[torch]')") \
            from None

    def number(value: float):
        return torch.tensor(value, dtype=torch.float64)

    functions = {
        "exp": torch.exp, "log": torch.log, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
        "relu": torch.relu, "softplus": F.softplus, "abs": torch.abs, "sqrt": torch.sqrt,
        "leaky_relu": lambda x, slope=None: F.leaky_relu(x, *(() if slope is None
                                                              else (slope,))),
        "max": torch.maximum, "maximum": torch.maximum,
        "min": torch.minimum, "minimum": torch.minimum,
    }
    return torch, Backend(number, functions)


def sympy_backend():
    try:
        import sympy
    except ImportError:
        raise MissingDependency("sympy is not installed (pip install 'chainrule[symbolic]')") \
            from None
    from chainrule.tables.activations import LEAKY_RELU_SLOPE

    def number(value: float):
        return sympy.Rational(repr(float(value)))  # the decimal written, exactly

    def leaky(x, slope=LEAKY_RELU_SLOPE):
        return sympy.Piecewise((x, x > 0), (number(slope) * x, True))

    functions = {
        "exp": sympy.exp, "log": sympy.log, "tanh": sympy.tanh, "sqrt": sympy.sqrt,
        "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)), "relu": lambda x: sympy.Max(0, x),
        "leaky_relu": leaky, "softplus": lambda x: sympy.log(1 + sympy.exp(x)),
        "abs": sympy.Abs, "max": sympy.Max, "maximum": sympy.Max,
        "min": sympy.Min, "minimum": sympy.Min,
    }
    return sympy, Backend(number, functions)


@dataclass
class ExpressionReport:
    """Each input's ∂output/∂input by every method, as ``chainrule verify`` shows a network's."""

    program: Program
    at: dict[str, float]
    value: float
    rows: list[ElementRow]
    methods: dict[str, str]
    kink: bool = False

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def title(self) -> str:
        name = self.program.name or "expression"
        return f"{name}: gradients of {self.program.output.target or 'the output'} " \
               f"({len(self.rows)} inputs), checked independently"

    def groups(self) -> dict[str, list[ElementRow]]:
        return {"inputs": self.rows}

    def to_dict(self) -> dict[str, Any]:
        from chainrule.verify.report import SCHEMA

        return {"schema": SCHEMA, "expression": self.program.text, "at": self.at,
                "value": _json(self.value), "ok": self.ok, "methods": self.methods,
                "tolerances": {m: {"atol": a, "rtol": r} for m, (a, r) in TOLERANCES.items()},
                "inputs": [{"element": row.key, "analytic": _json(row.analytic),
                            **{m: _json(row.values.get(m)) for m in METHODS},
                            "worst_rel_error": _json(row.worst_rel_error), "ok": row.ok,
                            **({"kink": True} if row.kink else {})} for row in self.rows]}

    def __str__(self) -> str:
        from chainrule.verify.report import render_verify

        return render_verify(self)


def verify_expression(program: Program, at: Mapping[str, float]) -> ExpressionReport:
    """Every input's gradient by the engine, finite differences, PyTorch and sympy."""
    from chainrule.autodiff.tensor import Tensor
    from chainrule.verify.gradcheck import gradcheck

    evaluation = evaluate(program, at)  # checks the names and that every value is finite
    output = evaluation.output
    output.backward()
    names = list(program.inputs)
    analytic = {name: float(evaluation.leaves[name].grad) for name in names}
    kink = _has_kink(program, at)
    values: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    methods: dict[str, str] = {}

    engine = engine_backend()
    leaves = {name: Tensor(float(at[name]), name) for name in names}
    fd = gradcheck(lambda **tensors: interpret(program, tensors, engine), leaves)
    methods["finite_differences"] = "ran"
    fd_ok = {}
    for row in fd.rows:
        values["finite_differences"][row.input] = row.numeric
        fd_ok[row.input] = row.status != "fail" or kink
    try:
        torch, backend = torch_backend()
        twins = {n: torch.tensor(float(at[n]), dtype=torch.float64, requires_grad=True)
                 for n in names}
        result = interpret(program, twins, backend)
        result.backward()
        values["torch"] = {n: float(t.grad) if t.grad is not None else 0.0
                           for n, t in twins.items()}
        methods["torch"] = f"ran (PyTorch {torch.__version__})"
    except MissingDependency as missing:
        methods["torch"] = f"not run: {missing}"
    try:
        values["symbolic"] = _symbolic(program, at, names)
        lost = [name for name in names if name not in values["symbolic"]]
        methods["symbolic"] = "ran (sympy" + (f"; no accurate value for {', '.join(lost)})"
                                              if lost else ")")
    except (ChainruleError, ZeroDivisionError, TypeError, ValueError) as unavailable:
        methods["symbolic"] = f"not run: {str(unavailable).splitlines()[0][:120]}"

    rows = []
    for name in names:
        found = {m: values[m][name] for m in METHODS if name in values[m]}
        agrees = {m: _agrees(m, analytic[name], v, fd_ok.get(name, True))
                  or (kink and m == "symbolic") for m, v in found.items() if np.isfinite(v)}
        rows.append(ElementRow(name, analytic[name], found, agrees, kink))
    return ExpressionReport(program, dict(at), float(output.data), rows, methods, kink)


# sympy expands a closed form of every operation; beyond this it takes seconds, then minutes
MAX_SYMBOLIC_OPERATIONS = 200


def _operations(node: Expr) -> int:
    stack, count = [node], 0
    while stack:
        item = stack.pop()
        if isinstance(item, (Unary, Binary, Call)):
            count += 1
            stack.extend([item.operand] if isinstance(item, Unary) else
                         [item.left, item.right] if isinstance(item, Binary) else item.args)
    return count


def _symbolic(program: Program, at: Mapping[str, float], names: list[str]) -> dict[str, float]:
    size = sum(_operations(statement.value) for statement in program.statements)
    if size > MAX_SYMBOLIC_OPERATIONS:
        raise ChainruleError(f"{size} operations; the closed form is expanded for at most "
                             f"{MAX_SYMBOLIC_OPERATIONS}")
    sympy, backend = sympy_backend()
    symbols = {name: sympy.Symbol(name, real=True) for name in names}
    closed = interpret(program, symbols, backend)
    point = {symbols[n]: backend.number(at[n]) for n in names}
    out = {}
    for name in names:
        derivative = sympy.diff(closed, symbols[name]).subs(point)
        exact = sympy.N(derivative, 30, maxn=2000)
        # evalf says how many bits it is sure of: where cancellation ate them all (tanh′ at
        # 1e308 is 1 − tanh², both 1 to any precision) the number is no check at all
        if isinstance(exact, sympy.Float) and exact._prec < 60:
            continue
        value = complex(exact)
        if value.imag:
            raise ChainruleError(f"sympy's derivative for {name} is complex here")
        out[name] = value.real
    return out


def _has_kink(program: Program, at: Mapping[str, float]) -> bool:
    """True where a kinked function's argument sits on its kink at these values."""
    engine = engine_backend()
    kinks: list[bool] = []

    def watch(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args):
            data = [float(np.asarray(getattr(a, "data", a))) for a in args
                    if not isinstance(a, (int, float))]
            if name in ("max", "maximum", "min", "minimum"):
                kinks.append(len(data) == 2 and data[0] == data[1])
            else:
                kinks.append(bool(data) and data[0] == 0.0)
            return function(*args)
        return call

    watched = Backend(engine.number, {name: watch(name, f) if name in KINKED else f
                                      for name, f in engine.functions.items()})
    from chainrule.autodiff.tensor import Tensor

    interpret(program, {n: Tensor(float(v), n) for n, v in at.items()}, watched)
    return any(kinks)
