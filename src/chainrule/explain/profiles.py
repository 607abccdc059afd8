"""Notation profiles: the symbols of a course's textbook, one table row per profile.

Every symbol an explanation, a worksheet or a key prints is made by
:mod:`chainrule.explain.notation` (``quantity``, ``partial``), which writes it in the profile
in force (:func:`using`); the numbers never change, only their names. A profile says:

* the letters: the loss (E, C, J, L), the net input, the activation, the delta;
* how a layer is written: a superscript l, ``[l]`` (Ng) or ``(l)`` (Goodfellow, d2l);
* a weight's indices: ``from, to`` (wˡᵢⱼ from unit i to unit j, chainrule's, Goodfellow's and
  d2l's ``XW`` layout) or ``to, from`` (Nielsen's w^l_{jk}, Ng's W^[l] of shape
  (n_l, n_{l−1}));
* a gradient: ∂E/∂w, or Ng's ``dW^[l]`` and CS231n's code names (``dW1[0,1]``, from 0).

Answers may be written in the profile's symbols (:meth:`chainrule.exercises.model.ProblemSet.
question` matches a question's symbol as the key printed it).
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field

from chainrule.frozen import Frozen


@dataclass(unsafe_hash=True)
class Profile(Frozen):
    name: str
    source: str  # the book or course
    loss: str  # the loss's letter
    letters: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False)
    # chainrule letter ("z", "a", "delta", "w", "b") → (text, LaTeX)
    layer: str = "sup"  # "sup" (w¹), "bracket" (w^[1]), "paren" (w^(1)), "code" (W1)
    weights: str = "from_to"  # or "to_from": the order of a weight's two unit indices
    gradient: str = "partial"  # "partial" (∂E/∂w), "d" (dw, Ng), "code" (dW1[0,1])
    convention: str = ""  # the sentence a worksheet states its notation in (LaTeX math)


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("chainrule", "chainrule's own: wˡᵢⱼ from unit i of layer l−1 to unit j of layer l",
            "E",
            convention=r"Each layer computes $z^{l} = a^{l-1} W^{l} + b^{l}$ and "
                       r"$a^{l} = f(z^{l})$, with $a^{0} = x$ the input; $w^{l}_{ij}$ (row $i$, "
                       r"column $j$ of $W^{l}$) is the weight from unit $i$ of layer $l-1$ to "
                       r"unit $j$ of layer $l$."),
    Profile("nielsen", "Nielsen, Neural Networks and Deep Learning: w^l_{jk} to neuron j from "
            "neuron k, cost C", "C", weights="to_from",
            convention=r"Each layer computes $z^{l} = w^{l} a^{l-1} + b^{l}$ and "
                       r"$a^{l} = \sigma(z^{l})$; $w^{l}_{jk}$ is the weight to neuron $j$ of "
                       r"layer $l$ from neuron $k$ of layer $l-1$ (the given $W^{l}$ is "
                       r"$(w^{l})^{\top}$: row $k$, column $j$), $\delta^{l}_{j} = "
                       r"\partial C/\partial z^{l}_{j}$, and $C$ is the cost."),
    Profile("ng", "Ng, Deep Learning Specialization: W^[l] of shape (n_l, n_{l−1}), dZ, dW, "
            "db, cost J averaged with 1/m", "J", layer="bracket", weights="to_from",
            gradient="d", letters={"delta": ("dz", "dz")},
            convention=r"Each layer computes $Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}$ and "
                       r"$A^{[l]} = g^{[l]}(Z^{[l]})$, with $W^{[l]}$ of shape "
                       r"$(n^{[l]}, n^{[l-1]})$: $w^{[l]}_{jk}$ joins unit $k$ of layer $l-1$ "
                       r"to unit $j$ of layer $l$ (the given $W^{l}$ is $(W^{[l]})^{\top}$). "
                       r"$dZ^{[l]} = \partial J/\partial Z^{[l]}$, $dW^{[l]} = "
                       r"\tfrac{1}{m} dZ^{[l]} A^{[l-1]\top}$, $db^{[l]} = \tfrac{1}{m} "
                       r"\sum dZ^{[l]}$ over the $m$ examples."),
    Profile("cs231n", "CS231n's code names: W1[i, j], dW1, db1, dz1 (indices from 0, as NumPy "
            "counts)", "loss", layer="code", gradient="code",
            letters={"delta": ("dz", "dz"), "w": ("W", "W")},
            convention=r"Each layer computes \texttt{z1 = x.dot(W1) + b1} and \texttt{a1 = "
                       r"f(z1)}; \texttt{W1[i, j]} (from 0) joins input $i$ to unit $j$; "
                       r"\texttt{dW1} is $\partial \mathrm{loss}/\partial$\texttt{W1} and "
                       r"\texttt{dz1} is $\partial \mathrm{loss}/\partial$\texttt{z1}."),
    Profile("goodfellow", "Goodfellow, Bengio and Courville, Deep Learning (6.5): "
            "a^(k) = b^(k) + W^(k)ᵀ h^(k−1), h^(k) = f(a^(k)), g = ∇_a J", "J", layer="paren",
            letters={"z": ("a", "a"), "a": ("h", "h"), "delta": ("g", "g")},
            convention=r"Each layer computes $a^{(k)} = b^{(k)} + h^{(k-1)} W^{(k)}$ and "
                       r"$h^{(k)} = f(a^{(k)})$, with $h^{(0)} = x$; $W^{(k)}_{i,j}$ joins "
                       r"unit $i$ of layer $k-1$ to unit $j$ of layer $k$, and $g^{(k)}_{j} "
                       r"= \partial J/\partial a^{(k)}_{j}$."),
    Profile("d2l", "Zhang, Lipton, Li and Smola, Dive into Deep Learning (5.3): z = XW + b, "
            "h = φ(z), loss L", "L", layer="paren", letters={"a": ("h", "h")},
            convention=r"Each layer computes $z^{(l)} = h^{(l-1)} W^{(l)} + b^{(l)}$ and "
                       r"$h^{(l)} = \phi(z^{(l)})$, with $h^{(0)} = x$; $w^{(l)}_{ij}$ joins "
                       r"unit $i$ of layer $l-1$ to unit $j$ of layer $l$, $L$ is the loss."),
)}

_current: contextvars.ContextVar[Profile] = contextvars.ContextVar(
    "chainrule_notation", default=PROFILES["chainrule"])


def current() -> Profile:
    return _current.get()


def profile(name: str) -> Profile:
    """The profile called ``name``; a :class:`ValueError` lists the known ones."""
    if name not in PROFILES:
        raise ValueError(f"notation: expected one of {', '.join(PROFILES)}, got {name!r}")
    return PROFILES[name]


@contextmanager
def using(name: str | Profile | None):
    """Write every symbol in the profile ``name`` inside the block (None: unchanged)."""
    if name is None:
        yield current()
        return
    chosen = name if isinstance(name, Profile) else profile(name)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)
