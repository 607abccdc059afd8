"""The layer view is a lens on the step's recorded graph: a network is recorded like any
computation, its layers are found in that graph, and every number of the step is the graph's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError
from chainrule.explain.graph import explain_graph
from chainrule.explain.lens.mlp import dense_layers
from tests.test_cli import run

SOFTMAX = {"layers": [2, 3, 3], "activations": ["leaky_relu", "softmax"],
           "loss": "cross_entropy", "learning_rate": 0.5, "seed": 3,
           "inputs": [[0.5, -1.0], [2.0, 0.25]], "targets": [2, 0]}


def test_every_number_of_the_step_is_the_graphs():
    trace = cr.explain("seed")
    graph = trace.graph
    assert graph.output == "E" and graph.value == pytest.approx(trace.loss, rel=0, abs=0)
    for l in (1, 2):
        np.testing.assert_array_equal(trace.forward[f"z{l}"], graph[f"z{l}"].value)
        np.testing.assert_array_equal(trace.backward[f"delta{l}"], graph[f"z{l}"].grad)
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(trace.gradients[name], graph[name].grad)


def test_the_layers_are_found_in_the_graph_with_their_activation_and_its_slope():
    trace = cr.explain(SOFTMAX)
    network = dense_layers(trace.graph, 2)
    assert network.sizes == (2, 3, 3)
    assert network.activations == ("leaky_relu", "softmax")
    assert network.layers[0].params == {"slope": 0.01}
    # the loss is taken from the logits, so a2 is off its path, kept in the graph with ∂E/∂a2 0
    assert not trace.graph["a2"].terms and np.all(trace.graph["a2"].grad == 0)
    # while the layer view's ∂E/∂a2 is the textbook one, −t/a over the batch of 2
    a2, t = trace.forward["a2"], np.eye(3)[[2, 0]]
    np.testing.assert_allclose(trace.backward["dE_da2"], -t / a2 / 2, rtol=1e-12)


def test_the_deltas_of_the_lens_are_the_graphs_gradients():
    trace = cr.explain(SOFTMAX)
    assert len(trace.chain.deltas) == 12
    for key, expansion in trace.chain.deltas.items():  # delta2[1,0]: example 1, unit 0
        layer, (n, j) = int(key[5]), map(int, key[7:-1].split(","))
        assert expansion.value == pytest.approx(trace.graph[f"z{layer}"].grad[n, j],
                                                rel=1e-12, abs=1e-15)


def test_a_graph_not_of_dense_layers_is_refused_naming_the_node():
    a0 = cr.Tensor([1.0, 2.0], "a0")
    W1 = cr.Tensor([[1.0], [2.0]], "W1")
    z1 = (a0 * 2.0) @ W1
    z1.name = "z1"
    with pytest.raises(ChainruleError, match=r"layer lens: z1 is matmul\(mul1, W1\); "
                                             r"expected matmul\(a0, W1\)"):
        dense_layers(explain_graph(z1.sigmoid().sum()), 1)
    z1 = a0 @ W1
    z1.name = "z1"
    with pytest.raises(ChainruleError, match="the graph has no node 'z2'"):
        dense_layers(explain_graph(z1.sum()), 2)


def test_explain_graph_holds_tensors_off_the_outputs_path():
    x = cr.Tensor(2.0, "x")
    side, f = x.exp(), x * 3.0
    side.name, f.name = "side", "f"
    trace = explain_graph(f, also=(side,))
    assert trace.output == "f" and trace.nodes[-1].name == "f"
    assert float(trace["side"].grad) == 0.0 and float(trace["x"].grad) == 3.0
    with pytest.raises(ChainruleError, match="computed before the output"):
        explain_graph(x * 1.0, also=(x.tanh(),))


def test_explain_graph_flag_shows_a_networks_step_as_its_graph():
    done = run("explain", "--graph", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    nodes = {node["name"]: node for node in data["nodes"]}
    assert data["schema"] == "chainrule.graph/1" and data["output"] == "E"
    assert nodes["z1"]["op"] == "linear" and nodes["z1"]["inputs"] == ["a0", "W1", "b1"]
    trace = cr.explain("seed")
    np.testing.assert_allclose(nodes["W1"]["grad"], trace.gradients["W1"], rtol=1e-12)
    done = run("explain", "--graph")
    assert done.returncode == 0 and "∂E/∂a2" in done.stdout and "a1 = σ(z1)" in done.stdout
    for option in (["--param", "W1"], ["--only", "forward"], ["--steps", "2"]):
        done = run("explain", "--graph", *option)
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert "--graph shows one step" in done.stderr
