"""The layer-and-unit lens on a recorded graph: a dense network's layers, found in the graph.

A network's step is recorded like any computation (:func:`chainrule.explain.graph.explain_graph` of
its loss), and this reads the layers back out of it: layer l is the node ``z{l}``, an op
``linear`` of (``a{l-1}``, ``W{l}``, ``b{l}``) or ``matmul`` of (``a{l-1}``, ``W{l}``) without a
bias, followed by the node ``a{l}``, the activation's primitive applied to ``z{l}`` (the
identity records no node: ``a{l}`` is then ``z{l}`` itself). The activation of each layer is
the one whose primitive (:data:`~chainrule.tables.activations.ACTIVATION_TABLE`) the graph
holds, with the parameters the node recorded (leaky relu's slope), so what the chain rule
writes follows the graph, not a second description of the network.

A graph that is not of this shape is refused with the node and what was expected: the lens
explains dense layers, and the next layer types bring lenses of their own.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import ChainruleError
from chainrule.explain.graph_data import GraphNode, GraphTrace

# The activation each primitive computes (the identity has none).
_BY_PRIMITIVE = {e.primitive: e.name for e in ACTIVATION_TABLE.values() if e.primitive}


class DenseLayer(NamedTuple):
    """Layer ``index`` (from 1): its nodes and the activation they record."""

    index: int
    z: GraphNode
    a: GraphNode  # z itself for the identity
    weight: GraphNode
    bias: GraphNode | None
    activation: str
    params: dict  # the activation's parameters as the graph recorded them

    @property
    def units(self) -> int:
        return self.weight.value.shape[1]


class DenseNetwork(NamedTuple):
    """The input node and the layers of a dense network, in order."""

    input: GraphNode
    layers: tuple[DenseLayer, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].weight.value.shape[0],) + tuple(l.units for l in self.layers)

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(layer.activation for layer in self.layers)

    def rows(self, quantity: str, index: int) -> np.ndarray:
        """``a`` or ``z`` of layer ``index`` (a of layer 0 is the input) as (example, unit)."""
        node = self.input if index == 0 else getattr(self.layers[index - 1], quantity)
        return np.atleast_2d(np.asarray(node.value, dtype=float))


def dense_layers(graph: GraphTrace, depth: int) -> DenseNetwork:
    """The ``depth`` dense layers of ``graph``, read by their names; refused if the graph's
    nodes do not compute z = a·W + b and a = f(z) layer after layer."""
    nodes = {node.name: node for node in graph.nodes}

    def node(name: str, why: str) -> GraphNode:
        if name not in nodes:
            raise ChainruleError(f"layer lens: the graph has no node {name!r} ({why})")
        return nodes[name]

    below = node("a0", "the input")
    layers = []
    for l in range(1, depth + 1):
        z = node(f"z{l}", f"layer {l}'s net input")
        weight = node(f"W{l}", f"layer {l}'s weights")
        bias = nodes.get(f"b{l}")
        expected = ((below.name, weight.name, bias.name) if bias is not None
                    else (below.name, weight.name))
        op = "linear" if bias is not None else "matmul"
        if z.op != op or z.inputs != expected:
            raise ChainruleError(f"layer lens: {z.name} is {z.op}({', '.join(z.inputs)}); "
                                 f"expected {op}({', '.join(expected)})")
        a = nodes.get(f"a{l}", z)
        if a is z:
            activation = "identity"
        elif a.op in _BY_PRIMITIVE and a.inputs == (z.name,):
            activation = _BY_PRIMITIVE[a.op]
        else:
            raise ChainruleError(f"layer lens: {a.name} is {a.op}({', '.join(a.inputs)}); "
                                 f"expected an activation of {z.name}")
        params = {key: a.params[key] for key in ACTIVATION_TABLE[activation].params}
        layers.append(DenseLayer(l, z, a, weight, bias, activation, params))
        below = a
    return DenseNetwork(nodes["a0"], tuple(layers))
