"""An expression's text before Python's parser sees it: its characters, its limits, and its
statements, cut at ``;`` and line ends so that every piece keeps its columns in the text.

Everything here is bounded by the text's length and walks it once; nothing recurses.
"""

from __future__ import annotations

import re

from chainrule.expr.tree import fail

MAX_TEXT = 10_000  # characters: a worked example is a line or two
MAX_STATEMENTS = 1_000
MAX_NODES = 1_000  # numbers, names and operations in the whole program
MAX_PARENS = 50  # brackets inside one another; CPython's parser itself gives up at 200
MAX_DEPTH = 200  # operations inside one another (a + b + c + ... is one level per +)
MAX_NAME = 64  # characters in a name
MAX_DIGITS = 100  # a literal of 5,000 digits would be converted to a Python int by the parser

# What a student may type instead of ASCII, and what to write instead.
_LOOKALIKES = {"−": "-", "–": "-", "×": "*", "·": "*", "÷": "/", "²": "**2", "³": "**3",
               "σ": "sigmoid", "√": "sqrt"}
_NOT_ASCII = re.compile(r"[^\t\n\r -~]")
_LONG_NUMBER = re.compile(r"(?<![A-Za-z_0-9])[0-9][0-9_]{%d,}" % MAX_DIGITS)


def check_text(text: str) -> None:
    """Refuse, before the parser sees it, what it would choke on or silently reinterpret
    (Python folds some Unicode letters into ASCII ones: ``ｘ`` is ``x``)."""
    bad = _NOT_ASCII.search(text)
    if bad:
        char = bad.group()
        hint = f"; write {_LOOKALIKES[char]!r}" if char in _LOOKALIKES else ""
        raise fail(text, bad.start(), f"character {char!r} (U+{ord(char):04X}); expressions "
                                      f"are plain ASCII{hint}")
    long_number = _LONG_NUMBER.search(text)
    if long_number:
        raise fail(text, long_number.start(), f"a number of more than {MAX_DIGITS} digits")
    if text.count("(") + text.count("[") + text.count("{") <= MAX_PARENS:
        return
    depth = 0
    for match in re.finditer(r"[(\[{)\]}]", text):
        depth += 1 if match.group() in "([{" else -1
        if depth > MAX_PARENS:
            raise fail(text, match.start(), f"brackets nested more than {MAX_PARENS} deep")


def split_statements(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of the statements of ``text``: split at ``;`` and at line ends
    outside brackets, so that each piece's columns are still those of ``text``. Comments and
    quoted text are skipped over (quotes are refused later, as strings, with their column)."""
    chunks, depth, start, i = [], 0, 0, 0
    while i < len(text):
        char = text[i]
        if char == "#" or char in "'\"":
            stop = text.find("\n", i)
            stop = len(text) if stop < 0 else stop
            if char != "#":  # to the closing quote on the same line, if any
                close = text.find(char, i + 1, stop)
                stop = stop if close < 0 else close + 1
            i = stop
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == ";" or char in "\r\n" and depth == 0 and not _continued(text, i):
            chunks.append((start, i))
            start = i + 1
        i += 1
    chunks.append((start, len(text)))
    # Leading blanks are dropped here rather than by the parser ("unexpected indent").
    chunks = [(start + len(text[start:end]) - len(text[start:end].lstrip()), end)
              for start, end in chunks]
    return [(start, end) for start, end in chunks if start < end]


def _continued(text: str, i: int) -> bool:
    """Whether the line end at ``i`` follows a backslash (a carriage return between them
    allowed): Python then continues the statement on the next line."""
    before = text[i - 1:i]
    if before == "\r":
        before = text[i - 2:i - 1]
    return before == "\\"
