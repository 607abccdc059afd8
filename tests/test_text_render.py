"""The text renderer writes plain text itself, without rich: byte for byte what rich writes.

``chainrule explain`` to a pipe or a file no longer imports rich (its console is a third of the
start-up); these tests hold the plain writer to rich's own output, for whole worked examples
and for prose, rules and widths drawn by hypothesis.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.explain.render.text import _ONE_CELL, _layout, _plain, _through_rich
from chainrule.explain.render.worked import outline

rich_cells = pytest.importorskip("rich.cells")


def _rich(how: str, line: str, width: int) -> str:
    from rich.console import Console
    from rich.rule import Rule
    from rich.text import Text

    console = Console(file=io.StringIO(), width=width, force_terminal=False,
                      color_system=None, highlight=False, emoji=False)
    if how == "rule":
        console.print(Rule(Text(line, style="bold"), align="left", characters="─"),
                      soft_wrap=True)
    else:
        console.print(Text(line, style="italic"), soft_wrap=how == "keep")
    return console.file.getvalue()


def test_every_character_written_plain_is_one_cell_to_rich():
    plain = [chr(c) for c in range(0x3000) if _ONE_CELL.fullmatch(chr(c))]
    assert len(plain) > 1500
    assert [c for c in plain if rich_cells.cell_len(c) != 1] == []


# words of one-cell characters, some longer than a line, with runs of spaces between them
_words = st.text(st.sampled_from("ab─ⱼδ∂·"), min_size=1, max_size=30)
_prose = st.lists(st.tuples(st.sampled_from(["", " ", "  ", "   "]), _words), max_size=12).map(
    lambda pairs: "".join(space + word for space, word in pairs))


@given(how=st.sampled_from(["wrap", "keep", "rule"]),
       line=st.builds(lambda lead, body, trail: lead + body + trail,
                      st.sampled_from(["", " ", "   "]), _prose, st.sampled_from(["", "  "])),
       width=st.integers(1, 40))
def test_plain_lines_are_rich_lines(how, line, width):
    assert _plain(how, line, width) == _rich(how, line, width)


@pytest.mark.parametrize("width", [100, 41, 12])
@pytest.mark.parametrize("network", ["seed", "examples/softmax.yaml", "examples/deep.json"])
def test_whole_examples_are_rich_output(network, width):
    lines = _layout(outline(cr.explain(network), 6, None, None, None), width, 6)
    plain = "".join(_plain(how, "".join(t for t, _ in spans), width) for how, spans in lines)
    assert plain == _through_rich(lines, width, False)
    assert cr.render(cr.explain(network), "text", precision=6, width=width) == plain


def test_a_wide_character_goes_through_rich():
    spec = cr.parse_spec({"name": "网络", "layers": [2, 1], "activations": "sigmoid",
                          "loss": "sse", "input": [0.5, 0.3], "target": [0.7],
                          "learning_rate": 0.1, "seed": 1})
    text = cr.render(cr.explain(spec), "text", width=30)
    assert text.splitlines()[0] == "网络: a 2-1 network"
