"""Text from users (students' names and answers, a spec's name, a worksheet's title) made safe
for the formats chainrule writes. Such text is untrusted: a Markdown page is rendered by
Jupyter, an LMS or MkDocs, which would run raw HTML in it; a spreadsheet runs a cell that
starts with ``=``; a file name must not leave its folder.

One function per target, used by every writer of that format: :func:`markdown_text`,
:func:`csv_cell` (and :func:`csv_text`), :func:`file_stem`, :func:`terminal_text`.
Only user text goes through them; the Markdown and LaTeX chainrule generates itself (``$…$`` math, ``**1a**``) is written as is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable

# --- Markdown ------------------------------------------------------------------------------------

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Punctuation Markdown (and MkDocs' attribute lists, MathJax's $…$) gives a meaning; a
# backslash before any ASCII punctuation shows it as itself in CommonMark and Python-Markdown.
_PUNCTUATION = set("\\`*_[]{}$|~#")
_LINE_START = re.compile(r"^([-+=]|\d+(?=[.)]))")  # a list item, a setext rule, "1." or "1)"
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def markdown_text(text: object, line_start: bool = False) -> str:
    """``text`` shown literally inside Markdown: ``& < >`` as HTML entities (no HTML runs),
    Markdown punctuation backslash-escaped (no links, images, emphasis, math, attributes,
    table cells), line breaks and control characters as one space (no new blocks; safe in a
    table cell and a heading). ``line_start``: the text begins a line, where ``- ``, ``1.``
    or ``=`` would begin a list or underline a heading, so these are escaped too (elsewhere
    they are left alone: an answer ``-0.5`` stays ``-0.5``)."""
    text = _BREAKS.sub(" ", str(text))
    out = "".join(_ENTITIES.get(c) or ("\\" + c if c in _PUNCTUATION else c) for c in text)
    start = _LINE_START.match(out) if line_start else None
    if start:  # at the start of a line it would begin a list or underline a heading
        out = (out[: start.end()] + "\\" + out[start.end():] if start.group(1).isdigit()
               else "\\" + out)
    return out


# --- terminal -------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_text(text: str) -> str:
    """``text`` safe to print on a terminal: a control character other than a line break or a
    tab (an ESC starting a cursor move, a bell, a backspace hiding what came before) shown as
    ``\\x1b``-style escapes, so a student's name cannot rewrite the screen."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# --- CSV -----------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """A cell a spreadsheet shows and never evaluates (OWASP's advice against CSV injection):
    text that starts with ``= + - @``, a tab or a carriage return gets a leading ``'``.
    Numbers stay numbers, written or as text (``-0.5``, ``1e-3``)."""
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        return value
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text (``\\n`` line ends), every cell through :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


# --- file names ----------------------------------------------------------------------------------

MAX_STEM_BYTES = 80  # with a suffix such as ".md", far below any file system's 255 bytes
_HASH_CHARS = 8
_UNSAFE = re.compile(r"[^\w.-]+")
_WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$)", re.I)


def file_stem(name: str, used: set[str]) -> str:
    """A file name (without suffix) for ``name``, safe on every common file system and unique
    among ``used`` (compared without case, as macOS and Windows do), which it is added to.

    Letters, digits, ``_ . -`` only (no ``/``, ``..``, NUL or control characters), no leading
    dot or dash, no trailing dot, not a Windows device name (``con``, ``lpt1``), at most
    :data:`MAX_STEM_BYTES` bytes of UTF-8. A name cut short, or one whose slug another name
    took already, ends in ``-`` and a hash of the name, so it stays the same run after run."""
    slug = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip("._-") or "student"
    if _WINDOWS_RESERVED.fullmatch(slug.split(".")[0]):
        slug = "_" + slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    stem = _bounded(slug, MAX_STEM_BYTES)
    if stem != slug or stem.casefold() in used:
        stem = _bounded(slug, MAX_STEM_BYTES - _HASH_CHARS - 1) + "-" + digest[:_HASH_CHARS]
    n = 2
    base = stem
    while stem.casefold() in used:  # the same name twice: a counter
        stem, n = f"{base}-{n}", n + 1
    used.add(stem.casefold())
    return stem


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, at a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore").rstrip("._-") or "student"
