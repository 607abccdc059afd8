"""The worked example as Markdown a teacher can paste into a course page (math in $…$)."""

from __future__ import annotations

from chainrule.escape import markdown_text
from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph, latex_matrix
from chainrule.explain.numfmt import DEFAULT_PRECISION
from chainrule.explain.render.worked import outline
from chainrule.explain.trace import Trace


def render_markdown(trace: Trace, precision: int = DEFAULT_PRECISION, param: str | None = None,
                    only: str | None = None, symbolic=None, example: int | None = None) -> str:
    doc = outline(trace, precision, param, only, symbolic, example)
    # The title holds the spec's name, which is the user's text; the rest is chainrule's own.
    lines = [f"# {markdown_text(doc.title)}", "", f"*{doc.subtitle}*"]
    # Sections are "##" headings, or "###" under "## Step n" headings when there are steps.
    deeper = any(isinstance(b, Heading) and b.level == 1 for b in doc.blocks)
    previous = None
    for block in doc.blocks:
        if isinstance(block, Heading):
            level = 2 if block.level == 1 else 2 + deeper
            lines += ["", "#" * level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += ([""] if previous is not None and not isinstance(previous, Heading) else [])
            lines += [block.latex, ""]
        elif isinstance(block, Matrix):
            note = f" ({block.note})" if block.note else ""
            lines.append(f"- ${block.symbol.latex} = {latex_matrix(block.values, precision)}$"
                         f"{note}")
        elif isinstance(block, Equation):
            sides = f" {block.relation_latex} ".join(
                [block.lhs.latex, " = ".join(latex for _, latex in block.parts)])
            lines.append(f"- ${sides}$")
        previous = block
    return "\n".join(lines).rstrip() + "\n"
