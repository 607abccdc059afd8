"""The chain rule, written out: every gradient as a product of local derivatives with numbers.

The layer-and-unit lens on a network's recorded step: from the values of its graph (the
layers found by :mod:`chainrule.explain.lens.mlp`) and the activation and loss tables alone — never
the engine's gradients, so the two can be checked against each other — this builds:

* for every delta δˡⱼ = ∂E/∂zˡⱼ, its rule with the numbers of every term — the output layer
  δᴸⱼ = ∂E/∂aᴸⱼ · ∂aᴸⱼ/∂zᴸⱼ, a hidden layer δˡⱼ = ∂aˡⱼ/∂zˡⱼ · Σₖ wˡ⁺¹ⱼₖ δˡ⁺¹ₖ (a sum over the
  paths that meet at the unit), softmax layers Σₘ ∂E/∂aₘ · ∂aₘ/∂zⱼ;
* for every weight and bias element, its gradient: along a single path the full product
  ∂E/∂aᴸ · ∂aᴸ/∂zᴸ · … · ∂zˡⱼ/∂wˡᵢⱼ; where paths meet, the delta form δˡⱼ · aˡ⁻¹ᵢ; over a batch,
  the sum over examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.explain.lens.chain_data import Expansion, Factor, Term, factor, product
from chainrule.errors import ChainruleError
from chainrule.explain.graph_data import GraphTrace
from chainrule.explain.lens.local import activation_factor, loss_factor, softmax_factor
from chainrule.explain.lens.mlp import dense_layers
from chainrule.nn.losses import from_logits
from chainrule.explain.notation import (
    element_key, parameter_symbol, parse_element_key, partial, quantity,
)

MAX_CHAIN_ELEMENTS = 2000  # parameter elements × examples; beyond, no per-element chains


@dataclass(eq=False)  # of arrays: no elementwise ==
class Factorisation:
    """Delta expansions and per-element parameter gradients of one step."""

    deltas: dict[str, Expansion]
    parameters: dict[str, Expansion]
    omitted: str = ""  # why per-element chains were left out (a network too large to list)


class _Network:
    """The step's values as 2-D arrays (example, unit), layers indexed from 0 = input, read
    off the recorded graph through the layer lens; the spec adds only what a graph cannot
    say: the loss's name, the targets, and how the biases are written."""

    def __init__(self, graph: GraphTrace, spec) -> None:
        self.spec = spec
        self.depth = len(spec.layers) - 1
        network = dense_layers(graph, self.depth)
        if network.activations != tuple(spec.activations) or network.sizes != tuple(spec.layers):
            raise ChainruleError(f"layer lens: the graph records layers {list(network.sizes)} "
                                 f"with {list(network.activations)}, the spec "
                                 f"{list(spec.layers)} with {list(spec.activations)}")
        self.sizes, self.activations = network.sizes, network.activations
        self.loss = spec.loss
        self.batch = len(spec.inputs) if spec.batched else None
        self.a = [network.rows("a", l) for l in range(self.depth + 1)]
        self.z = [None] + [network.rows("z", l) for l in range(1, self.depth + 1)]
        self.W = [None] + [np.asarray(layer.weight.value) for layer in network.layers]
        self.params = [None] + [layer.params for layer in network.layers]
        self.parameters = {node.name: np.asarray(node.value) for layer in network.layers
                           for node in (layer.weight, layer.bias) if node is not None}
        targets = np.asarray(spec.targets)
        if targets.dtype.kind in "iu":  # class indices
            targets = np.eye(self.sizes[-1])[targets]
        self.t = np.atleast_2d(targets.astype(float))

    def example(self, n: int) -> int | None:
        return n if self.batch else None

    def activation(self, layer: int, unit: int, n: int | None, row: int) -> Factor:
        """∂aˡⱼ/∂zˡⱼ of unit ``unit`` at example row ``row``, with the graph's parameters."""
        return activation_factor(self.activations[layer - 1], layer, unit,
                                 self.z[layer][row][unit], self.a[layer][row][unit], n,
                                 self.params[layer])


def factorise(graph: GraphTrace, spec) -> Factorisation:
    """The layer view of a network's recorded step: every delta and parameter gradient."""
    net = _Network(graph, spec)
    deltas, delta_values = _deltas(net)
    examples = net.a[0].shape[0]
    elements = sum(p.size for p in net.parameters.values()) * examples
    if elements > MAX_CHAIN_ELEMENTS:
        return Factorisation(deltas, {}, f"{elements} parameter elements × examples exceed "
                                         f"{MAX_CHAIN_ELEMENTS}; see the deltas instead")
    params = {}
    for name, values in net.parameters.items():
        for index in np.ndindex(values.shape):
            expansion = _parameter(net, name, index, delta_values)
            params[expansion.key] = expansion
    return Factorisation(deltas, params)


class ElementChains:
    """Parameter elements' chains on demand (``W1[3,4]``), for a network too large to list
    them all: what ``--param`` and a big layer's largest gradients show. The deltas they
    rest on are worked out once, however many elements are asked for."""

    def __init__(self, graph: GraphTrace, spec) -> None:
        self._net = _Network(graph, spec)
        _, self._delta_values = _deltas(self._net)

    def __call__(self, key: str) -> Expansion:
        name, index = parse_element_key(key)
        return _parameter(self._net, name, index, self._delta_values)


def _deltas(net: _Network) -> tuple[dict[str, Expansion], list]:
    """Every δˡⱼ's expansion, output layer first, and their values by layer."""
    examples = net.a[0].shape[0]
    deltas: dict[str, Expansion] = {}
    delta_values = [None] * (net.depth + 1)
    for layer in range(net.depth, 0, -1):
        values = np.zeros((examples, net.sizes[layer]))
        for n in range(examples):
            for j in range(net.sizes[layer]):
                expansion = _delta(net, layer, n, j, delta_values)
                deltas[expansion.key] = expansion
                values[n, j] = expansion.value
        delta_values[layer] = values
    return deltas, delta_values


def _delta_key(layer: int, n: int | None, j: int) -> str:
    return element_key(f"delta{layer}", (j,) if n is None else (n, j))


def _paths(net: _Network, layer: int) -> int:
    """How many paths lead from one unit's z in ``layer`` to the loss: a softmax layer of K
    units mixes K ways, and every unit fans out to all units of the next layer."""
    depth, sizes = net.depth, net.sizes

    def mixing(l: int) -> int:
        return sizes[l] if net.activations[l - 1] == "softmax" else 1

    count = mixing(depth)
    for l in range(depth - 1, layer - 1, -1):
        count = mixing(l) * sizes[l + 1] * count
    return count


def _delta(net: _Network, layer: int, n: int, j: int, delta_values: list) -> Expansion:
    expansion = _delta_by_paths(net, layer, n, j, delta_values)
    if not np.isfinite(expansion.value) and layer == net.depth and _from_logits(net):
        return _delta_from_logits(net, n, j, expansion)
    return expansion


def _from_logits(net: _Network) -> bool:
    return from_logits(net.loss, net.activations[-1])


def _delta_from_logits(net: _Network, n: int, j: int, by_paths: Expansion) -> Expansion:
    """A saturated output unit makes ∂E/∂a infinite and ∂a/∂z zero; their product is then
    the known closed form δᴸⱼ = (aᴸⱼ − tⱼ)/N (divided by K too for bce), finite as it is."""
    ex = net.example(n)
    layer = net.depth
    a_s, t_s = quantity("a", layer, j, example=ex), quantity("t", None, j, example=ex)
    scale = (net.batch or 1) * (net.sizes[-1] if net.loss == "bce" else 1)
    divisor = f"/{scale}" if scale > 1 else ""
    value = float(net.a[layer][n, j] - net.t[n, j]) / scale
    text, latex = f"({a_s} − {t_s})", rf"({a_s.latex} - {t_s.latex})"
    if net.loss == "bce" and net.activations[-1] == "softmax":
        value += _softmax_bce_mixing(net.z[layer][n], net.t[n], j) / scale
        text = f"[{text} + Σₖ≠{j + 1} (tₖ − aₖ) {a_s}/(1 − aₖ)]"
        latex = rf"\bigl[{latex} + \sum_{{k \ne {j + 1}}} (t_k - a_k)\,{a_s.latex}/(1 - a_k)\bigr]"
    closed_form = factor(partial("E", quantity("z", layer, j, example=ex)),
                         f"{text}{divisor}", f"{latex}{divisor}", value)
    return Expansion(by_paths.key, by_paths.symbol, by_paths.latex, value,
                     f"{by_paths.symbol} = {text}{divisor}",
                     rf"{by_paths.latex} = {latex}{divisor}", [closed_form], [],
                     by_paths.paths)


def _softmax_bce_mixing(z: np.ndarray, t: np.ndarray, j: int) -> float:
    """Σₖ≠ⱼ (tₖ − aₖ) aⱼ/(1 − aₖ) for a = softmax(z), each fraction as e^zⱼ / Σᵢ≠ₖ e^zᵢ: finite
    where 1 − aₖ has rounded to 0 (the softmax saturated)."""
    total = 0.0
    a = np.exp(z - np.logaddexp.reduce(z))
    for k in range(len(z)):
        if k != j:
            others = np.logaddexp.reduce(np.delete(z, k))
            total += float((t[k] - a[k]) * np.exp(z[j] - others))
    return total


def _delta_by_paths(net: _Network, layer: int, n: int, j: int, delta_values: list) -> Expansion:
    ex = net.example(n)
    activation = net.activations[layer - 1]
    a = net.a[layer][n]
    symbol = quantity("delta", layer, j, example=ex)
    key = _delta_key(layer, ex, j)
    output = layer == net.depth

    def upstream(m: int) -> Factor:  # ∂E/∂aˡₘ
        if output:
            return loss_factor(net.loss, activation, layer, m, a, net.t[n], net.batch, ex)
        w = quantity("w", layer + 1, m, "k")
        d = quantity("delta", layer + 1, "k", example=ex)
        value = float(net.W[layer + 1][m] @ delta_values[layer + 1][n])
        return factor(partial("E", quantity("a", layer, m, example=ex)), f"Σₖ {w} {d}",
                       rf"\sum_k {w.latex} {d.latex}", value)

    def sum_terms(m: int) -> list[Term]:  # the paths into ∂E/∂aˡₘ from the next layer
        if output:
            return []
        terms = []
        for k in range(net.sizes[layer + 1]):
            w = quantity("w", layer + 1, m, k)
            d = quantity("delta", layer + 1, k, example=ex)
            factors = [factor(w, w.text, w.latex, net.W[layer + 1][m, k]),
                       factor(d, d.text, d.latex, delta_values[layer + 1][n, k])]
            terms.append(Term(factors, product(factors)))
        return terms

    if activation == "softmax":
        terms = [Term([upstream(m), softmax_factor(layer, m, j, a, ex)], 0.0)
                 for m in range(len(a))]
        for term in terms:
            term.value = product(term.factors)
        value = float(sum(t.value for t in terms))
        a_m = quantity("a", layer, "m", example=ex)
        de_da, da_dz = partial("E", a_m), partial(a_m, quantity("z", layer, j, example=ex))
        rule = f"{symbol} = Σₘ {de_da} · {da_dz}"
        rule_latex = rf"{symbol.latex} = \sum_m {de_da.latex} {da_dz.latex}"
        return Expansion(key, symbol.text, symbol.latex, value, rule, rule_latex, [], terms,
                         _paths(net, layer))
    local = net.activation(layer, j, ex, n)
    up = upstream(j)
    factors = [up, local] if output else [local, up]
    if output:
        rule = f"{symbol} = {up.symbol} · {local.symbol}"
        rule_latex = f"{symbol.latex} = {up.latex} {local.latex}"
    else:
        rule = f"{symbol} = {local.symbol} · {up.formula}"
        rule_latex = f"{symbol.latex} = {local.latex} {up.formula_latex}"
    return Expansion(key, symbol.text, symbol.latex, product(factors), rule, rule_latex,
                     factors, sum_terms(j), _paths(net, layer))


def _parameter(net: _Network, name: str, index: tuple[int, ...], delta_values) -> Expansion:
    layer = int(name[1:])
    is_weight = name.startswith("W")
    shared = not is_weight and net.spec.bias == "shared_per_layer"
    i, j = (index if is_weight else (None, index[0]))
    param = parameter_symbol(name, index, shared)
    grad = partial("E", param)
    key = element_key(name, index)
    units = range(net.sizes[layer]) if shared else [j]

    def local(n: int | None, unit: int) -> Factor:  # ∂zˡⱼ/∂(parameter)
        z = quantity("z", layer, unit, example=n)
        if not is_weight:
            return factor(partial(z, param), "1", "1", 1.0)
        a = quantity("a", layer - 1, i, example=n)
        return factor(partial(z, param), a.text, a.latex,
                       net.a[layer - 1][0 if n is None else n, i])

    def delta(n: int | None, unit: int) -> Factor:  # δˡⱼ = ∂E/∂zˡⱼ, worked in its own expansion
        d = quantity("delta", layer, unit, example=n)
        de_dz = partial("E", quantity("z", layer, unit, example=n))
        return factor(d, de_dz.text, de_dz.latex, delta_values[layer][n or 0, unit])

    terms = []
    if net.batch or shared:
        for n in range(net.a[0].shape[0]):
            for unit in units:
                ex = net.example(n)
                factors = [delta(ex, unit), local(ex, unit)]
                terms.append(Term(factors, product(factors)))
        value = float(sum(t.value for t in terms))
        return Expansion(key, grad.text, grad.latex, value, terms=terms,
                         paths=_paths(net, layer))
    paths = _paths(net, layer)
    factors = [delta(None, j), local(None, j)]
    if paths == 1:  # the full product, unless a saturated unit makes it ∞·0
        along_path = _single_path(net, layer, j) + [local(None, j)]
        factors = along_path if np.isfinite(product(along_path)) else factors
    return Expansion(key, grad.text, grad.latex, product(factors), factors=factors,
                     paths=paths, delta=_delta_key(layer, None, j))


def _single_path(net: _Network, layer: int, j: int) -> list[Factor]:
    """∂E/∂aᴸ · ∂aᴸ/∂zᴸ · ∂zᴸ/∂aᴸ⁻¹ · … · ∂aˡⱼ/∂zˡⱼ when every later layer has one unit."""
    depth = net.depth
    out = net.a[depth][0]
    k = j if layer == depth else 0  # the output unit the single path ends in
    factors = [loss_factor(net.loss, net.activations[-1], depth, k, out, net.t[0], None, None)]
    for l in range(depth, layer - 1, -1):
        unit = j if l == layer else 0
        factors.append(net.activation(l, unit, None, 0))
        if l > layer:
            below = j if l - 1 == layer else 0
            w = quantity("w", l, below, 0)
            factors.append(factor(partial(quantity("z", l, 0), quantity("a", l - 1, below)),
                                   w.text, w.latex, net.W[l][below, 0]))
    return factors
