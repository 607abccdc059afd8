"""Resolving a chainrule.graph/1 trace for the graph page: wires paired with their local
derivatives, reassigned names and ids, path sums, and malformed traces refused by name."""

from __future__ import annotations

import pytest

from chainrule.errors import ChainruleError
from chainrule.explain.render.graph_model import resolve
from chainrule.explain.render.graph_page import render_graph_html
from tests.graph_fixtures import CS231N, NETWORK, NEURON, REUSED


def test_resolving_pairs_wires_and_sums_paths():
    view = resolve(REUSED)
    a = view["nodes"][0]
    assert [view["edges"][k]["target"] for k in a["out_edges"]] == [2, 3]
    terms = [view["edges"][k]["contribution"] for k in a["out_edges"]]
    # p = ab = -6 and s = a + b = 1: ∂f/∂p = s = 1 times ∂p/∂a = b, ∂f/∂s = p times 1
    assert terms == [pytest.approx(1.0 * -2.0), pytest.approx(-6.0 * 1.0)]
    assert a["path_sum"] == pytest.approx(REUSED["nodes"][0]["grad"]) == pytest.approx(-8.0)
    square = resolve(NETWORK)["nodes"][-1]  # L = d·d: two wires from d, one local each
    assert len(square["in_edges"]) == 2
    neuron = resolve(NEURON)
    second_s = neuron["nodes"][8]
    assert neuron["edges"][second_s["in_edges"][0]]["source"] == 7  # the first s, reassigned
    ids = {**CS231N, "nodes": [{**n, "id": f"n{i}", "inputs": [f"n{j}" for j in
                                ({3: [0, 1], 4: [3, 2]}.get(i, []))]}
                               for i, n in enumerate(CS231N["nodes"])], "output": "n4"}
    assert resolve(ids)["edges"] == resolve(CS231N)["edges"]


@pytest.mark.parametrize(("graph", "message"), [
    ([], "expected a chainrule.graph/1 dict"), ({"schema": "x", "nodes": []}, "schema"),
    ({"schema": "chainrule.graph/1", "nodes": []}, "non-empty"),
    ({**CS231N, "nodes": CS231N["nodes"][::-1]}, "not an earlier node"),
    ({**CS231N, "output": "g"}, "graph.output"),
    ({**CS231N, "nodes": [{**CS231N["nodes"][0], "value": "1"}]}, r"nodes\[0\].value"),
    ({**CS231N, "nodes": [{**CS231N["nodes"][0], "name": ""}]}, r"nodes\[0\].name"),
])
def test_malformed_graphs_are_refused(graph, message):
    with pytest.raises(ChainruleError, match=message):
        render_graph_html(graph)


def test_arrays_resolve_with_their_recorded_shares_and_elementwise_sums():
    """A node used twice as an array: each wire's share is the vjp the trace records for that
    use, and the path sum is their elementwise sum, equal to the node's gradient."""
    import numpy as np

    import chainrule as cr

    x = cr.Tensor([1.0, -2.0, 3.0], "x")
    f = (x * x).sum() + (x.tanh() * 2.0).sum()
    f.name = "f"
    view = resolve(cr.explain_graph(f).to_dict())
    node = next(n for n in view["nodes"] if n["name"] == "x")
    shares = [view["edges"][k]["contribution"] for k in node["out_edges"]]
    assert len(shares) == 3  # x * x uses x twice, tanh once
    np.testing.assert_allclose(node["path_sum"], np.sum(shares, axis=0), rtol=1e-15)
    np.testing.assert_allclose(node["path_sum"],
                               2 * x.data + 2 * (1 - np.tanh(x.data) ** 2), rtol=1e-12)
    assert node["sum_differs"] is False
    forged = cr.explain_graph(f).to_dict()
    forged["nodes"][0]["grad"] = [0.0, 0.0, 0.0]
    assert next(n for n in resolve(forged)["nodes"] if n["name"] == "x")["sum_differs"]


def test_a_graph_too_large_for_a_page_is_one_line():
    import numpy as np

    import chainrule as cr

    x = cr.Tensor(np.zeros((200, 200)), "x")
    with pytest.raises(ChainruleError, match=r"graph: 160,004 numbers in values and gradients; "
                                             r"a page shows at most 50,000"):
        resolve(cr.explain_graph((x * 2.0).sum()).to_dict())
