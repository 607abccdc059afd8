"""When each catalogue mistake can be made on a network (chainrule.verify.mistakes): each
requirement returns why the mistake cannot be made on a spec, or None when it can. Also the
activation table's groups the catalogue's words are written from (those whose derivative is
written in a, those with a slope, those with a full Jacobian).
"""

from __future__ import annotations

from typing import Callable

from chainrule.spec.network import Spec
from chainrule.tables.activations import ACTIVATION_TABLE, ActivationEntry
from chainrule.tables.losses import LOSS_TABLE
from chainrule.verify.reference import batch_size, derivative_layers, fused_output

Requirement = Callable[[Spec], "str | None"]


def always(spec: Spec) -> str | None:
    return None


def trainable(spec: Spec, prefix: str = "") -> list[str]:
    names = [f"W{l}" for l in range(1, len(spec.layers))]
    if spec.bias != "none":
        names += [f"b{l}" for l in range(1, len(spec.layers))]
    return [n for n in names if n.startswith(prefix) and n not in spec.frozen]


def updates(spec: Spec) -> str | None:
    return None if trainable(spec) else "every parameter is frozen"


def learning_rate_not_one(spec: Spec) -> str | None:
    if spec.learning_rate == 1:
        return "with η = 1, η² and no η give the same step as η"
    return updates(spec)


def slope_layers(*activations: str) -> Requirement:
    """Layers whose derivative is used and whose activation would change under the mistake."""
    def requirement(spec: Spec) -> str | None:
        if any(spec.activations[l - 1] in activations for l in derivative_layers(spec)):
            return None
        return (f"no layer multiplies in the derivative of {' or '.join(activations)} "
                f"(an output taken from the logits has none)")
    return requirement


def activations(applies: Callable[[ActivationEntry], bool]) -> tuple[str, ...]:
    """The activations of the table a mistake applies to, in the table's order."""
    return tuple(name for name, entry in ACTIVATION_TABLE.items() if applies(entry))


# Activations whose derivative the table writes in terms of a: it can be evaluated at z by
# mistake; those with a derivative at all (not a constant); those with a full Jacobian.
OF_A = activations(lambda entry: entry.derivative_of == "a")
WITH_SLOPE = activations(lambda entry: entry.derivative_of is not None)
NOT_ELEMENTWISE = activations(lambda entry: not entry.elementwise)


def in_terms_of_a(a: str = "a", each: str = "{symbol}′ = {form}") -> str:
    """The elementwise derivatives written in a, as the activation table writes them:
    ``σ′ = a(1 − a), tanh′ = 1 − (a)²``."""
    entries = [ACTIVATION_TABLE[name] for name in OF_A if ACTIVATION_TABLE[name].elementwise]
    return ", ".join(each.format(symbol=e.symbol, name=e.name,
                                 form=e.text(e.derivative_text, a=a)) for e in entries)


def slopes(spec: Spec) -> tuple[bool, bool]:
    """(whether the output layer's delta multiplies in a slope, whether a hidden one's does)."""
    depth = len(spec.layers) - 1
    with_slope = [l for l in derivative_layers(spec) if spec.activations[l - 1] in WITH_SLOPE]
    return depth in with_slope, any(l < depth for l in with_slope)


def one_of_two(output: bool) -> Requirement:
    """The output's (or the hidden layers') derivative left out, the other kept: both must
    multiply one in, or it is missing_activation_derivative."""
    def requirement(spec: Spec) -> str | None:
        has_output, has_hidden = slopes(spec)
        if not has_output:
            return "the output layer multiplies in no slope (taken from the logits, or linear)"
        if not has_hidden:
            return "no hidden layer multiplies in a slope"
        return None
    return requirement


def square_weights(spec: Spec) -> str | None:
    if any(rows == cols > 1 for rows, cols in zip(spec.layers, spec.layers[1:])):
        return None
    return "no weight matrix is square: w_ij and w_ji cannot both be written"


def fused(spec: Spec) -> str | None:
    return None if fused_output(spec) else \
        "the loss is not taken from the logits (softmax + cross_entropy, sigmoid + bce)"


def losses(*names: str) -> Requirement:
    unknown = set(names) - set(LOSS_TABLE)
    if unknown:  # a catalogue entry naming a loss the table lost: fail at import, not silently
        raise ValueError(f"mistakes: no loss {sorted(unknown)} in the loss table")

    def requirement(spec: Spec) -> str | None:
        return None if spec.loss in names else f"the loss is {spec.loss}, not {' or '.join(names)}"
    return requirement


def batch(spec: Spec) -> str | None:
    return None if batch_size(spec) > 1 else "needs a batch of more than one example"


def batch_biases(spec: Spec) -> str | None:
    if spec.bias == "none":
        return "the network has no biases"
    return batch(spec)


def per_unit_biases_one_example(spec: Spec) -> str | None:
    if spec.batched:
        return "over a batch, summing over axis 0 sums the examples, which is right"
    if spec.bias != "per_unit" or all(n == 1 for n in spec.layers[1:]):
        return "needs per-unit biases in a layer of more than one unit"
    return None


def square_backward_weights(spec: Spec) -> str | None:
    if len(spec.layers) < 3:
        return "one layer: no error is sent back through weights"
    shapes = [(spec.layers[l - 1], spec.layers[l]) for l in range(2, len(spec.layers))]
    if any(rows != cols for rows, cols in shapes):
        return (f"W instead of Wᵀ only fits square matrices; W2..W{len(spec.layers) - 1} "
                f"have shapes {', '.join(map(str, shapes))}")
    return None


def hidden_layers(spec: Spec) -> str | None:
    if len(spec.layers) < 3:
        return "one layer: no error is sent back through weights"
    return None if any(int(n[1:]) >= 2 for n in trainable(spec, "W")) else \
        "the weights after layer 1 are frozen"


def biases(spec: Spec) -> str | None:
    if spec.bias == "none":
        return "the network has no biases"
    return None if trainable(spec, "b") else "every bias is frozen"
