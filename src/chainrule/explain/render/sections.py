"""The sections of a worked example, each a function adding blocks for one step."""

from __future__ import annotations

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.tables.losses import LOSS_TABLE
from chainrule.explain.notation import (
    Symbol, element_key, parameter_symbol, parse_element_key, partial, quantity,
)
from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph
from chainrule.explain.numfmt import number
from chainrule.explain.trace import Step

MAX_UNIT_EXPANSION = 8  # write zˡⱼ = Σᵢ aᵢwᵢⱼ + bⱼ term by term up to this fan-in
MAX_LISTED = 48  # list per-unit equations of a batch up to this many; beyond, matrices only
MAX_ELEMENTS = 192  # list per-element gradients and updates up to this many; beyond, the largest
MAX_MATRIX = 256  # show a matrix in full up to this many numbers; beyond, a summary line
LARGEST = 3  # elements shown of each parameter too large to list

def _rows(values) -> np.ndarray:
    return np.atleast_2d(np.asarray(values, dtype=float))


def _examples(w, step: Step) -> list[int | None]:
    """Example indices to write out unit by unit: all of one, a small batch's, or the one
    ``--example`` asks for; none (matrices only) for layers too wide to list."""
    units = sum(w.spec.layers[1:])
    if not w.spec.batched:
        return [None] if units <= MAX_LISTED else []
    if w.example is not None:
        return [w.example] if units <= MAX_LISTED else []
    count = len(w.spec.inputs)
    return list(range(count)) if count * units <= MAX_LISTED else []


def matrix(w, symbol: Symbol, values, note: str = ""):
    """A Matrix block, or for one too large to read a line that sums it up (the numbers
    are all in ``--format json``)."""
    values = np.asarray(values, dtype=float)
    if values.size <= MAX_MATRIX:
        return Matrix(symbol, values, note)
    shape = "×".join(map(str, values.shape))
    finite = values[np.isfinite(values)]
    low, high = ((number(finite.min(), w.p), number(finite.max(), w.p)) if finite.size
                 else ("—", "—"))
    mean = number(float(np.mean(np.abs(finite))), w.p) if finite.size else "—"
    text = (f"{symbol.text}: {shape} numbers, from {low} to {high}, mean |x| {mean} "
            f"(all of them: --format json){' (' + note + ')' if note else ''}")
    return Paragraph(text, f"${symbol.latex}$: {shape} numbers, from ${low}$ to ${high}$, "
                           f"mean $|x|$ {mean}.")


def largest(values, count: int = LARGEST) -> list[tuple[int, ...]]:
    """The indices of the ``count`` largest |values|, largest first (ties: the first)."""
    flat = np.abs(np.asarray(values, dtype=float)).ravel()
    order = np.argsort(-flat, kind="stable")[:count]
    return [tuple(int(i) for i in np.unravel_index(k, np.shape(values))) for k in order]


def setup(w, step: Step) -> None:
    spec = w.spec
    when = "" if step.number == 1 else f" at the start of step {step.number}"
    w.blocks.append(Heading("Network and data" + when))
    sizes = ", ".join(f"{n}" for n in spec.layers)
    w.blocks.append(Paragraph(
        f"Layers of {sizes} units; each layer computes zˡ = aˡ⁻¹·Wˡ + bˡ and aˡ = f(zˡ), "
        "with a⁰ the input and Wˡ of shape (units in, units out). Units count from 1 as in "
        "textbooks: w¹₁₂ joins unit 1 of layer 0 to unit 2 of layer 1, the element W1[0,1] "
        "of NumPy's W1, which counts from 0.",
        rf"Layers of {sizes} units; each layer computes $z^{{l}} = a^{{l-1}} W^{{l}} + b^{{l}}$ "
        r"and $a^{l} = f(z^{l})$, with $a^{0}$ the input and $W^{l}$ of shape (units in, units "
        r"out). Units count from 1 as in textbooks: $w^{1}_{12}$ joins unit 1 of layer 0 to "
        r"unit 2 of layer 1, the element 	exttt{W1[0,1]} of NumPy's $W^{1}$, which counts "
        "from 0."))
    if spec.weights is None and step.number == 1:
        w.blocks.append(Paragraph(*_drawn(spec)))
    for name, values in step.parameters.items():
        frozen = " (frozen)" if name in spec.frozen else ""
        w.blocks.append(matrix(w, Symbol(name, _upper_symbol(name)), values, frozen))
    w.blocks.append(matrix(w, Symbol("a0 (input)", r"a^{0}"), step.forward["a0"]))
    targets = np.asarray(spec.targets)
    if targets.dtype.kind in "iu":  # class indices, shown as the one-hot vectors they mean
        classes = ", ".join(map(str, np.atleast_1d(targets)))
        w.blocks.append(Matrix(Symbol("t (target)", "t"), one_hot(w),
                               f"class index {classes}, from 0"))
    else:
        w.blocks.append(Matrix(Symbol("t (target)", "t"), targets.astype(float)))


def _drawn(spec) -> tuple[str, str]:
    """The sentence that says the weights were drawn, not given: how, and with which seed."""
    from chainrule.nn.init import resolve_init

    inits = sorted({resolve_init(spec.init, a) for a in spec.activations})
    how = " and ".join(inits) + (" (the default for these activations)"
                                 if spec.init == "auto" else "")
    biases = "" if spec.biases is not None or spec.bias == "none" else " Biases start at 0."
    text = (f"The spec gives no weights: they were drawn at random by {how}, seed "
            f"{spec.seed}; the same seed draws the same numbers.{biases}")
    latex = text.replace("_", r"\_")
    return text, latex


def one_hot(w) -> np.ndarray:
    targets = np.asarray(w.spec.targets)
    if targets.dtype.kind in "iu":
        return np.eye(w.spec.layers[-1])[targets]
    return targets.astype(float)


def _upper_symbol(name: str) -> str:
    return rf"{name[0]}^{{{name[1:]}}}"


def forward(w, step: Step) -> None:
    w.blocks.append(Heading("Forward pass"))
    for layer in range(1, w.depth + 1):
        z, a = _rows(step.forward[f"z{layer}"]), _rows(step.forward[f"a{layer}"])
        a_in = _rows(step.forward[f"a{layer - 1}"])
        W = np.asarray(step.parameters[f"W{layer}"])
        bias = step.parameters.get(f"b{layer}")
        examples = _examples(w, step)
        if not examples:
            note = "one row per example" if w.spec.batched else ""
            w.blocks.append(matrix(w, Symbol(f"z{layer}", f"z^{{{layer}}}"), z, note))
            w.blocks.append(matrix(w, Symbol(f"a{layer}", f"a^{{{layer}}}"), a))
            continue
        for n in examples:
            row = n or 0
            for j in range(W.shape[1]):
                w.blocks.append(_net_input(w, layer, j, n, a_in[row], W, bias, z[row, j]))
            for j in range(W.shape[1]):
                w.blocks.append(_activation(w, layer, j, n, z[row], a[row, j]))


def _net_input(w, layer, j, n, a_in, W, bias, value) -> Equation:
    parts_t, parts_l, nums_t, nums_l = [], [], [], []
    for i in range(W.shape[0]):
        a_s, w_s = quantity("a", layer - 1, i, example=n), quantity("w", layer, i, j)
        parts_t.append(f"{a_s}{w_s}")
        parts_l.append(f"{a_s.latex} {w_s.latex}")
        nums_t.append(f"({number(a_in[i], w.p)})({number(W[i, j], w.p)})")
        nums_l.append(rf"({w.num(a_in[i])[1]})({w.num(W[i, j])[1]})")
    if bias is not None:
        shared = w.spec.bias == "shared_per_layer"
        b_s = quantity("b", layer) if shared else quantity("b", layer, j)
        b_value = bias[0] if shared else bias[j]
        parts_t.append(b_s.text)
        parts_l.append(b_s.latex)
        nums_t.append(number(b_value, w.p) if b_value >= 0 else f"({number(b_value, w.p)})")
        nums_l.append(w.num(b_value)[1] if b_value >= 0 else f"({w.num(b_value)[1]})")
    parts = [(" + ".join(parts_t), " + ".join(parts_l))]
    if W.shape[0] <= MAX_UNIT_EXPANSION:
        parts.append((" + ".join(nums_t), " + ".join(nums_l)))
    parts.append(w.num(value))
    return Equation(quantity("z", layer, j, example=n), parts)


def _activation(w, layer, j, n, z_row, value) -> Equation:
    activation = w.spec.activations[layer - 1]
    entry = ACTIVATION_TABLE[activation]
    name, name_l = entry.symbol, entry.symbol_latex
    z_s = quantity("z", layer, j, example=n)
    if activation == "softmax":
        z_k = quantity("z", layer, "k", example=n)
        symbolic = (f"e^{z_s} / Σₖ e^{z_k}",
                    rf"\frac{{e^{{{z_s.latex}}}}}{{\sum_k e^{{{z_k.latex}}}}}")
        parts = [symbolic] + _softmax_numbers(w, z_row, j) + [w.num(value)]
        return Equation(quantity("a", layer, j, example=n), parts)
    symbolic = (f"{name}({z_s})", rf"{name_l}({z_s.latex})")
    plugged = (f"{name}({number(z_row[j], w.p)})", rf"{name_l}({w.num(z_row[j])[1]})")
    return Equation(quantity("a", layer, j, example=n), [symbolic, plugged, w.num(value)])


def _softmax_numbers(w, z_row, j) -> list[tuple[str, str]]:
    """e^(zⱼ) / Σₖ e^(zₖ) with the layer's numbers in, up to MAX_UNIT_EXPANSION units."""
    if len(z_row) > MAX_UNIT_EXPANSION:
        return []
    def power(value, latex=False):
        shown = w.num(value)[1] if latex else number(value, w.p)
        return f"e^{{{shown}}}" if latex else f"e^{shown}" if value >= 0 else f"e^({shown})"
    text = f"{power(z_row[j])} / ({' + '.join(power(z) for z in z_row)})"
    latex = (rf"\frac{{{power(z_row[j], True)}}}"
             rf"{{{' + '.join(power(z, True) for z in z_row)}}}")
    return [(text, latex)]


def loss(w, step: Step) -> None:
    spec = w.spec
    w.blocks.append(Heading("Loss"))
    entry = LOSS_TABLE[spec.loss]
    text, latex = entry.definition, entry.definition_latex
    mean = " averaged over the batch" if spec.batched else ""
    w.blocks.append(Paragraph(f"{text}{mean}, with a = a{w.depth} the output and t the target.",
                              f"${latex}${mean}, with $a = a^{{{w.depth}}}$ the output and $t$ "
                              "the target."))
    E = Symbol("E", "E")
    if spec.batched:
        losses = step.example_losses
        w.blocks.append(Matrix(Symbol("E per example", r"E^{(n)}"), losses))
        listed = " + ".join(f"E{quantity('', None, example=n).text}" for n in range(len(losses)))
        listed_l = " + ".join(f"E^{{({n + 1})}}" for n in range(len(losses)))
        w.blocks.append(Equation(E, [(f"(1/{len(losses)})({listed})",
                                      rf"\frac{{1}}{{{len(losses)}}}\bigl({listed_l}\bigr)"),
                                     w.num(step.loss)]))
    else:
        w.blocks.append(Equation(E, [_loss_numbers(w, step), w.num(step.loss)]))


def _loss_numbers(w, step: Step) -> tuple[str, str]:
    """The loss with its numbers in, as the loss table's ``plugged`` template writes it."""
    spec = w.spec
    entry = LOSS_TABLE[spec.loss]
    a = np.atleast_1d(step.forward[f"a{w.depth}"])
    t = np.asarray(one_hot(w), dtype=float)
    n = [number(v, w.p) for v in a]
    m = [number(v, w.p) for v in t]
    ln = [w.num(v)[1] for v in a]
    lm = [w.num(v)[1] for v in t]
    text = {"K": len(a), "nll": "", "squares": " + ".join(f"({x} − {y})²" for x, y in zip(n, m)),
            "logs": " + ".join(f"{y} ln {x} + (1 − {y}) ln(1 − {x})" for x, y in zip(n, m))}
    latex = {"K": len(a), "nll": "",
             "squares": " + ".join(f"({x} - {y})^2" for x, y in zip(ln, lm)),
             "logs": " + ".join(rf"{y} \ln {x} + (1 - {y}) \ln(1 - {x})"
                                for x, y in zip(ln, lm))}
    if entry.target == "classes":
        t = np.atleast_1d(one_hot(w))
        # ln softmax(z)ₖ is ln aₖ after a softmax layer; otherwise the output are the logits
        if spec.activations[-1] == "softmax":
            probabilities = a
        else:
            probabilities = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
        terms = [k for k in range(len(a)) if t[k] != 0]
        text["nll"] = " ".join(f"−({number(t[k], w.p)}) ln({number(probabilities[k], w.p)})"
                               for k in terms)
        latex["nll"] = " ".join(rf"-({w.num(t[k])[1]}) \ln({w.num(probabilities[k])[1]})"
                                for k in terms)
    return entry.text(entry.plugged_text, **text), entry.text(entry.plugged_latex, **latex)


def backward(w, step: Step) -> None:
    w.blocks.append(Heading("Backward pass"))
    w.blocks.append(Paragraph(
        "Each delta δˡⱼ = ∂E/∂zˡⱼ is the local derivative of the unit times what flows back "
        "into it: from the loss at the output, from every unit of the next layer elsewhere.",
        r"Each delta $\delta^{l}_{j} = \partial E / \partial z^{l}_{j}$ is the local derivative "
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
