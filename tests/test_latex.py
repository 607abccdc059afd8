"""The LaTeX output compiles with pdflatex: whole documents, and a fragment inside one; a
step fits few pages, its equations aligned section by section, and names stay one word."""

from __future__ import annotations

import shutil
import subprocess
import re
from pathlib import Path

import pytest

import chainrule as cr
from chainrule.explain.render.latex import PREAMBLE, latex_escape

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                    reason="pdflatex not installed (texlive-latex-base)")


def compile_latex(tmp_path: Path, source: str) -> str:
    (tmp_path / "doc.tex").write_text(source, encoding="utf-8")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, log[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    return log


@needs_pdflatex
@pytest.mark.parametrize("spec", ["seed", "batch.json", "softmax.yaml", "deep.json",
                                  "tanh.toml"])
def test_documents_compile_without_overfull_lines(tmp_path, spec):
    source = spec if spec == "seed" else str(EXAMPLES / spec)
    log = compile_latex(tmp_path, cr.render(cr.explain(source, steps=2), "latex"))
    assert "Overfull \\hbox" not in log


@needs_pdflatex
def test_fragment_compiles_inside_a_document(tmp_path):
    fragment = cr.render(cr.explain("seed"), "latex", fragment=True, param="W1[0,1]")
    assert "\\documentclass" not in fragment
    compile_latex(tmp_path, PREAMBLE + "\\begin{document}\n" + fragment + "\\end{document}\n")


@needs_pdflatex
def test_user_text_is_escaped(tmp_path):
    spec = {"name": "50% of #1 & co_op {x} ~ $ → ok", "layers": [1, 1], "loss": "mse",
            "input": [1.0], "target": [0.0], "learning_rate": 0.1, "seed": 1}
    compile_latex(tmp_path, cr.render(cr.explain(spec), "latex"))


def test_escape():
    assert latex_escape("a_b & 50% η") == r"\texttt{a\_b} \& 50\% $\eta$"
    assert latex_escape("W1_x\\_y") == r"\texttt{W1\_x}\textbackslash{}\_y"


def test_snake_case_names_are_one_word_in_typewriter_type():
    """In italic or roman, half\\_sse sets as "half_ sse"; in \\texttt it reads as one word."""
    tex = cr.render(cr.explain(str(EXAMPLES / "batch.json")), "latex")
    assert r"\texttt{half\_sse} loss" in tex
    assert tex.count(r"half\_sse") == tex.count(r"\texttt{half\_sse}")


def test_a_section_is_one_display_aligned_at_its_relations():
    tex = cr.render(cr.explain("seed"), "latex", precision=4)
    # network and data, forward, loss, backward, gradients, update: one align* each
    assert tex.count(r"\begin{align*}") == 6
    assert "\\begin{align*}\nz^{1}_{1} &= " in tex
    assert r"a^{1}_{1} &= \sigma(z^{1}_{1}) = \sigma(0.2300) = 0.5572" in tex


# Pages of one step at the CLI's default precision (10 decimals), measured when the equations
# of a section were first set in one align*: before, each equation was a centred display of
# its own, and seed took 5 pages, softmax 9, batch 11.
PAGES = [("seed", 2), ("softmax.yaml", 4), ("batch.json", 5)]


@needs_pdflatex
@pytest.mark.parametrize("spec, most", PAGES)
def test_a_step_fits_few_pages(tmp_path, spec, most):
    source = spec if spec == "seed" else str(EXAMPLES / spec)
    log = compile_latex(tmp_path, cr.render(cr.explain(source), "latex"))
    pages = int(re.search(r"Output written on doc\.pdf \((\d+) pages?", log).group(1))
    assert pages <= most
    assert "Overfull \\hbox" not in log


@needs_pdflatex
def test_fragment_fits_an_11pt_page_with_2cm_margins(tmp_path):
    """A fragment keeps to a narrower budget: pasted into the worksheets' 11pt documents (or a
    course's own), its longest lines still fit."""
    from chainrule.exercises.latex import PREAMBLE as SHEET_PREAMBLE

    fragment = cr.render(cr.explain(str(EXAMPLES / "softmax.yaml")), "latex", fragment=True)
    log = compile_latex(tmp_path, SHEET_PREAMBLE + "\\begin{document}\n" + fragment
                        + "\\end{document}\n")
    assert "Overfull \\hbox" not in log


def test_seed_latex_states_the_chain_product():
    tex = cr.render(cr.explain("seed"), "latex", precision=4)
    assert r"\frac{\partial E}{\partial w^{1}_{11}}" in tex
    assert "(-0.0413)(0.2178)(0.5000)(0.2467)(0.5000)" in tex


def test_graph_names_with_underscores_are_one_word():
    node = cr.Tensor(2.0, "step_size")
    product = node * 3.0
    product.name = "out"
    tex = cr.render(cr.explain_graph(product), "latex")
    assert r"\texttt{step\_size} &= 2" in tex and r"\mathrm{step\_size}" not in tex


@needs_pdflatex
def test_long_products_continue_on_the_next_line(tmp_path):
    """At 17 decimals a chain's five factors are wider than the page: they break between
    factors (``\\times`` starts the next line) instead of running off the margin."""
    tex = cr.render(cr.explain("seed"), "latex", precision=17)
    assert r"&\quad \times (" in tex
    assert "Overfull \\hbox" not in compile_latex(tmp_path, tex)


def test_math_width_counts_what_is_seen():
    from chainrule.explain.render.latex_width import math_width

    assert math_width(r"\frac{\partial E}{\partial w}") == math_width(r"\partial E") + 0.4
    assert math_width("x^{2}") < math_width("x2")  # a script is smaller
    assert math_width(r"\begin{bmatrix} 1 & 2 \end{bmatrix}") > math_width("12")
    assert math_width("a - b") > math_width("-b") > math_width("b")
