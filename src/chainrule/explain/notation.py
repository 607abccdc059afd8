"""How quantities are written: aˡⱼ, zˡⱼ, wˡᵢⱼ, bˡⱼ, δˡⱼ in text and LaTeX.

Layers are superscripts (0 is the input), units subscripts counted from 1 as textbooks do;
NumPy indices (``W1[0, 0]``) count from 0. An example in a batch is a superscript ⁽ⁿ⁾.
"""

from __future__ import annotations

from typing import NamedTuple

_SUP = str.maketrans("0123456789()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾ⁿ")
_SUB = str.maketrans("0123456789,ijkmn", "₀₁₂₃₄₅₆₇₈₉,ᵢⱼₖₘₙ")


def sup(value: int | str) -> str:
    return str(value).translate(_SUP)


Unit = int | str  # a 0-based index, or a letter standing for any unit ("k")


def _unit_parts(units: tuple[Unit, ...]) -> tuple[list[str], str]:
    parts = [u if isinstance(u, str) else str(u + 1) for u in units]
    return parts, ("," if any(len(p) > 1 for p in parts) else "")


def sub(*units: Unit) -> str:
    """Subscripts from 0-based indices: (0, 1) → ₁₂; with any index ≥ 9, comma-separated."""
    parts, joiner = _unit_parts(units)
    return joiner.join(parts).translate(_SUB)


class Symbol(NamedTuple):
    """One quantity written both ways."""

    text: str
    latex: str

    def __str__(self) -> str:
        return self.text


def quantity(letter: str, layer: int | None, *units: Unit, example: int | None = None) -> Symbol:
    """``quantity("w", 1, 0, 0)`` → w¹₁₁ / ``w^{1}_{11}``; ``letter`` may be a LaTeX command.
    Written in the notation profile in force (:mod:`chainrule.explain.profiles`)."""
    from chainrule.explain.profiles import current

    chosen = current()
    text_letter, latex_letter = chosen.letters.get(
        letter, ({"delta": "δ"}.get(letter, letter), {"delta": r"\delta"}.get(letter, letter)))
    if letter == "w" and chosen.weights == "to_from" and len(units) == 2:
        units = (units[1], units[0])
    if chosen.layer == "code":
        return _code(text_letter, layer, units, example)
    layer_part = "" if layer is None else str(layer)
    example_part = "" if example is None else f"({example + 1})"
    parts, joiner = _unit_parts(units)
    lower = f"_{{{joiner.join(parts)}}}" if parts else ""
    if chosen.layer == "sup" or layer is None:
        text = text_letter + sup(layer_part + example_part) + sub(*units)
        upper = layer_part + example_part
    else:
        bracket = f"[{layer_part}]" if chosen.layer == "bracket" else f"({layer_part})"
        text = (text_letter + (bracket if chosen.layer == "bracket" else sup(bracket))
                + sup(example_part) + sub(*units))
        upper = bracket + example_part
    return Symbol(text, latex_letter + (f"^{{{upper}}}" if upper else "") + lower)


def _code(letter: str, layer: int | None, units: tuple[Unit, ...],
          example: int | None) -> Symbol:
    """CS231n's code names: ``W1[0,1]``, ``z2[0]``, ``dz1[1,0]`` (example first), from 0."""
    index = ([str(example)] if example is not None else []) + [
        u if isinstance(u, str) else str(u) for u in units]
    text = f"{letter}{'' if layer is None else layer}" + (f"[{','.join(index)}]" if index
                                                          else "")
    return Symbol(text, r"\texttt{" + text.replace("_", r"\_") + "}")


def loss_symbol() -> Symbol:
    """E, or the loss's letter in the profile in force (C, J, L, loss)."""
    from chainrule.explain.profiles import current

    letter = current().loss
    return Symbol(letter, r"\mathrm{loss}" if len(letter) > 1 else letter)


def partial(top: Symbol | str, bottom: Symbol) -> Symbol:
    """∂top/∂bottom; the loss's gradient as the profile writes it (∂C/∂w, dw, dW1[0,1])."""
    from chainrule.explain.profiles import current

    if isinstance(top, str) and top == "E":
        chosen = current()
        if chosen.gradient == "d":
            return Symbol(f"d{bottom.text}", f"d{bottom.latex}")
        if chosen.gradient == "code":
            text = f"d{bottom.text}"
            return Symbol(text, r"\texttt{" + text.replace("_", r"\_") + "}")
        top = loss_symbol()
    top = Symbol(top, top) if isinstance(top, str) else top
    return Symbol(f"∂{top.text}/∂{bottom.text}",
                  rf"\frac{{\partial {top.latex}}}{{\partial {bottom.latex}}}")


def element_key(name: str, index: tuple[int, ...]) -> str:
    """``W1[0,1]``: the NumPy index of one element, as ``--param`` and the JSON use it."""
    return f"{name}[{','.join(map(str, index))}]"


def parameter_symbol(name: str, index: tuple[int, ...], shared_bias: bool = False) -> Symbol:
    """``W1``, (0, 1) → w¹₁₂; ``b2``, (0,) → b²₁ (or b² for a bias shared by the layer)."""
    layer = int(name[1:])
    if name.startswith("W"):
        return quantity("w", layer, *index)
    return quantity("b", layer) if shared_bias else quantity("b", layer, *index)


def parse_element_key(key: str) -> tuple[str, tuple[int, ...]]:
    """``W1[0,1]`` → ("W1", (0, 1)); the inverse of :func:`element_key`."""
    name, _, rest = key.partition("[")
    return name, tuple(int(i) for i in rest.rstrip("]").split(","))


def element_symbol(name: str, index: tuple[int, ...], batched: bool = False,
                   shared_bias: bool = False) -> Symbol | None:
    """The textbook symbol of one element of a step's quantity, as worksheets print it:
    ``forward.z1`` (0,) → z¹₁, ``backward.delta2`` (0,) → δ²₁ (an example of a batch as
    a superscript: z¹⁽²⁾₁), ``gradients.W1`` (0, 1) → ∂E/∂w¹₁₂, ``updated.b2`` (0,) →
    b²₁ (updated), ``forward.loss`` → E; None for a quantity without one (``loss_after``)."""
    section, _, what = name.partition(".")
    if name == "forward.loss":
        return loss_symbol()
    if section in ("forward", "backward"):
        letter = "delta" if what.startswith("delta") else what[:1]
        if letter not in ("z", "a", "delta"):
            return None
        layer = int(what[len(letter):])
        example, unit = (index[0], index[1]) if batched else (None, index[0])
        return quantity(letter, layer, unit, example=example)
    if section not in ("gradients", "updated", "parameters"):
        return None
    theta = parameter_symbol(what, index, shared_bias and what.startswith("b"))
    if section == "gradients":
        return partial("E", theta)
    if section == "updated":
        return Symbol(f"{theta.text} (updated)", rf"{theta.latex}\ \text{{(updated)}}")
    return theta

