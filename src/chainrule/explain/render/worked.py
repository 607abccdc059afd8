"""The worked example as format-neutral blocks: what to show, in which order.

Text, Markdown and LaTeX renderers all format this one outline, so they show the same
equations with the same numbers; each only decides how a heading, an equation chain or a
matrix looks. An equation is written twice, plain text and LaTeX, from the notation module.
"""

from __future__ import annotations

import numpy as np

from chainrule.explain.lens.chain_data import Expansion, Factor
from chainrule.errors import ChainruleError
from chainrule.explain.notation import Symbol
from chainrule.explain.render import sections, sections_backward
from chainrule.explain.render.blocks import Equation, Heading, Outline, latex_number
from chainrule.explain.element_names import element_key
from chainrule.explain.numfmt import DEFAULT_PRECISION, Precision, number, rounding_note
from chainrule.explain.trace import Trace

PHASES = ("forward", "backward", "update")


class _Writer:
    def __init__(self, trace: Trace, precision: Precision, example: int | None = None) -> None:
        self.trace, self.spec, self.p = trace, trace.spec, precision
        self.example = example  # the one example of a batch to write out (0-based), or None
        self._chains: dict[int, object] = {}  # step number → its ElementChains, made once
        self.depth = len(self.spec.layers) - 1
        self.blocks: list = []
        self.symbolic = None

    def element(self, step, key: str) -> Expansion:
        """A parameter element's chain: the step's, or computed now for a network too
        large to list them all (the lens over the step's graph)."""
        if key in step.chain.parameters:
            return step.chain.parameters[key]
        if step.number not in self._chains:
            from chainrule.explain.lens.chain import ElementChains

            self._chains[step.number] = ElementChains(step.graph, self.spec)
        return self._chains[step.number](key)

    def symbolic_equation(self, step_number: int, expansion: Expansion) -> Equation | None:
        """∂E/∂θ as sympy derived it from the closed-form loss (first step only)."""
        found = (self.symbolic.gradients.get(expansion.key)
                 if self.symbolic and step_number == 1 else None)
        if found is None:
            return None
        lhs = Symbol(f"{expansion.symbol} (symbolic)", expansion.latex)
        return Equation(lhs, [(found.text, found.latex), self.num(found.value)])

    def num(self, value: float) -> tuple[str, str]:
        text = number(value, self.p)
        return text, latex_number(text)

    def factor_product(self, factors: list[Factor]) -> tuple[str, str]:
        texts = [f"({number(f.value, self.p)})" for f in factors]
        latexes = [f"({latex_number(number(f.value, self.p))})" for f in factors]
        return "".join(texts), "".join(latexes)

    def expansion(self, e: Expansion, lhs: Symbol | None = None) -> Equation:
        """δ or ∂E/∂θ: the general form, the numbers plugged in, the value."""
        lhs = lhs or Symbol(e.symbol, e.latex)
        parts: list[tuple[str, str]] = []
        if e.rule:  # δ¹₁ = ∂a¹₁/∂z¹₁ · Σₖ w²₁ₖ δ²ₖ
            parts.append((e.rule.split(" = ", 1)[1], e.rule_latex.split(" = ", 1)[1]))
        elif e.factors:
            parts.append((" · ".join(f.symbol for f in e.factors),
                          r" \cdot ".join(f.latex for f in e.factors)))
        else:
            parts.append((" + ".join(" ".join(f.symbol for f in t.factors) for t in e.terms),
                          " + ".join(" ".join(f.latex for f in t.factors) for t in e.terms)))
        sums = [self.factor_product(t.factors) for t in e.terms]
        if e.factors and e.terms:  # a local factor times the sum over the paths that meet
            head = self.factor_product([f for f in e.factors if not f.formula.startswith("Σ")])
            parts.append((f"{head[0]} · [{' + '.join(s[0] for s in sums)}]",
                          rf"{head[1]} \cdot \bigl[{' + '.join(s[1] for s in sums)}\bigr]"))
        elif e.factors:
            parts.append(self.factor_product(e.factors))
        else:
            parts.append((" + ".join(s[0] for s in sums), " + ".join(s[1] for s in sums)))
        parts.append(self.num(e.value))
        return Equation(lhs, parts)


def describe(trace: Trace) -> tuple[str, str]:
    spec = trace.spec
    acts = spec.activations
    activations = acts[0] if len(set(acts)) == 1 else " → ".join(acts)
    batch = f", a batch of {len(spec.inputs)} examples" if spec.batched else ""
    opt = spec.optimizer
    extras = []
    if opt.momentum:
        extras.append(f"momentum {opt.momentum:g}" + (" (Nesterov)" if opt.nesterov else ""))
    if opt.weight_decay:
        extras.append(f"weight decay {opt.weight_decay:g}")
    optimizer = "gradient descent" + (f" with {', '.join(extras)}" if extras else "")
    title = f"{spec.name}: a {spec.architecture} network"
    subtitle = (f"{activations} activation, {spec.loss} loss{batch}; {optimizer}, "
                f"learning rate η = {spec.learning_rate:g}")
    return title, subtitle


def outline(trace: Trace, precision: Precision = DEFAULT_PRECISION, param: str | None = None,
            only: str | None = None, symbolic=None, example: int | None = None) -> Outline:
    """Every block of the worked example; ``param`` (any spelling: W1[0,1], w¹₁₂) focuses
    on one parameter element, anywhere in a network of any size; ``example`` writes out
    example N of a batch unit by unit, numbered from 1 as the text writes ⁽ᴺ⁾; ``symbolic``
    (a :class:`chainrule.verify.symbolic.SymbolicResult`) adds each gradient's closed-form
    derivative next to its chain-rule product in the first step."""
    if only is not None and only not in PHASES:
        raise ChainruleError(f"--only: expected one of {', '.join(PHASES)}, got {only!r}")
    if param is not None:
        param = element_key(param, {n: np.shape(v) for n, v in trace.parameters.items()})
    writer = _Writer(trace, precision, _example(trace, example))
    writer.symbolic = symbolic
    title, subtitle = describe(trace)
    subtitle += f"; numbers computed in float64, {rounding_note(precision)}"
    for step in trace.steps:
        if len(trace.steps) > 1:
            writer.blocks.append(Heading(f"Step {step.number} of {len(trace.steps)}", 1))
        if param is not None:
            sections_backward.focus(writer, step, param)
            continue
        if only in (None, "forward"):
            sections.setup(writer, step)
            sections.forward(writer, step)
            sections.loss(writer, step)
        if only in (None, "backward"):
            sections_backward.backward(writer, step)
            sections_backward.gradients(writer, step)
        if only in (None, "update"):
            sections_backward.update(writer, step)
    return Outline(title, subtitle, writer.blocks)


def _example(trace: Trace, example: int | None) -> int | None:
    """``--example N`` (from 1, as the text numbers examples) as a 0-based row."""
    if example is None:
        return None
    if not trace.spec.batched:
        raise ChainruleError("--example: the network has one example, not a batch")
    count = len(trace.spec.inputs)
    if isinstance(example, bool) or not isinstance(example, int) or not 1 <= example <= count:
        raise ChainruleError(f"--example: expected 1 to {count} (the batch's examples, "
                             f"numbered from 1 as the text writes ⁽ⁿ⁾), got {example!r}")
    return example - 1
