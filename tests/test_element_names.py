"""Every reasonable spelling of a weight names the same element, and the output says which
counting it prints (textbook wˡᵢⱼ from 1, NumPy W1[0,1] from 0)."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.errors import ChainruleError
from chainrule.explain.element_names import element_key
from tests.test_cli import run

SHAPES = {"W1": (2, 2), "b1": (2,), "W2": (2, 1), "b2": (1,)}


@pytest.mark.parametrize("text", ["W1[0,1]", "W1[0][1]", " W1[ 0 , 1 ] ", "w¹₁₂", "w^1_{12}",
                                  "w^{1}_{1,2}", "w1_12", "w1_1,2"])
def test_every_spelling_of_w1_12_is_W1_0_1(text):
    assert element_key(text, SHAPES) == "W1[0,1]"


@pytest.mark.parametrize("text, key", [("b²₁", "b2[0]"), ("b2_1", "b2[0]"), ("b1[1]", "b1[1]"),
                                       ("w2_21", "W2[1,0]"), ("w²₂₁", "W2[1,0]")])
def test_biases_and_other_layers(text, key):
    assert element_key(text, SHAPES) == key


@pytest.mark.parametrize("text, message", [
    ("W1[2,0]", r"W1 has shape \(2, 2\); NumPy indices count from 0"),
    ("w1_33", r"W1 has shape \(2, 2\), and textbook units count from 1"),
    ("w1_02", r"textbook units count from 1"),
    ("W3[0,0]", r"this network has no W3 \(parameters: W1, b1, W2, b2\)"),
    ("z1", r"not a weight or bias; write W1\[0,1\] \(NumPy, from 0\) or w¹₁₂"),
])
def test_a_wrong_element_is_one_line(text, message):
    with pytest.raises(ChainruleError, match=message):
        element_key(text, SHAPES)


@pytest.mark.parametrize("text", ["w1_" + "1" * 5000, "W1[" + "9" * 5000 + ",0]", "x" * 10**6])
def test_a_huge_name_is_one_line(text):
    with pytest.raises(ChainruleError, match=r"characters; an element name has at most 64"):
        element_key(text, SHAPES)


def test_run_together_digits_that_read_two_ways_are_refused():
    with pytest.raises(ChainruleError, match=r"could be w1_1,12 or w1_11,2; separate the units"):
        element_key("w1_112", {"W1": (12, 12)})
    assert element_key("w1_11,2", {"W1": (12, 12)}) == "W1[10,1]"


def test_the_output_says_which_counting_it_prints():
    text = cr.render(cr.explain("seed"), "text", param="w¹₁₂", width=200)
    assert "∂E/∂w¹₁₂ (W1[0,1] in NumPy, from 0): the derivation of one gradient" in text
    full = " ".join(cr.render(cr.explain("seed"), "text").split())
    assert "w¹₁₂ joins unit 1 of layer 0 to unit 2 of layer 1, the element W1[0,1]" in full


def test_the_cli_takes_a_textbook_spelling_for_every_format():
    for fmt in ("text", "html"):
        done = run("explain", "--param", "w^1_{12}", "-f", fmt)
        assert done.returncode == 0, done.stderr
    done = run("explain", "--param", "w1_33")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    done = run("explain", "--param", "w1_" + "1" * 5000)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and len(done.stderr) < 300
