"""The expression language of ``chainrule explain --expr``: a student's text → a checked tree.

    q = x + y; f = q * z

Statements are separated by ``;`` or newlines. Each is read by Python's own parser
(``ast.parse``, which only builds a tree and runs nothing) and then walked with a whitelist:
numbers, names, ``+ - * / **``, unary ``-`` and ``+``, parentheses and calls of the functions
in :data:`chainrule.expr.functions.FUNCTIONS`. Everything else is refused with one
:class:`ExprError` naming the construct and its column in the user's text. The walk rebuilds
the tree from this module's own node types, so evaluation never sees a Python ``ast`` node.

The text is untrusted, so its size is bounded before any parsing (characters, brackets, digits:
:mod:`chainrule.expr.text`), and the tree after it (:data:`MAX_NODES` operands and operations,
:data:`MAX_DEPTH` deep) before anything recursive walks it.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import warnings

from chainrule.errors import ExprError
from chainrule.expr.functions import FUNCTIONS, OPERATORS
from chainrule.expr.tree import (
    OPERATOR_TEXT, Binary, Call, Expr, Name, Number, Program, Statement, Unary, describe, fail,
)
from chainrule.expr.text import (
    MAX_DEPTH, MAX_NAME, MAX_NODES, MAX_STATEMENTS, MAX_TEXT, check_text, split_statements,
)
from chainrule.inputs import plain_number

_DETECTED = re.compile(r" \(detected at line \d+\)")

_STATEMENTS = {
    ast.Import: "import", ast.ImportFrom: "from ... import", ast.FunctionDef: "def",
    ast.AsyncFunctionDef: "async def", ast.ClassDef: "class", ast.Return: "return",
    ast.Delete: "del", ast.For: "for", ast.While: "while", ast.If: "if", ast.With: "with",
    ast.Raise: "raise", ast.Try: "try", ast.Assert: "assert", ast.Global: "global",
    ast.Nonlocal: "nonlocal", ast.Pass: "pass", ast.Break: "break", ast.Continue: "continue",
}


def parse_program(text: str) -> Program:
    """The statements of ``text`` as a :class:`Program`; the first problem raises
    :class:`ExprError` naming its column (1-based, in ``text``)."""
    if not isinstance(text, str):
        raise ExprError(f"expression: expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression: {len(text):,} characters; an expression may have at "
                        f"most {MAX_TEXT:,}")
    check_text(text)
    chunks = split_statements(text)
    if len(chunks) > MAX_STATEMENTS:
        raise fail(text, chunks[MAX_STATEMENTS][0],
                   f"more than {MAX_STATEMENTS:,} statements; at most {MAX_STATEMENTS:,}")
    builder = _Builder(text)
    trees = [(start, tree) for start, end in chunks
             if (tree := builder.parse(start, end)) is not None]
    if not trees:
        raise ExprError("expression: empty; write statements like 'q = x + y; f = q * z'")
    statements = tuple(builder.statement(start, tree, last=i == len(trees) - 1)
                       for i, (start, tree) in enumerate(trees))
    return Program(text, statements, dict(builder.inputs))


def _normalised(source: str) -> str:
    r"""``source`` with its carriage returns made blanks, for the parser: Python counts a lone
    ``\r`` as a line end, this module counts lines by ``\n``; the length, and so every
    column, stays the same (a backslash before ``\r\n`` moves one to the right)."""
    return source.replace("\\\r\n", " \\\n").replace("\r", " ")


class _Builder:
    """Walks each statement's Python tree, refusing what is not whitelisted and building the
    program's own nodes; remembers which names are assigned and which are read first."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.assigned: set[str] = set()
        self.inputs: dict[str, int] = {}  # names read before any assignment → first offset
        self.count = 0
        self.start = 0  # the statement being walked: its offset and its text
        self.source = ""

    def fail(self, offset: int, message: str) -> ExprError:
        return fail(self.text, offset, message)

    def parse(self, start: int, end: int) -> ast.stmt | None:
        """One statement's Python tree (None for a comment), its size checked."""
        source = self.text[start:end]
        self.start, self.source = start, source
        try:
            with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a string
                warnings.simplefilter("ignore")
                module = ast.parse(_normalised(source), mode="exec")
        except SyntaxError as problem:
            offset = self.offset(problem.lineno or 1, (problem.offset or 1) - 1)
            message = _DETECTED.sub("", problem.msg or "invalid syntax")
            prefix = "" if message.startswith("invalid syntax") else "invalid syntax: "
            raise self.fail(offset, prefix + message) from None
        except (RecursionError, MemoryError):  # CPython's parser on a long chain of - - - x
            raise self.fail(start, f"operations nested too deeply for the parser (at most "
                                   f"{MAX_DEPTH} inside one another)") from None
        if not module.body:
            return None
        if len(module.body) > 1:  # not reached by split_statements; a guard, not a feature
            raise self.fail(self.span(module.body[1])[0], "two statements in one")
        self.check_size(module.body[0])
        return module.body[0]

    def offset(self, line: int, column: int) -> int:
        """The offset in the whole text of (line, column) of the current statement, both as
        Python's parser counts them (line from 1, column from 0, in UTF-8 bytes: the text is
        ASCII)."""
        at = 0
        for _ in range(line - 1):
            found = self.source.find("\n", at)
            if found < 0:
                break
            at = found + 1
        return self.start + min(at + max(column, 0), len(self.source))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno or node.lineno, node.end_col_offset or 0))

    def after(self, node: ast.AST) -> int:
        """The offset of the first character after ``node`` that is not a blank or a closing
        parenthesis: where the operator, ``.`` or ``[`` that follows it is written."""
        at = self.span(node)[1]
        while at < len(self.text) and self.text[at] in " \t\r\n)\\":
            at += 1
        return at

    def check_size(self, tree: ast.AST) -> None:
        """Count and measure the expressions of ``tree`` iteratively, so that the recursive
        walk below never meets a tree that would exhaust Python's stack."""
        stack = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            if isinstance(node, ast.expr):
                self.count += 1
                depth += 1
                if self.count > MAX_NODES:
                    raise self.fail(self.span(node)[0], f"more than {MAX_NODES:,} numbers, "
                                                        f"names and operations; at most "
                                                        f"{MAX_NODES:,}")
                if depth > MAX_DEPTH:
                    raise self.fail(self.span(node)[0], f"operations nested more than "
                                                        f"{MAX_DEPTH} deep")
            stack.extend((child, depth) for child in ast.iter_child_nodes(node))

    # --- statements ------------------------------------------------------------------------

    def statement(self, start: int, node: ast.stmt, last: bool) -> Statement:
        self.start, self.source = start, self.text[start:]
        begin, end = self.span(node)
        if isinstance(node, ast.Assign):
            if len(node.targets) > 1:
                raise self.fail(self.span(node.targets[1])[0], "several names assigned at "
                                "once (a = b = ...); assign one name per statement")
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                raise self.fail(begin, f"assignment to {describe(target)}; assign to one "
                                       f"plain name (a = ...)")
            name = self.check_name(target.id, begin)
            if name in FUNCTIONS:
                raise self.fail(begin, f"{name} is a function name; assign to another name")
            value = self.expression(node.value)  # before the name counts as assigned: a = a + 1
            self.assigned.add(name)
            return Statement(name, value, begin, end)
        if isinstance(node, ast.Expr):
            if not last:
                raise self.fail(begin, "an expression that is neither assigned to a name nor "
                                       "the last statement; name it (a = ...) or remove it")
            return Statement(None, self.expression(node.value), begin, end)
        if isinstance(node, ast.AugAssign):
            operator = OPERATOR_TEXT.get(type(node.op), "?")
            raise self.fail(self.after(node.target), f"augmented assignment ({operator}=); "
                                                     f"write a = a {operator} ...")
        if isinstance(node, ast.AnnAssign):
            raise self.fail(self.after(node.target), "an annotation (a: ...); write a = ...")
        what = _STATEMENTS.get(type(node), type(node).__name__)
        raise self.fail(begin, f"a Python statement ({what}); an expression has only "
                               f"assignments name = ... and a last expression")

    def check_name(self, name: str, offset: int) -> str:
        if len(name) > MAX_NAME:
            raise self.fail(offset, f"a name of {len(name):,} characters; at most {MAX_NAME}")
        return name

    # --- expressions -----------------------------------------------------------------------

    def expression(self, node: ast.expr) -> Expr:
        start, end = self.span(node)
        if isinstance(node, ast.Constant):
            return self.number(node, start, end)
        if isinstance(node, ast.Name):
            name = self.check_name(node.id, start)
            if name in FUNCTIONS:
                raise self.fail(start, f"{name} is a function; call it: "
                                       f"{FUNCTIONS[name].signature(name)}")
            if name not in self.assigned:
                self.inputs.setdefault(name, start)
            return Name(name, start, end)
        if isinstance(node, ast.BinOp):
            operator = OPERATOR_TEXT.get(type(node.op), "?")
            if operator not in OPERATORS:
                raise self.fail(self.after(node.left), f"the operator {operator!r} is not part "
                                                       f"of the expression language "
                                                       f"({' '.join(OPERATORS)})")
            left = self.expression(node.left)
            return Binary(operator, left, self.expression(node.right), start, end)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.expression(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand  # +x is x: the engine records no node for it either
            if isinstance(operand, Number):  # -2 is a number, not an operation on one
                return Number(-operand.value, start, end)
            return Unary("-", operand, start, end)
        if isinstance(node, ast.Call):
            return self.call(node, start, end)
        raise self.refuse(node, start)

    def refuse(self, node: ast.AST, start: int) -> ExprError:
        """The error for a construct outside the whitelist, at the column where it shows: the
        ``.`` of an attribute, the ``[`` of an index, the operator of a comparison."""
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            start = self.after(node.value)
        elif isinstance(node, ast.Compare):
            start = self.after(node.left)
        elif isinstance(node, ast.IfExp):
            start = self.after(node.body)
        elif isinstance(node, ast.NamedExpr):
            start = self.after(node.target)
        elif isinstance(node, ast.BoolOp):
            start = self.after(node.values[0])
        return self.fail(start, f"{describe(node)} is not part of the expression language "
                                f"(numbers, names, + - * / **, parentheses, function calls)")

    def number(self, node: ast.Constant, start: int, end: int) -> Number:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(node, start)
        literal = self.text[start:end]
        number = plain_number(literal)
        if number is None:
            raise self.fail(start, f"the number {literal!r} is not a plain decimal (digits, "
                                   f"a '.', an exponent like 1e-3)")
        if not math.isfinite(number):
            raise self.fail(start, f"the number {literal} is not finite in float64 (at most "
                                   f"about 1.8e308)")
        return Number(number, start, end)

    def call(self, node: ast.Call, start: int, end: int) -> Call:
        if not isinstance(node.func, ast.Name):
            self.expression(node.func)  # refuses attribute access, indexing, ... where it is
            raise self.fail(self.after(node.func), "only a function's name can be called, "
                                                   "like exp(x)")
        name = node.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            close = difflib.get_close_matches(name[:100], list(FUNCTIONS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            shown = name if len(name) <= 40 else name[:39] + "…"
            raise self.fail(self.span(node.func)[0], f"unknown function {shown!r}{hint}; the "
                                                     f"functions are {', '.join(FUNCTIONS)}")
        for keyword in node.keywords:
            what = f"{keyword.arg}=..." if keyword.arg else "**..."
            raise self.fail(self.span(keyword)[0], f"a keyword argument ({what}); write "
                                                   f"{function.signature(name)}")
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.fail(self.span(argument)[0], "a starred argument (*...); write "
                                                        f"{function.signature(name)}")
        if not function.least <= len(node.args) <= len(function.params):
            raise self.fail(start, f"{name} takes {function.arity_text()} "
                                   f"({function.signature(name)}), got {len(node.args)}")
        arguments = []
        for parameter, argument in zip(function.params, node.args):
            value = self.expression(argument)
            if parameter in function.numeric and not isinstance(value, Number):
                raise self.fail(value.start, f"{name}'s {parameter} must be a number written "
                                             f"in the expression, like {name}(x, 0.01)")
            arguments.append(value)
        return Call(name, tuple(arguments), start, end)
