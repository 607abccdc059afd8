"""The backward sections of a worked example: deltas (with the shortcuts where the product
simplifies), gradients, the update, and one element's derivation (``--param``)."""

from __future__ import annotations

import numpy as np

from chainrule.explain.notation import (
    Symbol, element_key, parameter_symbol, parse_element_key, partial, quantity,
)
from chainrule.explain.numfmt import number
from chainrule.explain.profiles import current
from chainrule.explain.render.blocks import Equation, Heading, Paragraph
from chainrule.explain.render.sections import (
    LARGEST, MAX_ELEMENTS, MAX_LISTED, _examples, _rows, _upper_symbol, largest, matrix,
    one_hot,
)
from chainrule.explain.trace import Step


def backward(w, step: Step) -> None:
    w.blocks.append(Heading("Backward pass"))
    delta, rate = Symbol("δˡⱼ", r"\delta^{l}_{j}"), Symbol("∂E/∂zˡⱼ",
                                                          r"\partial E / \partial z^{l}_{j}")
    if current().name != "chainrule":  # the profile's letters, its layer left out
        delta = quantity("delta", None, "j")
        rate = partial("E", quantity("z", None, "j"))
    w.blocks.append(Paragraph(
        f"Each delta {delta.text} = {rate.text} is the local derivative of the unit times what "
        "flows back into it: from the loss at the output, from every unit of the next layer "
        "elsewhere.",
        rf"Each delta ${delta.latex} = {rate.latex}$ is the local derivative "
        "of the unit times what flows back into it: from the loss at the output, from every "
        "unit of the next layer elsewhere."))
    if w.spec.batched:
        count = len(w.spec.inputs)
        w.blocks.append(Paragraph(
            f"E is the mean of the {count} examples' losses, so each example's δ already "
            f"includes the 1/{count} of that mean; a parameter's gradient is then the plain sum "
            "of its examples' shares.",
            f"$E$ is the mean of the {count} examples' losses, so each example's $\\delta$ "
            f"already includes the $1/{count}$ of that mean; a parameter's gradient is then the "
            "plain sum of its examples' shares."))
    deltas = step.chain.deltas
    listed = bool(_examples(w, step))
    for layer in range(w.depth, 0, -1):
        if listed:
            for key, expansion in deltas.items():
                if key.startswith(f"delta{layer}["):
                    w.blocks.append(w.expansion(expansion))
            if layer == w.depth:
                w.blocks += _shortcut(w, step)
        else:
            w.blocks.append(matrix(w, Symbol(f"delta{layer}", rf"\delta^{{{layer}}}"),
                                   step.backward[f"delta{layer}"],
                                   "one row per example" if w.spec.batched else ""))


# The output activations and losses whose δᴸ = ∂E/∂aᴸ · ∂aᴸ/∂zᴸ simplifies to (a − t)/scale,
# with the scale's words: the pairs a loss taken from the logits is computed as.
_SHORTCUTS = {("softmax", "cross_entropy"): "softmax with cross-entropy",
              ("sigmoid", "bce"): "sigmoid with binary cross-entropy"}


def _shortcut(w, step: Step) -> list:
    """The textbook shortcut δᴸⱼ = aᴸⱼ − tⱼ (over N examples and, for bce, K units), shown
    after the chain-rule product it simplifies, with the same numbers."""
    spec = w.spec
    pair = _SHORTCUTS.get((spec.activations[-1], spec.loss))
    if pair is None:
        return []
    depth, units = w.depth, spec.layers[-1]
    scale = (len(spec.inputs) if spec.batched else 1) * (units if spec.loss == "bce" else 1)
    divisor = (f"/{scale}", rf"/{scale}") if scale > 1 else ("", "")
    blocks = [Paragraph(
        f"For {pair} the product simplifies: δ{_sup(depth)}ⱼ = (a{_sup(depth)}ⱼ − tⱼ)"
        f"{divisor[0]}, the same numbers without ∂E/∂a, which overflows when a unit saturates.",
        f"For {pair} the product simplifies: $\\delta^{{{depth}}}_j = (a^{{{depth}}}_j - t_j)"
        f"{divisor[1]}$, the same numbers without $\\partial E/\\partial a$, which overflows "
        "when a unit saturates.")]
    a, t = _rows(step.forward[f"a{depth}"]), _rows(one_hot(w))
    for n in _examples(w, step):
        row = n or 0
        for j in range(units):
            a_s, t_s = quantity("a", depth, j, example=n), quantity("t", None, j, example=n)
            value = (a[row, j] - t[row, j]) / scale
            numbers = (f"({number(a[row, j], w.p)} − {number(t[row, j], w.p)}){divisor[0]}",
                       f"({w.num(a[row, j])[1]} - {w.num(t[row, j])[1]}){divisor[1]}")
            blocks.append(Equation(quantity("delta", depth, j, example=n),
                                   [(f"({a_s} − {t_s}){divisor[0]}",
                                     f"({a_s.latex} - {t_s.latex}){divisor[1]}"),
                                    numbers, w.num(value)]))
    return blocks


def _sup(layer: int) -> str:
    return str(layer).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def gradients(w, step: Step) -> None:
    w.blocks.append(Heading("Gradients"))
    chain = step.chain.parameters
    if chain and len(chain) <= MAX_LISTED * 4:
        w.blocks.append(Paragraph(
            "Each gradient is the chain rule along every path from the parameter to the loss.",
            "Each gradient is the chain rule along every path from the parameter to the loss."))
        for key, expansion in chain.items():
            w.blocks.append(w.expansion(expansion))
            symbolic = w.symbolic_equation(step.number, expansion)
            if symbolic is not None:
                w.blocks.append(symbolic)
    else:
        w.blocks.append(Paragraph(
            f"Too many elements to list every chain ({_count(step.gradients)}); for each "
            f"parameter its {LARGEST} largest gradients (any other: --param).",
            f"Too many elements to list every chain ({_count(step.gradients)}); for each "
            f"parameter its {LARGEST} largest gradients."))
        for name, grad in step.gradients.items():
            for index in largest(grad):
                w.blocks.append(w.expansion(w.element(step, element_key(name, index))))
    for name, grad in step.gradients.items():
        w.blocks.append(matrix(w, partial("E", Symbol(name, _upper_symbol(name))), grad))


def update(w, step: Step) -> None:
    spec, opt = w.spec, w.spec.optimizer
    w.blocks.append(Heading("Update"))
    rule = "θ ← θ − η·∂E/∂θ" if opt.plain else "θ ← θ − η·v, v the SGD velocity"
    rule_l = (r"\theta \leftarrow \theta - \eta \frac{\partial E}{\partial \theta}" if opt.plain
              else r"\theta \leftarrow \theta - \eta v")
    w.blocks.append(Paragraph(f"{rule}, η = {spec.learning_rate:g}.",
                              f"${rule_l}$, $\\eta = {spec.learning_rate:g}$."))
    every = _count(step.parameters) <= MAX_ELEMENTS
    if not every:
        w.blocks.append(Paragraph(
            f"For each parameter, its {LARGEST} largest changes (all of them: --format json).",
            f"For each parameter, its {LARGEST} largest changes."))
    for name, before in step.parameters.items():
        change = np.asarray(step.updated[name]) - np.asarray(before)
        for index in (np.ndindex(np.shape(before)) if every else largest(change)):
            w.blocks.append(update_equation(w, step, name, index))
    for name, values in step.updated.items():
        w.blocks.append(matrix(w, Symbol(f"{name} (new)", _upper_symbol(name)), values))
    change = step.loss_after - step.loss
    w.blocks.append(Equation(Symbol("E after the update", r"E_{\text{after}}"),
                             [w.num(step.loss_after)]))
    if change == 0:
        w.blocks.append(Paragraph("The loss is unchanged.", "The loss is unchanged."))
        return
    direction = "lower" if change < 0 else "higher"
    by, before, after = (w.num(abs(change)), w.num(step.loss), w.num(step.loss_after))
    w.blocks.append(Paragraph(
        f"The loss is {direction} by {by[0]}: {before[0]} → {after[0]}.",
        f"The loss is {direction} by ${by[1]}$: ${before[1]} \\to {after[1]}$."))


def _count(arrays: dict) -> int:
    return sum(int(np.size(v)) for v in arrays.values())


def update_equation(w, step: Step, name: str, index: tuple[int, ...]) -> Equation:
    shared = name.startswith("b") and w.spec.bias == "shared_per_layer"
    theta = parameter_symbol(name, index, shared)
    old, new = step.parameters[name][index], step.updated[name][index]
    grad = step.gradients[name][index]
    if name in w.spec.frozen:
        return Equation(theta, [("frozen, unchanged", r"\text{frozen, unchanged}"), w.num(new)])
    if not w.spec.optimizer.plain:
        return Equation(theta, [(f"{number(old, w.p)} − η·v", rf"{w.num(old)[1]} - \eta v"),
                                w.num(new)], relation="←")
    g = partial("E", theta)
    eta = f"{w.spec.learning_rate:g}"
    return Equation(theta, [
        (f"{theta} − η·{g}", rf"{theta.latex} - \eta {g.latex}"),
        (f"{number(old, w.p)} − {eta}·({number(grad, w.p)})",
         rf"{w.num(old)[1]} - {eta} \cdot ({w.num(grad)[1]})"),
        w.num(new)], relation="←")


def focus(w, step: Step, key: str) -> None:
    """One parameter element's derivation: its chain, the deltas it rests on, its update."""
    expansion = w.element(step, key)
    name, index = parse_element_key(key)
    layer = int(name[1:])
    w.blocks.append(Heading(f"{expansion.symbol} ({key} in NumPy, from 0): the derivation of "
                            "one gradient"))
    w.blocks.append(w.expansion(expansion))
    symbolic = w.symbolic_equation(step.number, expansion)
    if symbolic is not None:
        w.blocks.append(symbolic)
    for later in range(w.depth, layer - 1, -1):
        for k, delta in step.chain.deltas.items():
            if k.startswith(f"delta{later}[") and (later > layer or _same_unit(k, expansion)):
                w.blocks.append(w.expansion(delta))
    w.blocks.append(update_equation(w, step, name, index))


def _same_unit(delta_key: str, expansion) -> bool:
    if expansion.delta:
        return delta_key == expansion.delta
    unit = parse_element_key(expansion.key)[1][-1]
    return parse_element_key(delta_key)[1][-1] == unit
