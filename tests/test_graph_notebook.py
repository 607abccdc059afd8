"""A computation's graph in a real Jupyter kernel: exactly one rich output, the page's block."""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (test extra)")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (test extra)")


def test_a_graph_trace_displays_once_as_its_page(tmp_path):
    cells = [
        "import chainrule as cr\n"
        "x, y, z = cr.Tensor(-2.0, 'x'), cr.Tensor(5.0, 'y'), cr.Tensor(-4.0, 'z')\n"
        "q = x + y; q.name = 'q'\n"
        "cr.explain(q * z)",
        "trace = cr.explain(q * z); print(repr(trace))",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    shown, printed = (cell["outputs"] for cell in notebook.cells)
    assert len(shown) == 1 and shown[0]["output_type"] == "execute_result"
    html = shown[0]["data"]["text/html"]
    assert 'class="gp-fragment"' in html and "<html" not in html
    assert shown[0]["data"]["text/plain"].startswith("GraphTrace(output=")
    assert len(printed) == 1 and printed[0]["text"].strip() == \
        "GraphTrace(output='mul1', 5 nodes, value=-12)"
