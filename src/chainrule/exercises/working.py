"""The correct working of one question, step by step: equations of the explain trace.

Every equation comes from the worked example :func:`chainrule.explain` renders
(:mod:`chainrule.explain.render.worked`), so a student's feedback shows the same steps,
with the same numbers, as the answer key.
"""

from __future__ import annotations

from chainrule.exercises.levels import split_key
from chainrule.exercises.model import Exercise
from chainrule.explain.numfmt import AsGiven, given_numbers
from chainrule.explain.notation import parameter_symbol, partial, quantity
from chainrule.explain.render.blocks import Equation
from chainrule.explain.render.worked import outline
from chainrule.explain.trace import Trace


class Working:
    """The equations of one trace, looked up by question (the outline is made once)."""

    def __init__(self, trace: Trace, precision: int) -> None:
        self.trace, self.precision = trace, precision
        blocks = outline(trace, precision).blocks
        self._by_symbol: dict[tuple[str, str], Equation] = {}
        for block in blocks:
            if isinstance(block, Equation):
                self._by_symbol.setdefault((block.lhs.text, block.relation), block)

    def steps(self, key: str) -> list[Equation]:
        """The equations leading to ``key`` (``"gradients.W1[1,0]"``), in order."""
        name, index = split_key(key)
        section, _, what = name.partition(".")
        spec = self.trace.spec
        if name == "forward.loss":
            depth = len(spec.layers) - 1
            outputs = [self._find(quantity("a", depth, j, example=n).text)
                       for n, j in self._units(depth)]
            return _present([*outputs, self._find("E")])
        if section == "forward":
            letter, layer = what[0], int(what[1:])
            example, unit = (index[0], index[1]) if spec.batched else (None, index[0])
            z = self._find(quantity("z", layer, unit, example=example).text)
            return _present([z] if letter == "z" else [z, self._find(
                quantity("a", layer, unit, example=example).text)])
        if section == "backward":
            layer = int(what[len("delta"):])
            example = index[0] if spec.batched else None
            later = [self._find(quantity("delta", l, j, example=n).text)
                     for l in range(len(spec.layers) - 1, layer, -1)
                     for n, j in self._units(l) if n == example]
            unit = index[-1]
            return _present([*later, self._find(quantity("delta", layer, unit,
                                                         example=example).text)])
        return self._parameter(section, what, index)

    def _parameter(self, section: str, name: str, index: tuple[int, ...]) -> list[Equation]:
        """The deltas the gradient rests on, the gradient, and (for an update) the update."""
        key = f"{name}[{','.join(map(str, index))}]"
        if key not in self.trace.chain.parameters:  # per-element chains left out: too big
            return []
        focus = [b for b in outline(self.trace, self.precision, param=key).blocks
                 if isinstance(b, Equation)]
        shared = name.startswith("b") and self.trace.spec.bias == "shared_per_layer"
        gradient = partial("E", parameter_symbol(name, index, shared)).text
        deltas = [e for e in focus if e.lhs.text.startswith("δ")]
        chain = [e for e in focus if e.lhs.text == gradient]
        update = [e for e in focus if e.relation == "←"] if section == "updated" else []
        return deltas + chain + update

    def _units(self, layer: int) -> list[tuple[int | None, int]]:
        spec = self.trace.spec
        units = range(spec.layers[layer])
        if spec.batched:
            return [(n, j) for n in range(len(spec.inputs)) for j in units]
        return [(None, j) for j in units]

    def _find(self, symbol: str) -> Equation | None:
        """None where the worked example shows a matrix only (a large batch)."""
        return self._by_symbol.get((symbol, "="))


WORKING_EXTRA_DIGITS = 2  # a worked solution shows two digits more than the answers


class Workings:
    """The worked solution of each exercise, made when first needed, at two digits more than
    the answers' ``precision``, in the notation profile the set was written in."""

    @classmethod
    def of(cls, problem_set) -> "Workings":
        return cls(problem_set.precision, problem_set.options.get("notation"))


    def __init__(self, precision: int, notation: str | None = None) -> None:
        self.digits = min(precision + WORKING_EXTRA_DIGITS, 10)
        self.notation = notation  # the profile the key's symbols were written in
        self._made: dict[int, tuple[Exercise, Working]] = {}
        self._steps: dict[tuple[int, str], list[Equation]] = {}

    def steps(self, exercise: Exercise, quantity: str) -> list[Equation]:
        """The equations of one question (a class asks the same ones many times)."""
        from chainrule.explain.profiles import using

        with using(self.notation):
            return self._steps_of(exercise, quantity)

    def _steps_of(self, exercise: Exercise, quantity: str) -> list[Equation]:
        key = id(exercise)
        if key not in self._made:
            from chainrule.exercises.kinds import special_sheet
            from chainrule.explain.trace import explain

            special = special_sheet(exercise.spec)
            digits = AsGiven(self.digits, given_numbers(exercise.spec))
            self._made[key] = (exercise, special.working(exercise.spec, digits) if special
                               else Working(explain(exercise.spec), digits))
        if (key, quantity) not in self._steps:
            self._steps[key, quantity] = self._made[key][1].steps(quantity)
        return self._steps[key, quantity]


def _present(equations: list[Equation | None]) -> list[Equation]:
    return [e for e in equations if e is not None]


def equation_text(equation: Equation) -> str:
    """``∂E/∂w¹₂₁ = … = (-0.0413)(0.2178) = -0.0090``: one line of plain text."""
    return f"{equation.lhs.text} {equation.relation} " + " = ".join(p[0] for p in equation.parts)


def equation_latex(equation: Equation) -> str:
    """The same equation as LaTeX math (without the dollars)."""
    return f"{equation.lhs.latex} {equation.relation_latex} " + " = ".join(
        p[1] for p in equation.parts)
