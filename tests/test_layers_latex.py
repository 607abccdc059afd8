"""The layer lens as LaTeX: documents and fragments compile with pdflatex, inside the margins,
every symbol the lens writes translated, nothing from a spec passed through raw."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule as cr
from chainrule.explain.lens.layers import explain_layers
from chainrule.explain.render.latex import PREAMBLE
from chainrule.explain.render.layers import render_layers
from chainrule.explain.render.layers_latex import math_line
from chainrule.spec.network import parse_spec
from tests.test_latex import compile_latex, needs_pdflatex
from tests.test_verify_layered import SPECS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@needs_pdflatex
@pytest.mark.parametrize("name", ["cnn.yaml", "cnn-batchnorm.yaml", "rnn.yaml", "lstm.yaml",
                                  "attention.yaml", *SPECS])
def test_documents_compile_within_the_margins(tmp_path, name):
    spec = cr.load_spec(str(EXAMPLES / name)) if name.endswith(".yaml") else \
        parse_spec(SPECS[name]())
    log = compile_latex(tmp_path, render_layers(explain_layers(spec), "latex"))
    assert "Overfull \\hbox" not in log and "Overfull \\vbox" not in log


@needs_pdflatex
def test_a_fragment_compiles_inside_a_course_document(tmp_path):
    trace = explain_layers(cr.load_spec(str(EXAMPLES / "cnn-batchnorm.yaml")))
    fragment = render_layers(trace, "latex", fragment=True, only="backward")
    assert "\\documentclass" not in fragment and "\\begin{document}" not in fragment
    compile_latex(tmp_path, PREAMBLE + "\\usepackage{array,longtable}\n\\begin{document}\n"
                  + fragment + "\\end{document}\n")


@needs_pdflatex
def test_a_specs_name_and_description_are_text(tmp_path):
    data = dict(SPECS["sequence"](), name="50% of #1 & co_op {x} \\input{/etc/passwd}",
                description="$x^2$ ~ ok")
    source = render_layers(explain_layers(parse_spec(data)), "latex")
    assert "\\input{/etc/passwd}" not in source and "\\textbackslash{}input" in source
    compile_latex(tmp_path, source)


def test_math_lines_of_backpropagation_through_time():
    assert math_line("∂E/∂1.weight_hh_l0[0,0] = Σ_t δ_t[0] · h_(t−1)[0]") == (
        r"\partial E/\partial \texttt{1.weight\_hh\_l0}[0,0] = \sum_{t} \delta _{t}[0] "
        r"\cdot  h_{t-1}[0]")
    assert math_line("c_t = f ⊙ c_(t−1), Π f, W_ihᵀ, ĝ, ‖·‖₂, 0.5") == (
        r"c_{t} = f \odot  c_{t-1}, \prod f, W_{ih}^{\top}, \hat{g}, \|\cdot \|_{2}, 0.5")


def test_math_lines():
    assert math_line("∂E/∂W[1,0,1,1] = Σₙ Σ_pq x[n,0,p+1,q+1] · δ[n,1,p,q]") == (
        r"\partial E/\partial W[1,0,1,1] = \sum_{n} \sum_{pq} x[n,0,p+1,q+1] \cdot  "
        r"\delta [n,1,p,q]")
    assert math_line("x̂ = (x − μ)/√(σ² + ε), ε = 1e−05") == (
        r"\hat{x} = (x - \mu )/\sqrt (\sigma ^{2} + \varepsilon ), \varepsilon  = "
        r"1\mathrm{e}{-}05")
    assert math_line("(1 if 1.802 > 0 else 0) the engine's value: −0.4616") == (
        r"(1 \text{ if }1.802 > 0 \text{ else }0) \text{ the engine's value: }{-}0.4616")


def test_a_symbol_without_a_translation_is_refused_not_passed_through():
    with pytest.raises(ValueError, match=r"no translation for '∮' \(U\+222E\)"):
        math_line("∮ f")
