"""Exercises as plain data: questions, exercises, a problem set, and its answer-key JSON.

The key file (schema ``chainrule.exercises/1``, written as ``key.json``) holds everything the
grader needs: each exercise's network as a spec (what :func:`chainrule.parse_spec` reads) and
its questions with their answers. The grader recomputes every answer from the spec, so an
edited or damaged key is caught rather than trusted.

Ids follow the trace: ``3.gradients.W1[1,0]`` is question ``gradients.W1[1,0]`` (NumPy index,
from 0) of exercise 3. People see the label (``3c``) and the textbook symbol (∂E/∂w¹₂₁, units
from 1); answer files may use either the id or the label.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.frozen import Frozen
from chainrule import inputs
from chainrule.errors import ChainruleError, SpecError
from chainrule.expr.program import is_expression_spec
from chainrule.fileset import finish_interrupted

SCHEMA = "chainrule.exercises/1"
# A class's key holds every student's networks: 5,000 students of three 2-2-1 exercises are
# about 25 MB. Checked when a key is written as when it is read.
MAX_KEY_BYTES = 64 * 2**20


class ExerciseError(ChainruleError, ValueError):
    """Exercises cannot be made as asked, or a key or answers file is malformed; the message
    names the file (and line, key or column) and what was expected."""


@dataclass(unsafe_hash=True)
class Question(Frozen):
    """One asked number."""

    id: str  # "3.gradients.W1[1,0]": exercise number, then the quantity as the trace names it
    label: str  # "3c": what the worksheet prints
    quantity: str  # "gradients.W1[1,0]"
    symbol: str  # "∂E/∂w¹₂₁"
    latex: str  # r"\frac{\partial E}{\partial w^{1}_{21}}"
    prompt: str  # "the gradient ∂E/∂w¹₂₁"
    prompt_latex: str
    answer: float  # full precision

    def rounded(self, precision: int) -> str:
        return f"{self.answer:.{precision}f}"

    @property
    def exercise(self) -> int:
        return int(self.id.split(".", 1)[0])


@dataclass(unsafe_hash=True)
class Exercise(Frozen):
    number: int  # from 1
    spec: dict[str, Any]  # the network, or the circuit (expression, at), as a spec file holds it
    questions: tuple[Question, ...]


@dataclass(unsafe_hash=True)
class Variant(Frozen):
    """One student's exercises: the set's, drawn for their id
    (:func:`chainrule.exercises.roster.entropy`)."""

    student: str  # the roster's id
    name: str
    exercises: tuple[Exercise, ...]


@dataclass(unsafe_hash=True)
class ProblemSet(Frozen):
    """A whole set: what was asked for, and the exercises drawn. A class's set holds every
    student's variant too; its own exercises are the set drawn without a student (the
    teacher's copy, never graded)."""

    title: str
    level: str
    precision: int  # decimals every answer is rounded to
    seed: int
    options: dict[str, Any]  # arch, activation, loss, count, decimals, learning_rate, batch_size
    exercises: tuple[Exercise, ...]
    generator: str = ""  # "chainrule 0.1.0"
    variants: tuple[Variant, ...] = ()  # one per student of a roster
    student: str = ""  # the id of the student this set was drawn for ("" for everyone)
    name: str = ""  # that student's name, as the roster gives it
    _by_ref: dict[str, Question] = field(default_factory=dict, compare=False, repr=False)

    @property
    def questions(self) -> list[Question]:
        return [q for exercise in self.exercises for q in exercise.questions]

    def question(self, ref: str) -> Question | None:
        """The question with this id or label (``3.gradients.W1[1,0]`` or ``3c``)."""
        if not self._by_ref:
            symbols: dict[str, list[Question]] = {}
            for q in self.questions:  # the symbol as the key printed it, in its notation
                for name in {_normal_ref(q.symbol), _normal_ref(q.latex)}:
                    symbols.setdefault(name, []).append(q)
                    self._by_ref.setdefault(f"{q.exercise}.{name}", q)
            for name, found in symbols.items():
                if len(found) == 1:  # a symbol of one exercise only needs no number
                    self._by_ref.setdefault(name, found[0])
            for q in self.questions:
                self._by_ref[q.id] = q
                self._by_ref[q.label] = q
        ref = _normal_ref(ref)
        return self._by_ref.get(ref) or self._by_ref.get(ref.lower())  # a label: 3C is 3c

    def for_student(self, ref: str) -> "ProblemSet | None":
        """The set of the student with this id (or, failing that, name), compared without
        case; None when no variant is theirs."""
        wanted = str(ref).strip().casefold()
        for key in ("student", "name"):
            for v in self.variants:
                if getattr(v, key).casefold() == wanted and wanted:
                    return self.variant_set(v)
        return None

    def variant_set(self, variant: Variant) -> "ProblemSet":
        return ProblemSet(self.title, self.level, self.precision, self.seed, self.options,
                          variant.exercises, self.generator, student=variant.student,
                          name=variant.name)

    def student_sets(self) -> list["ProblemSet"]:
        """Every student's set, in the roster's order; a set without a roster is its own."""
        return [self.variant_set(v) for v in self.variants] or [self]

    def to_dict(self) -> dict[str, Any]:
        data = {
            "schema": SCHEMA, "title": self.title, "level": self.level,
            "precision": self.precision, "seed": self.seed, "options": self.options,
            "generator": self.generator,
            "exercises": _exercises_dict(self.exercises, self.precision),
        }
        if self.student:
            data["student"] = {"id": self.student, "name": self.name}
        if self.variants:  # each variant's networks and answers; its questions are the set's
            data["variants"] = [{"student": v.student, "name": v.name, "exercises": [
                {"number": e.number, "spec": e.spec,
                 "answers": [q.answer for q in e.questions]} for e in v.exercises]}
                for v in self.variants]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _exercises_dict(exercises: tuple[Exercise, ...], precision: int) -> list[dict[str, Any]]:
    return [{
        "number": e.number, "spec": e.spec,
        "questions": [{
            "id": q.id, "label": q.label, "quantity": q.quantity, "symbol": q.symbol,
            "latex": q.latex, "prompt": q.prompt, "prompt_latex": q.prompt_latex,
            "answer": q.answer, "rounded": q.rounded(precision),
        } for q in e.questions],
    } for e in exercises]


def _normal_ref(ref: str) -> str:
    return str(ref).strip().replace(" ", "")


# --- reading a key -----------------------------------------------------------------------------


def load_key(path: str | Path) -> ProblemSet:
    """The problem set of a ``key.json``; an :class:`ExerciseError` names what is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / "key.json"
    finish_interrupted(path.parent)  # a set a killed `exercise new` left half written
    if not path.exists():
        raise ExerciseError(f"{path}: no such key file (chainrule exercise new writes key.json)")
    data = inputs.parse_json(inputs.read_text(path, ExerciseError, "key file",
                                              MAX_KEY_BYTES), path, ExerciseError)
    return key_from_dict(data, str(path))


def key_from_dict(data: Any, where: str = "key") -> ProblemSet:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ExerciseError(f"{where}: not an answer key (expected schema {SCHEMA!r}, "
                            f"found {found!r})")
    precision = data.get("precision")
    if not isinstance(precision, int) or isinstance(precision, bool) or not 0 <= precision <= 12:
        raise ExerciseError(f"{where}: precision: expected 0 to 12 decimals, got {precision!r}")
    exercises = data.get("exercises")
    parsed = _exercises(exercises, f"{where}: exercises")
    student = data.get("student") if isinstance(data.get("student"), dict) else {}
    return ProblemSet(title=str(data.get("title", "Exercises")), level=str(data.get("level", "")),
                      precision=precision, seed=_int(data.get("seed", 0), f"{where}: seed"),
                      options=dict(data.get("options") or {}), exercises=parsed,
                      generator=str(data.get("generator", "")),
                      variants=_variants(data.get("variants", []), parsed, where),
                      student=str(student.get("id", "")), name=str(student.get("name", "")))


MAX_VARIANTS = 5000


def _exercises(items: Any, where: str) -> tuple[Exercise, ...]:
    if not isinstance(items, list) or not items:
        raise ExerciseError(f"{where}: expected a non-empty list")
    return tuple(_exercise(item, f"{where}[{i}]", i + 1) for i, item in enumerate(items))


def _variants(items: Any, base: tuple[Exercise, ...], where: str) -> tuple[Variant, ...]:
    """Every student's exercises: the same questions as the set's, other numbers."""
    if not isinstance(items, list) or len(items) > MAX_VARIANTS:
        raise ExerciseError(f"{where}: variants: expected a list of at most {MAX_VARIANTS:,} "
                            f"students")
    out, seen = [], set()
    for i, item in enumerate(items):
        at = f"{where}: variants[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("student"), str) \
                or not item["student"]:
            raise ExerciseError(f"{at}: expected an object with student, name and exercises")
        if item["student"].casefold() in seen:
            raise ExerciseError(f"{at}: student {item['student']!r} has two variants")
        seen.add(item["student"].casefold())
        exercises = _variant_exercises(item.get("exercises"), base, f"{at}: exercises")
        out.append(Variant(item["student"], str(item.get("name", "")), exercises))
    return tuple(out)


def _variant_exercises(items: Any, base: tuple[Exercise, ...],
                       where: str) -> tuple[Exercise, ...]:
    """A variant's exercises: the set's questions with the variant's spec and answers."""
    if not isinstance(items, list) or len(items) != len(base):
        raise ExerciseError(f"{where}: expected {len(base)} exercises, as the set has")
    out = []
    for i, (item, own) in enumerate(zip(items, base)):
        at = f"{where}[{i}]"
        answers = item.get("answers") if isinstance(item, dict) else None
        if not isinstance(answers, list) or len(answers) != len(own.questions):
            raise ExerciseError(f"{at}: answers: expected {len(own.questions)} numbers, one per "
                                f"question of exercise {own.number}")
        if item.get("number") != own.number:
            raise ExerciseError(f"{at}: number: expected {own.number}, got "
                                f"{item.get('number')!r}")
        checked = _exercise({"number": own.number, "spec": item.get("spec"), "questions": [
            {**_question_dict(q), "answer": a} for q, a in zip(own.questions, answers)]},
            at, own.number)
        out.append(checked)
    return tuple(out)


def _question_dict(q: Question) -> dict[str, Any]:
    return {"id": q.id, "label": q.label, "quantity": q.quantity, "symbol": q.symbol,
            "latex": q.latex, "prompt": q.prompt, "prompt_latex": q.prompt_latex}


def evaluate_circuit(spec: dict[str, Any], where: str = "circuit"):
    """A circuit's expression spec evaluated (:func:`chainrule.expr.program.evaluate`); a bad
    spec is one :class:`ExerciseError` naming ``where``."""
    from chainrule.expr.program import evaluate, load_expression_spec

    try:
        program, at = load_expression_spec(spec, where)
        return evaluate(program, at)
    except ChainruleError as error:
        raise ExerciseError(f"{where}: spec: {error}") from None


def _exercise(item: Any, where: str, number: int) -> Exercise:
    from chainrule.spec.network import parse_spec

    if not isinstance(item, dict):
        raise ExerciseError(f"{where}: expected an object with number, spec and questions")
    if item.get("number") != number:
        raise ExerciseError(f"{where}: number: expected {number}, got {item.get('number')!r}")
    spec = item.get("spec")
    if is_expression_spec(spec):  # level circuit: an expression spec, checked by evaluating it
        evaluate_circuit(spec, where)
    else:
        try:
            parse_spec(spec)
        except SpecError as error:
            raise ExerciseError(f"{where}: spec: {error}") from None
    questions = item.get("questions")
    if not isinstance(questions, list) or not questions:
        raise ExerciseError(f"{where}: questions: expected a non-empty list")
    return Exercise(number, spec, tuple(_question(q, f"{where}: questions[{i}]", number)
                                        for i, q in enumerate(questions)))


def _question(item: Any, where: str, number: int) -> Question:
    texts = ("id", "label", "quantity", "symbol", "latex", "prompt", "prompt_latex")
    if not isinstance(item, dict) or any(not isinstance(item.get(k), str) for k in texts):
        raise ExerciseError(f"{where}: expected an object with {', '.join(texts)} and answer")
    answer = item.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) \
            or not math.isfinite(answer):
        raise ExerciseError(f"{where}: answer: expected a number, got {answer!r}")
    if item["id"] != f"{number}.{item['quantity']}":
        raise ExerciseError(f"{where}: id {item['id']!r} does not match exercise {number} "
                            f"and quantity {item['quantity']!r}")
    return Question(**{k: item[k] for k in texts}, answer=float(answer))


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExerciseError(f"{where}: expected a whole number, got {value!r}")
    return value
