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
