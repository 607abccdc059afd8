"""Judging someone's numbers for a training step, at the precision they were written with.

``answers`` maps a quantity, named as in the trace's JSON, to a value::

    {"updated.W1[0][1]": "0.4001",        # one element: [0][1] or [0,1]
     "gradients.b1": ["-0.0011", "-0.0013"],   # a whole array (or a row of one)
     "forward.loss": 0.000427, "loss_after": "4.133e-4"}

Sections are ``parameters``, ``forward``, ``backward``, ``gradients`` and ``updated``, plus
``loss_after``; nested mappings (``{"updated": {"W1": ...}}``, a trace's own JSON) work too.

**Rounded answers are judged at the precision they were given.** A number written with d
decimals is correct when the true value rounds to it: |given − true| ≤ ½·10⁻ᵈ, plus a hair
for float error (1e-10 relative + 1e-14). Scientific notation counts significant digits:
``2.0006e-01`` is judged to ±½·10⁻⁵. Only text carries a precision (files are read keeping
it, see :func:`load_answers`); a Python int or float is taken as exact, judged to the hair
alone, so ``0.2001`` as a float is wrong where ``"0.2001"`` is right. A whole array of the wrong
shape is wrong (``shape (1, 2), expected (2,)``), its numbers still compared in reading order
so the mistake behind them can be named; a one-element list is accepted for a single number.

A malformed answer raises :class:`~chainrule.errors.SpecError` naming the answer key.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from chainrule.errors import SpecError
from chainrule.spec.network import Spec
from chainrule.verify.answer_files import flatten, load_answers
from chainrule.verify.judging import (
    BLANK_NOTE, WRITTEN, AnswerReport, AnswerRow, Cell, Truth, network_truth,
)
from chainrule.verify.diagnosis import MAX_PAIRED_WRONG
from chainrule.verify.marking import judge
from chainrule.verify.reference import as_spec, quantity_names

__all__ = ["AnswerReport", "AnswerRow", "judge_answers", "load_answers", "parse_number",
           "answer_cells", "checked_answers", "judge_written"]

PARAMETER_SECTIONS = ("parameters", "gradients", "updated")
SECTIONS = ("updated", "gradients", "forward", "backward", "parameters")  # suggestion order
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")  # 0,4523: one comma and no point
MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\ufe63": "-",
                             "\uff0d": "-"})  # −, –, ‒, ﹣, －: as printed or typed
BLANKS = ("", "...", "…", "?", "-", "null", "none", "~", "n/a")  # an answer left out
BLANK_TEXT = "(blank)"  # how a blank answer is shown
NOT_A_NUMBER = "not a number"  # a worksheet's answer that is not one (a wrong answer)
KEY = re.compile(r"(?P<name>[^\[\]]*?)\s*(?P<index>(?:\[[^\[\]]*\]\s*)*)")
EXAMPLE = "updated.W1[0][1]"  # a well-formed network key, for messages
Unknown = Callable[[dict[str, np.ndarray], str], str]  # (quantities, a name not among them)


def judge_answers(spec: Spec | str | Path | dict, answers: Mapping[str, Any],
                  source: str = "answers", marking: str = "carried-forward") -> AnswerReport:
    """Judge ``answers`` against the correct step of ``spec`` and name the mistake behind the
    wrong ones (see the module docstring for names, values and precision; ``marking`` is
    "carried-forward" or "strict", see chainrule.verify.marking)."""
    from chainrule.verify.symbols import read_symbols

    spec = as_spec(spec)
    truth = network_truth(spec)
    answers, read = read_symbols(spec, truth.values, checked_answers(answers))
    report = judge_written(truth, answers, source, marking=marking)
    if read:  # named as a worksheet prints them (δ²₁, ∂E/∂w¹₁₂): say how they were read
        shown = ", ".join(f"{symbol} as {name}" for symbol, name in read[:4])
        report.notes.insert(0, f"Read the worksheet's symbols: {shown}"
                               f"{', …' if len(read) > 4 else ''}.")
    return report


def checked_answers(answers: Any) -> dict[str, Any]:
    """``answers`` flattened (``{"updated": {"W1": v}}`` → ``updated.W1``); a SpecError if it
    is not a mapping or holds nothing."""
    if not isinstance(answers, Mapping):
        raise SpecError(f"answers: expected a mapping from quantity to value, "
                        f"got {type(answers).__name__}")
    answers = flatten(answers)
    if not answers:
        raise SpecError("answers: no answers given")
    return answers


def judge_written(truth: Truth, answers: dict[str, Any], source: str,
                  unknown: Unknown | None = None, example: str = EXAMPLE,
                  marking: str = "carried-forward", asked: float | None = None) -> AnswerReport:
    """Judge flat written ``answers`` against ``truth`` at the precision each was written with;
    ``unknown(values, name)`` words what is wrong with a name not in ``truth`` (a network's
    parameters and sections by default), ``example`` is a well-formed key for messages.

    ``asked``: a worksheet's answers, judged to this half unit whatever was written (the
    precision the worksheet asked for); its names are the key's own, so no other book's
    numbering is read into them, and an answer that is not a number is a wrong answer, not
    an error."""
    read = _SheetReading(unknown, example, asked)
    try:
        cells = [cell for key, value in answers.items()
                 for cell in read.cells(truth.values, key, value)]
    except SpecError:  # unreadable as chainrule names things; perhaps in another convention
        if truth.spec is None:
            raise
        report = _in_a_convention(truth, answers, source, read, marking, None)
        if report is None:
            raise
        return report
    report = judge(truth, cells, WRITTEN, source, read.precision, marking)
    if truth.spec is None or report.ok or len(report.wrong) > MAX_PAIRED_WRONG:
        return report  # (beyond the bound, no other reading is worth its minutes)
    # a mistake named consistently: no convention reads it right; but two mistakes that
    # cancel out in the results (the deltas' 1/N left out, the gradients divided by N) are
    # less likely than a book's convention leaving no answer wrong
    if report.diagnosis is None or len(report.diagnoses) > 1:
        report = _in_a_convention(truth, answers, source, read, marking, report)
    return _as_truncated(truth, cells, source, marking, report, read.precision)


class _SheetReading(NamedTuple):
    """How a sheet's answers are read into cells (see :func:`judge_written`); not a way of
    working the step, which is a :class:`chainrule.verify.readings.Reading`."""

    unknown: Unknown | None
    example: str
    asked: float | None

    def cells(self, truth: dict[str, np.ndarray], key: str, value: Any) -> list[Cell]:
        cells = answer_cells(truth, key, value, self.unknown, self.example,
                             numbers_only=self.asked is None)
        if self.asked is None:
            return cells
        return [replace(cell, half_unit=np.full(np.shape(cell.half_unit), self.asked))
                for cell in cells]

    @property
    def precision(self) -> str:
        if self.asked is None:
            return "at the precision given"
        return f"to {float(Decimal(self.asked * 2).normalize()):g} (as asked)"


# At least this many answers, all smaller in size than they should be, before a sheet is read
# as chopped: one alone is as likely a mistake's number (marking names a single truncated
# answer "close" when no mistake explains it).
CHOPPED_EVIDENCE = 2


def _as_truncated(truth: Truth, cells: list[Cell], source: str, marking: str,
                  report: AnswerReport, precision: str) -> AnswerReport:
    """The report for numbers chopped rather than rounded, if that is what they look like:
    every answer not credited is smaller in size than the correct number, and judged to a
    whole unit of its last digit (chopping's error) rather than half of one, every answer is
    then credited and no mistake named. Answers credited only so are ``close``, noted as
    truncated; otherwise ``report`` as it is."""
    from chainrule.verify.judging import CLOSE, CREDITED

    missed = [row for row in report.rows if row.status not in CREDITED and row.status != "blank"]
    if report.convention or len(missed) < CHOPPED_EVIDENCE or any(
            row.note.startswith("shape") or not isinstance(row.expected, float) or
            abs(float(plain_number(row.given) or "nan")) > abs(row.expected) for row in missed):
        return report
    chopped = [replace(cell, half_unit=cell.half_unit * 2) for cell in cells]
    other = judge(truth, chopped, WRITTEN, source, precision, marking)
    if other.wrong or other.diagnosis is not None:
        return report
    credited = {row.quantity for row in report.rows if row.status in CREDITED}
    report.rows = [row if row.quantity in credited or row.status == "blank" else
                   replace(row, status=CLOSE, mistakes=(), note="truncated rather than rounded")
                   for row in other.rows]
    report.diagnosis, report.diagnoses, report.candidates = None, (), ()
    report.explained, report.first_wrong, report.uncertain = 0, None, ""
    report.two_computations = None
    report.notes = ["The numbers look chopped (truncated), not rounded: each is judged to a "
                    "whole unit of its last digit."] + [
        f"{row.quantity}: {row.note}." for row in report.rows if row.note]
    return report


def _as_written(truth: dict[str, np.ndarray], written: str, key: str, label: str) -> str:
    """A row's label as the sheet wrote it: the written key, then any element index the
    reading added to it (a whole array answered at once)."""
    name, index = parse_key(truth, key)
    return written.strip() + label[len(name + "".join(f"[{i}]" for i in index)):]


def _in_a_convention(truth: Truth, answers: dict[str, Any], source: str, read: _SheetReading,
                     marking: str, report: AnswerReport | None) -> AnswerReport | None:
    """The report under the convention (chainrule.verify.conventions) that credits the most
    answers, if one credits more than chainrule's own reading (``report``; None where the
    sheet cannot be read chainrule's way), saying which it was."""
    from chainrule.verify.conventions import DESCRIPTIONS, readings, scaled
    from chainrule.verify.judging import CREDITED

    def credited(r: AnswerReport | None) -> int:
        return -1 if r is None else sum(1 for row in r.rows if row.status in CREDITED)

    best, name = report, None
    for convention, keyed, scale in readings(truth.spec, answers,
                                             renamed=read.asked is None):
        try:  # rows keep the names as written ("W1[1][2]" read as W1[0][1])
            cells = [replace(scaled(cell, scale),
                             quantity=_as_written(truth.values, as_given, key, cell.quantity))
                     for (key, value), as_given in zip(keyed.items(), answers)
                     for cell in read.cells(truth.values, key, value)]
        except SpecError:  # the sheet cannot be read this way (an index out of range)
            continue
        other = judge(truth, cells, WRITTEN, source, read.precision, marking)
        # a convention reads a sheet worked correctly in it: no answer left wrong
        if not other.wrong and credited(other) > credited(best):
            best, name = other, convention
    if name is not None:
        best.notes.insert(0, f"Read in another book's convention: {DESCRIPTIONS[name]}.")
        best.convention = name
    return best


def answer_cells(truth: dict[str, np.ndarray], key: str, value: Any,
                 unknown: Unknown | None = None, example: str = EXAMPLE,
                 numbers_only: bool = True) -> list[Cell]:
    """The cells of one answer: one per element, or one for a whole array of the wrong shape.
    A value that is not a number is a SpecError, or with ``numbers_only`` False (a worksheet's
    answer), a wrong answer noted "not a number"."""
    quantity, index = parse_key(truth, key, unknown, example)
    expected = np.asarray(truth[quantity])[index]
    label = quantity + "".join(f"[{i}]" for i in index)
    if is_blank(value):  # left out: not credited, and no mistake is read into it
        return [Cell(label, quantity, index, BLANK_TEXT, np.full(np.shape(expected), np.nan),
                     np.zeros(np.shape(expected)), BLANK_NOTE)]
    try:
        texts, halves = _texts(value, key)
    except SpecError:
        if numbers_only:
            raise
        return [Cell(label, quantity, index, str(value).strip(),
                     np.full(np.shape(expected), np.nan), np.zeros(np.shape(expected)),
                     NOT_A_NUMBER)]
    values = np.zeros(texts.shape)
    for sub in np.ndindex(texts.shape):
        values[sub] = np.nan if texts[sub] == BLANK_TEXT else float(texts[sub])
    if expected.ndim == 0 and texts.size == 1:  # a number in brackets is still the number
        texts, values, halves = texts.reshape(()), values.reshape(()), halves.reshape(())
    if texts.shape != expected.shape:
        note = f"shape {texts.shape}, expected {expected.shape}"
        return [Cell(label, quantity, index, _shown(texts), values, halves, note)]
    return [Cell(label + "".join(f"[{i}]" for i in sub), quantity, index + sub, texts[sub],
                 values[sub], halves[sub], BLANK_NOTE if texts[sub] == BLANK_TEXT else "")
            for sub in np.ndindex(expected.shape)]


def parse_key(truth: dict[str, np.ndarray], key: Any, unknown: Unknown | None = None,
              example: str = EXAMPLE) -> tuple[str, tuple[int, ...]]:
    """``"updated.W1[0][1]"`` → ``("updated.W1", (0, 1))``; a SpecError names a bad key."""
    match = KEY.fullmatch(str(key).strip())
    if not isinstance(key, str) or match is None or not match["name"]:
        raise SpecError(f"answers: {_q(key)}: expected a quantity like \"{example}\"")
    name = match["name"]
    if name not in truth:
        raise SpecError(f"answers: {_q(key)}: {(unknown or _unknown)(truth, name)}")
    shape = np.shape(truth[name])
    parts = [p.strip() for group in re.findall(r"\[([^\[\]]*)\]", match["index"])
             for p in group.split(",")]
    if len(parts) > len(shape):
        raise SpecError(f"answers: {_q(key)}: {len(parts)} indices for {name} of shape "
                        f"{shape}")
    index = []
    for axis, part in enumerate(parts):
        if not (part.isascii() and part.isdigit()):
            raise SpecError(f"answers: {_q(key)}: index {part!r} is not a whole number ≥ 0")
        if int(part) >= shape[axis]:
            raise SpecError(f"answers: {_q(key)}: index {int(part)} is out of range for axis "
                            f"{axis} of {name} (shape {shape})")
        index.append(int(part))
    return name, tuple(index)


def parse_number(value: Any, where: str) -> tuple[str, float]:
    """(text, half a unit of its last digit) of one given number; a SpecError if not one.

    Text keeps the precision written: "0.2001" → 0.00005, "2.0006e-01" → 0.000005. A Python
    int or float was not written by hand and has no precision of its own: it counts as exact
    (half unit 0), judged to the hair alone (1e-10 relative).
    """
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise SpecError(f"answers: {where}: expected a number, got {value!r}")
    if isinstance(value, (int, np.integer, float, np.floating)):
        if not math.isfinite(value):
            raise SpecError(f"answers: {where}: expected a finite number, got {value}")
        return repr(float(value)) if isinstance(value, (float, np.floating)) else \
            str(int(value)), 0.0
    if isinstance(value, (str, Decimal)):
        text = plain_number(str(value))
        if text is not None:
            return text, 0.5 * 10.0 ** Decimal(text).as_tuple().exponent
    raise SpecError(f"answers: {where}: expected a number, got {value!r}")


def is_blank(value: Any) -> bool:
    """Whether an answer was left out: nothing, an empty cell, "...", "?", "null"."""
    return value is None or value is Ellipsis or (
        isinstance(value, str) and value.strip().lower() in BLANKS)


def plain_number(text: str) -> str | None:
    """A written number as Python reads it, or None: spaces dropped, a typographic minus
    (− – ‒) as "-", a decimal comma (0,4523; one comma and no point) as a point. The digits
    written are kept, so the precision is the one written."""
    plain = text.strip().translate(MINUS_SIGNS).replace(" ", "").replace("\u00a0", "")
    if DECIMAL_COMMA.fullmatch(plain):
        plain = plain.replace(",", ".")
    return plain if NUMBER.fullmatch(plain) else None


def _texts(value: Any, key: str) -> tuple[np.ndarray, np.ndarray]:
    """A nested list of numbers as arrays of their texts and half units; ragged is refused."""
    def walk(item: Any, path: str) -> tuple[Any, tuple[int, ...]]:
        """(nested [text, half] pairs, the shape of the numbers): a number has shape (),
        so a row mixing numbers and lists, or lists of different lengths, is ragged."""
        if isinstance(item, (list, tuple, np.ndarray)):
            walked = [walk(child, f"{path}[{i}]") for i, child in enumerate(item)]
            shapes = {shape for _, shape in walked}
            if len(shapes) > 1:
                raise SpecError(f"answers: {_q(key)}: rows of different lengths at "
                                f"{path or 'the top'}")
            return [pair for pair, _ in walked], (len(walked), *next(iter(shapes), ()))
        if is_blank(item):  # one element left out of a row: blank, as a whole answer would be
            return [BLANK_TEXT, 0.0], ()
        return list(parse_number(item, _q(key) + (f" element {path}" if path else ""))), ()

    pairs = np.array(walk(value, "")[0], dtype=object)
    if pairs.ndim == 0 or pairs.shape[-1] != 2:  # an empty list
        raise SpecError(f"answers: {_q(key)}: expected a number or a list of numbers, "
                        f"got an empty list")
    return pairs[..., 0], pairs[..., 1].astype(float)


def _shown(texts: Any) -> str:
    if isinstance(texts, np.ndarray) and texts.ndim:
        return "[" + ", ".join(_shown(row) for row in texts) + "]"
    return str(texts[()] if isinstance(texts, np.ndarray) else texts)


def _q(key: Any) -> str:
    return f"\"{key}\"" if isinstance(key, str) else repr(key)


def _unknown(truth: dict[str, np.ndarray], name: str) -> str:
    """What is wrong with a quantity name, with the names this network does have."""
    section, _, rest = name.partition(".")
    parameters = quantity_names(truth, "updated")
    if section in PARAMETER_SECTIONS and rest:
        return f"no parameter {rest} (this network has {', '.join(parameters)})"
    if section in ("forward", "backward") and rest:
        known = ", ".join(quantity_names(truth, section))
        return f"no {section} quantity {rest} (this network has {known})"
    near = [f"{s}.{name}" for s in SECTIONS if f"{s}.{name}" in truth]
    near += difflib.get_close_matches(name, list(truth), n=1)
    hint = f" (did you mean \"{near[0]}\"?)" if near else ""
    return (f"unknown quantity{hint}; expected forward.<name>, backward.<name>, "
            f"parameters.<parameter>, gradients.<parameter>, updated.<parameter> or loss_after")

