"""The LaTeX output compiles with pdflatex: whole documents, and a fragment inside one."""

from __future__ import annotations

import shutil
import subprocess
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
    assert latex_escape("a_b & 50% η") == r"a\_b \& 50\% $\eta$"


def test_seed_latex_states_the_chain_product():
    tex = cr.render(cr.explain("seed"), "latex", precision=4)
    assert r"\frac{\partial E}{\partial w^{1}_{11}}" in tex
    assert "(-0.0413)(0.2178)(0.5000)(0.2467)(0.5000)" in tex
