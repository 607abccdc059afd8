"""The blocks a worked example is made of; renderers decide how each looks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from chainrule.explain.notation import Symbol


class Heading(NamedTuple):
    text: str
    level: int = 2


class Paragraph(NamedTuple):
    text: str
    latex: str  # the same sentence for LaTeX (math in $…$)


class Equation(NamedTuple):
    """lhs = parts[0] = parts[1] = …, each side as (text, latex)."""

    lhs: Symbol
    parts: list[tuple[str, str]]
    relation: str = "="  # "←" for an update: the new value of the parameter on the left

    @property
    def relation_latex(self) -> str:
        return r"\leftarrow" if self.relation == "←" else "="


@dataclass
class Matrix:
    symbol: Symbol
    values: np.ndarray
    note: str = ""


@dataclass
class Outline:
    title: str
    subtitle: str
    blocks: list = field(default_factory=list)


def latex_number(text: str) -> str:
    """``1.5e-05`` → ``1.5 \\times 10^{-5}``; other numbers as they are."""
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def latex_matrix(values, precision: int) -> str:
    """A vector or matrix as ``\\begin{bmatrix} … \\end{bmatrix}`` (a vector as one row)."""
    from chainrule.explain.numfmt import number

    rows = np.atleast_2d(np.asarray(values, dtype=float))
    body = r" \\ ".join(" & ".join(latex_number(number(v, precision)) for v in row)
                        for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"
