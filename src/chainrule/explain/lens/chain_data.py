"""The plain data of a chain-rule factorisation: factors, terms and expansions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from chainrule.explain.notation import Symbol


@dataclass(repr=False)
class Factor:
    symbol: str
    latex: str
    formula: str
    formula_latex: str
    value: float

    def __repr__(self) -> str:
        shown = f" = {self.formula}" if self.formula and self.formula != self.symbol else ""
        return f"Factor({self.symbol}{shown} = {self.value:.6g})"


@dataclass(repr=False)
class Term:
    factors: list[Factor]
    value: float

    def __repr__(self) -> str:
        return f"Term({' · '.join(f.symbol for f in self.factors)} = {self.value:.6g})"


@dataclass(repr=False)
class Expansion:
    """A quantity as a product of ``factors`` and/or a sum of ``terms``, with its value."""

    key: str
    symbol: str
    latex: str
    value: float
    rule: str = ""  # the general form, e.g. "δ¹₁ = ∂a¹₁/∂z¹₁ · Σₖ w²₁ₖ δ²ₖ"
    rule_latex: str = ""
    factors: list[Factor] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    paths: int = 1
    delta: str | None = None  # for a parameter: the key of the delta it rests on

    def __repr__(self) -> str:
        """One line, ``Expansion(W1[0,0]: ∂E/∂w¹₁₁ = -0.000556, 5 factors)``: the fields
        (LaTeX, every factor) are in :meth:`to_dict` and the renderers."""
        parts = [f"{len(self.factors)} factor{'s' * (len(self.factors) != 1)}"] * bool(
            self.factors)
        parts += [f"{len(self.terms)} term{'s' * (len(self.terms) != 1)}"] * bool(self.terms)
        parts += [f"{self.paths} paths"] * (self.paths != 1)
        return (f"Expansion({self.key}: {self.symbol} = {self.value:.6g}"
                + "".join(", " + part for part in parts) + ")")

    def to_dict(self) -> dict:
        """Plain data for JSON: empty fields left out, a non-finite number (a saturated unit's
        ∂E/∂a can be ±inf) written as None, since JSON has no NaN or Infinity."""
        return {k: _finite_or_none(v) for k, v in asdict(self).items()
                if v is not None and not (isinstance(v, (str, list)) and not v)}


def _finite_or_none(value):
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


def factor(symbol: Symbol, formula: str, formula_latex: str, value: float) -> Factor:
    return Factor(symbol.text, symbol.latex, formula, formula_latex, float(value))


def product(factors: list[Factor]) -> float:
    # A saturated unit can give ∞·0; the caller sees the NaN and writes the delta another way.
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.prod([f.value for f in factors]))
