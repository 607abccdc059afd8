"""The sections of a worked example, each a function adding blocks for one step: the network
and data, the forward pass and the loss here, the backward ones in ``sections_backward``."""

from __future__ import annotations

import re

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.tables.losses import LOSS_TABLE
from chainrule.explain.notation import Symbol, loss_symbol, quantity
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
    E = loss_symbol()  # E, or the notation profile's letter for the loss
    text = re.sub(r"^E\b", lambda _: E.text, entry.definition)
    latex = re.sub(r"^E\b", lambda _: E.latex, entry.definition_latex)
    mean = " averaged over the batch" if spec.batched else ""
    w.blocks.append(Paragraph(f"{text}{mean}, with a = a{w.depth} the output and t the target.",
                              f"${latex}${mean}, with $a = a^{{{w.depth}}}$ the output and $t$ "
                              "the target."))
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
