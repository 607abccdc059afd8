"""The parsed form of an expression program: plain, immutable nodes that point into the text.

Every node keeps the offsets of its text (``start``, ``end``) rather than a copy of it, so an
error found while evaluating can still name the column, and a program of 10,000 characters
holds no more than that many characters of text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Union

from chainrule.frozen import Frozen
from chainrule.errors import ExprError


@dataclass(unsafe_hash=True)
class Number(Frozen):
    """A number written in the text; ``-2`` is one number, not the negation of 2."""

    value: float
    start: int
    end: int


@dataclass(unsafe_hash=True)
class Name(Frozen):
    id: str
    start: int
    end: int


@dataclass(unsafe_hash=True)
class Unary(Frozen):
    op: str  # "-": unary + is dropped when parsing, as it computes nothing
    operand: "Expr"
    start: int
    end: int


@dataclass(unsafe_hash=True)
class Binary(Frozen):
    op: str  # a key of chainrule.expr.functions.OPERATORS
    left: "Expr"
    right: "Expr"
    start: int
    end: int


@dataclass(unsafe_hash=True)
class Call(Frozen):
    function: str  # a key of chainrule.expr.functions.FUNCTIONS
    args: tuple["Expr", ...]  # a numeric parameter (leaky relu's slope) is a Number
    start: int
    end: int


Expr = Union[Number, Name, Unary, Binary, Call]


@dataclass(unsafe_hash=True)
class Statement(Frozen):
    """``target = value``, or the bare last expression (``target`` None)."""

    target: str | None
    value: Expr
    start: int
    end: int


@dataclass(eq=False)
class Program(Frozen):
    """A checked program: its text, its statements in order, and its inputs, the names read
    before any assignment (each with the offset where it is first read), in order of first
    use. The last statement is the output."""

    text: str
    statements: tuple[Statement, ...]
    inputs: dict[str, int]
    name: str = ""
    description: str = ""

    @property
    def output(self) -> Statement:
        return self.statements[-1]

    def source(self, node: Expr | Statement) -> str:
        """The text of ``node`` as the user wrote it."""
        return self.text[node.start:node.end]

    def fail(self, offset: int, message: str) -> ExprError:
        return fail(self.text, offset, message)


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def fail(text: str, offset: int, message: str) -> ExprError:
    """An :class:`ExprError` for ``message`` at ``offset`` of ``text``, to raise: ``column 7:
    ...`` for a one-line text, ``line 2, column 5: ...`` for more."""
    line, column = position(text, offset)
    where = f"column {column}" if "\n" not in text else f"line {line}, column {column}"
    return ExprError(f"{where}: {message}", line=line, column=column)


# How Python's parser spells each operator: for messages, allowed or not.
OPERATOR_TEXT: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~",
    ast.USub: "-", ast.UAdd: "+",
}

_CONSTRUCTS: dict[type, str] = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Slice: "a slice",
    ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.Compare: "a comparison", ast.BoolOp: "a boolean operator (and, or)",
    ast.IfExp: "an if-expression (a if c else b)", ast.NamedExpr: "an assignment expression (:=)",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string", ast.List: "a list",
    ast.Tuple: "a tuple", ast.Set: "a set", ast.Dict: "a dict",
    ast.Starred: "a starred expression (*...)", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield from", ast.Call: "a call", ast.BinOp: "an operation",
}


def describe(node: ast.AST) -> str:
    """What ``node`` is, in a few words for a message: ``a string``, ``attribute access``."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str):
            return "a string"
        if isinstance(value, bytes):
            return "bytes"
        if isinstance(value, complex):
            return "a complex number"
        return repr(value)  # True, False, None, Ellipsis
    if isinstance(node, ast.UnaryOp):
        return f"the operator {OPERATOR_TEXT.get(type(node.op), '?')!r}"
    if isinstance(node, ast.Name):
        return f"the name {node.id}"
    return _CONSTRUCTS.get(type(node), type(node).__name__)
