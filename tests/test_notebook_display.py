"""In a real Jupyter kernel (nbclient), each displayable object shows as exactly one output:
the page, the graph page, the tensor table; and print() of a trace is one short line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SRC = Path(__file__).resolve().parents[1] / "src"
CELLS = {
    "import": "import chainrule as cr",
    "seed": 'cr.explain("seed")',
    "three_class": ('cr.explain({"layers": [2, 3, 3], "activations": ["tanh", "softmax"], '
                    '"loss": "cross_entropy", "input": [0.5, -0.2], "target": 2, '
                    '"learning_rate": 0.1, "seed": 4})'),
    "graph": ("x = cr.Tensor(2.0, name='x', requires_grad=True)\n"
              "cr.explain((x * x + 3 * x).sum())"),
    "tensor": "cr.Tensor([[1.0, 2.0], [3.0, 4.0]], name='W')",
    "print": 'print(cr.explain("seed"))',
}


@pytest.fixture(scope="module")
def outputs():
    """Every cell's outputs, from one kernel."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS.values()]
    env_path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"] = env_path  # the kernel imports chainrule from this tree
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(SRC.parent)}})
    client.execute()
    return {name: cell.outputs for name, cell in zip(CELLS, notebook.cells)}


def test_import_shows_nothing(outputs):
    assert outputs["import"] == []


@pytest.mark.parametrize("name", ["seed", "three_class", "graph", "tensor"])
def test_each_object_is_one_output(outputs, name):
    shown = outputs[name]
    assert len(shown) == 1, [o.get("output_type") for o in shown][:10]
    [out] = shown
    assert out["output_type"] == "execute_result"
    assert "text/html" in out["data"]
    assert len(out["data"]["text/plain"]) < 300


def test_trace_offers_html_and_markdown_in_one_output(outputs):
    data = outputs["seed"][0]["data"]
    assert data["text/html"].startswith('<div class="cr-fragment">')
    # The text fallback (shown where scripts do not run) went into the page, not the cell.
    assert "<pre>seed: a 2-2-1 network" in data["text/html"]
    assert data["text/markdown"].startswith("# seed")
    assert data["text/plain"].startswith("Trace(seed: 2-2-1")


def test_print_is_one_short_line(outputs):
    [out] = outputs["print"]
    assert out["output_type"] == "stream" and out["name"] == "stdout"
    assert len(out["text"]) < 300 and out["text"].startswith("Trace(seed")
