"""Expressions to explain: ``chainrule explain --expr "q = x + y; f = q * z" --at x=-2,y=5,z=-4``.

A program is parsed by :func:`parse_program` (a whitelist over Python's own parser, in
:mod:`chainrule.expr.syntax`; nothing of the text is ever run), the values by
:func:`parse_at`, and :func:`evaluate` builds the graph with the engine's Tensors, one
recorded node per operation or call, float64. The callable names are one table,
:data:`FUNCTIONS`. A spec file may hold the same as fields ``expression`` and ``at``
(:func:`load_expression_spec`).

>>> run = evaluate(parse_program("q = x + y; f = q * z"), parse_at("x=-2,y=5,z=-4"))
>>> run.output.item()
-12.0
>>> run.output.backward()
>>> [float(run.leaves[name].grad) for name in "xyz"]
[-4.0, -4.0, 3.0]
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.frozen import Frozen
from chainrule.autodiff.engine import enable_grad
from chainrule.errors import ExprError, SpecError
from chainrule.expr.functions import FUNCTIONS, OPERATORS, Function
from chainrule.expr.syntax import MAX_NAME, MAX_TEXT, parse_program
from chainrule.expr.tree import Binary, Call, Expr, Name, Number, Program, Statement, Unary
from chainrule.finite import NonFiniteError, first_non_finite
from chainrule.inputs import plain_number
from chainrule.autodiff.tensor import Tensor
from chainrule.spec.validate import check_fields, kind, number, required, shown

__all__ = [
    "Evaluation", "ExprError", "FUNCTIONS", "Function", "Program", "Statement", "Step",
    "evaluate", "is_expression_spec", "load_expression_file", "load_expression_spec",
    "parse_at", "parse_program",
]

MAX_VALUES = 1_000  # names given values in --at
SPEC_FIELDS = ("name", "description", "expression", "at")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(unsafe_hash=True)
class Step(Frozen):
    """One statement evaluated: the name it assigned (None for a bare last expression)."""

    name: str | None
    tensor: Tensor
    statement: Statement


@dataclass(eq=False)
class Evaluation(Frozen):
    """A program evaluated at some values. ``names`` maps ``id(tensor)`` to a name for the
    graph explanation: each input leaf its ``at`` name, each other assigned tensor the name
    it was assigned last (``b = a`` renames a's tensor b). The ids stay valid as long as this
    object holds the tensors (``leaves``, ``nodes``)."""

    output: Tensor
    names: dict[int, str]
    leaves: dict[str, Tensor]
    nodes: tuple[Step, ...]
    program: Program


def parse_at(text: str) -> dict[str, float]:
    """``"x=-2, y=5, z=-4"`` → ``{"x": -2.0, "y": 5.0, "z": -4.0}``: plain ASCII decimals,
    each name once; a problem is one :class:`ExprError` naming the item."""
    if not isinstance(text, str):
        raise ExprError(f"at: expected text like x=-2,y=5, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ExprError(f"at: {len(text):,} characters; at most {MAX_TEXT:,}")
    if not text.strip():
        raise ExprError("at: no values given; write them like x=-2,y=5")
    items = text.split(",")
    if len(items) > MAX_VALUES:
        raise ExprError(f"at: {len(items):,} items; at most {MAX_VALUES:,}")
    values: dict[str, float] = {}
    for index, item in enumerate(items, 1):
        if not item.strip():
            raise ExprError(f"at: item {index} is empty (two commas in a row, or one at an "
                            f"end?)")
        name, equals, written = (part.strip() for part in item.partition("="))
        if not equals:
            raise ExprError(f"at: item {index} {shown(item.strip())}: expected name=value, "
                            f"like x=-2")
        check_name(name, f"at: item {index}")
        value = plain_number(written)
        if value is None:
            raise ExprError(f"at: {name}={shown(written, 40)}: expected a plain decimal "
                            f"number, like -2 or 0.5")
        if not math.isfinite(value):
            raise ExprError(f"at: {name}={shown(written, 40)}: not a finite number in "
                            f"float64 (at most about 1.8e308)")
        if name in values:
            raise ExprError(f"at: {name} is given twice")
        values[name] = value
    return values


def check_name(name: Any, where: str, error: type[Exception] = ExprError) -> str:
    """A name the expression can read: an ASCII identifier, not a keyword or a function."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
        raise error(f"{where}: {shown(name, 40)} is not a name (letters, digits and _, not "
                    f"starting with a digit, not a Python keyword)")
    if len(name) > MAX_NAME:
        raise error(f"{where}: a name of {len(name):,} characters; at most {MAX_NAME}")
    if name in FUNCTIONS:
        raise error(f"{where}: {name} is a function, not a name to give a value")
    return name


def evaluate(program: Program, at: Mapping[str, float]) -> Evaluation:
    """Build ``program``'s graph with float64 Tensors, its inputs the leaves given by ``at``.

    Every name of ``at`` must be read by the program and every input must be in ``at``; a
    value that is not finite (``log(-1)``, ``1/0``, an overflow) stops at the first operation
    that makes one, naming its column (:class:`NonFiniteError`).
    """
    values = _checked_values(at)
    check_inputs(program, values)
    leaves = {name: Tensor(values[name], name=name) for name in program.inputs}
    names = {id(leaf): name for name, leaf in leaves.items()}
    leaf_ids = set(names)
    scope: dict[str, Tensor] = dict(leaves)
    steps = []
    # Recorded even inside a caller's no_grad(): an unrecorded graph explains nothing.
    with enable_grad(), np.errstate(all="ignore"):  # non-finite values: named just below
        for statement in program.statements:
            tensor = _value(program, statement.value, scope)
            if statement.target is not None:
                scope[statement.target] = tensor
                if id(tensor) not in leaf_ids:  # a leaf keeps the name its value was given
                    names[id(tensor)] = statement.target
                    tensor.name = statement.target
            steps.append(Step(statement.target, tensor, statement))
    output = steps[-1].tensor
    if not output.requires_grad:
        last = program.output
        what = last.target or shown(program.source(last.value), 40)
        raise program.fail(last.start, f"the output {what} does not depend on any input; "
                                       f"there is nothing to differentiate")
    return Evaluation(output, names, leaves, tuple(steps), program)


def check_inputs(program: Program, values: Mapping[str, float]) -> None:
    """Refuse an input the values do not give, and a value the program never reads (a typo
    in a name would otherwise leave a variable silently unset)."""
    for name, offset in program.inputs.items():
        if name not in values:
            known = [s.target for s in program.statements if s.target and s.end <= offset]
            known = list(dict.fromkeys([*values, *known]))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise program.fail(offset, f"{name} is read before any assignment and no value is "
                                       f"given for it{hint}; known names here: {_listed(known)}")
    assigned = {s.target for s in program.statements}
    for name, value in values.items():
        if name in program.inputs:
            continue
        if name in assigned:
            why = "the expression assigns it before reading it, so this value is never used"
        else:
            close = difflib.get_close_matches(name, list(program.inputs), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            why = f"the expression never reads it (its inputs: {_listed(program.inputs)}){hint}"
        raise ExprError(f"at: {name}={value:g}: {why}")


def _listed(names: Any, most: int = 20) -> str:
    """Names for a message: at most ``most`` of them, so that the line stays a line."""
    names = list(names)
    if not names:
        return "none"
    more = f", … ({len(names) - most} more)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _checked_values(at: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(at, Mapping):
        raise ExprError(f"at: expected a mapping of names to numbers, got {type(at).__name__}")
    values = {}
    for name, value in at.items():
        check_name(name, "at")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating,
                                                             np.integer)):
            raise ExprError(f"at: {name}: expected a number, got {kind(value)}")
        if not math.isfinite(value):
            raise ExprError(f"at: {name}: expected a finite number, got {value}")
        values[name] = float(value)
    return values


def _value(program: Program, node: Expr, scope: dict[str, Tensor]) -> Tensor:
    """The tensor of ``node``; each operation through the Tensor surface, so the engine
    records it as it would record the same expression written in Python."""
    if isinstance(node, Number):
        return Tensor(node.value, requires_grad=False)
    if isinstance(node, Name):
        return scope[node.id]  # the parser and check_inputs made sure it is there
    if isinstance(node, Unary):
        result = -_value(program, node.operand, scope)
    elif isinstance(node, Binary):
        left = _value(program, node.left, scope)
        result = OPERATORS[node.op](left, _value(program, node.right, scope))
    elif isinstance(node, Call):
        function = FUNCTIONS[node.function]
        arguments = [arg.value if parameter in function.numeric else
                     _value(program, arg, scope)
                     for parameter, arg in zip(function.params, node.args)]
        result = function.apply(*arguments)
    else:  # the parser builds nothing else
        raise TypeError(f"not an expression node: {type(node).__name__}")
    bad = first_non_finite(result.data)
    if bad is not None:  # named where it starts: an overflow, ln of a negative, 1/0 ...
        quantity = program.source(node)
        quantity = quantity if len(quantity) <= 60 else quantity[:59] + "…"
        error = program.fail(node.start, f"{quantity} is {bad[1]} at these values")
        raise NonFiniteError(str(error), quantity=quantity, index=bad[0], value=bad[1])
    return result


# --- spec files ------------------------------------------------------------------------------


def is_expression_spec(data: Any) -> bool:
    """Whether a decoded spec file describes an expression (it has ``expression``) rather
    than a network."""
    return isinstance(data, dict) and "expression" in data


def load_expression_spec(data: Any, path: str | Path) -> tuple[Program, dict[str, float]]:
    """The program and values of a decoded spec file with fields ``expression`` (text),
    ``at`` (names → numbers) and optionally ``name`` and ``description``. A problem raises
    :class:`SpecError` naming the file and the field (``at.x: ...``), or :class:`ExprError`
    for the expression's text (``...: expression: column 7: ...``)."""
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected an object with fields expression and at, got "
                        f"{kind(data)}")
    try:
        check_fields(data, SPEC_FIELDS)
        text = required(data, "expression")
        if not isinstance(text, str):
            raise SpecError(f"expression: expected text like \"q = x + y; f = q * z\", got "
                            f"{kind(text)}")
        raw = required(data, "at")
        if not isinstance(raw, dict):
            raise SpecError(f"at: expected names with numbers, like {{x: -2, y: 5}}, got "
                            f"{kind(raw)}")
        values = {check_name(key, _field(key), SpecError): number(value, f"at.{key}")
                  for key, value in raw.items()}
        labels = {key: _label(data, key) for key in ("name", "description")}
    except SpecError as problem:
        raise SpecError(f"{path}: {problem}") from None
    try:
        program = parse_program(text)
        check_inputs(program, values)
    except ExprError as problem:
        place = "" if str(problem).startswith("at: ") else "expression: "
        raise ExprError(f"{path}: {place}{problem}", line=problem.line,
                        column=problem.column) from None
    labels["name"] = labels["name"] or Path(path).stem
    return replace(program, **labels), values


def load_expression_file(path: str | Path) -> tuple[Program, dict[str, float]]:
    """:func:`load_expression_spec` of a JSON, TOML or YAML file, read within the limits of
    :mod:`chainrule.inputs`."""
    from chainrule.spec.network import read_spec_file

    return load_expression_spec(read_spec_file(Path(path)), path)


def _field(key: Any) -> str:
    """``at.x``, or ``at['x y']`` for a key that is not a name (quoted: it may hold anything,
    an escape sequence for the terminal included)."""
    return f"at.{key}" if isinstance(key, str) and _IDENTIFIER.fullmatch(key) else \
        f"at[{shown(key, 40)}]"


def _label(data: dict, key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise SpecError(f"{key}: expected text, got {kind(value)}")
    bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", value)
    if bad:
        raise SpecError(f"{key}: control character {bad.group()!r} at position {bad.start()}; "
                        f"expected plain text")
    return value
