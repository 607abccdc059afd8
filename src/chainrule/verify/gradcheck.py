"""Finite-difference gradient checking that reports, element by element.

Modelled on PyTorch's ``gradcheck``, but the answer is a :class:`GradcheckReport`, never a bare
bool. Two kinds of function are checked:

* a function of chainrule tensors: the analytic gradient ``a`` comes from one ``backward()``
  on float64 copies;
* a plain NumPy function ``f(x) -> float`` with ``grad=`` the gradient the user derived (an
  array, or a callable ``x -> array``), as CS231n's ``eval_numerical_gradient`` is used: see
  :mod:`chainrule.verify.gradcheck_numpy`.

Per element of every input that requires a gradient: numeric ``n`` = (f(x+ε) − f(x−ε)) / 2ε in
float64 (the element perturbed on a copy, then restored bit for bit); status

* ``ok`` if |a − n| ≤ atol + rtol·|n| (numpy.allclose's and torch's rule; n is the reference);
* ``kink`` if f has no derivative there: the one-sided slopes (f(x+ε) − f(x))/ε and
  (f(x) − f(x−ε))/ε disagree beyond that tolerance, and still do with ε/10 (a smooth f's gap
  is ≈ f''·ε, a kink's the jump in slope) — relu at 0, a tie in ``maximum``, |x| at 0. The
  engine's subgradient there can be neither confirmed nor refuted, so it is flagged, not failed;
* ``fail`` otherwise.

A non-scalar output y of a tensor function is reduced to L = Σ u ⊙ y, u standard normal from
``numpy.random.default_rng(seed)``: one backward pass checks the whole vector-Jacobian product
uᵀJ, each input element against a random mix of all outputs (a wrong Jacobian entry escapes
only if u cancels it exactly: probability zero). A NumPy function must return a scalar: the
user's gradient is of a scalar, and no random mix of it can be formed from outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from chainrule.autodiff.engine import enable_grad, no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.nn.losses import output_loss
from chainrule.spec.network import Spec, load_spec, parse_spec
from chainrule.verify.gradcheck_numeric import check_element, warn
from chainrule.verify.gradcheck_numpy import check_function
from chainrule.verify.gradcheck_report import (GradcheckReport, GradcheckRow,  # noqa: F401
                                               GradcheckWarning)


def gradcheck(f: Callable[..., Any], inputs: Any, *, grad: Any = None, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> GradcheckReport:
    """Check the gradient of ``f(*inputs)`` (``f(**inputs)`` for a dict of inputs).

    Without ``grad``, ``inputs`` are tensors and the engine's gradient is checked. Inputs are
    named by dict key, else ``.name``, else ``inputs[i]``. ``f`` runs on float64 copies, never
    on the caller's tensors; inputs with ``requires_grad=False`` are skipped.

    With ``grad``, ``f`` is a NumPy function returning a scalar, ``inputs`` an array (named
    ``x``) or a dict of arrays, and ``grad`` the analytic gradient to check: an array of x's
    shape (a dict of them), or a callable taking what ``f`` takes and returning that.
    """
    if grad is not None:
        return check_function(f, inputs, grad, eps=eps, atol=atol, rtol=rtol)
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    keyed = isinstance(inputs, Mapping)
    items = list(inputs.items()) if keyed else [
        (t.name if isinstance(t, Tensor) and t.name else f"inputs[{i}]", t)
        for i, t in enumerate(inputs)]
    notes: list[str] = []
    copies: list[tuple[str, Tensor]] = []
    for name, tensor in items:
        if not isinstance(tensor, Tensor):
            hint = (" (for a NumPy function, pass its gradient: gradcheck(f, x, grad=...))"
                    if isinstance(tensor, np.ndarray) else "")
            raise TypeError(f"gradcheck: input {name!r}: expected a chainrule.Tensor, "
                            f"got {type(tensor).__name__}{hint}")
        if tensor.dtype != np.float64:
            notes.append(warn(
                f"input {name!r} is {tensor.dtype}: the check runs in float64 on a copy, because "
                f"in {tensor.dtype} rounding swamps central differences with eps={eps:g}", 3))
        copies.append((name, Tensor(np.array(tensor.data, dtype=np.float64), tensor.name,
                                    requires_grad=tensor.requires_grad)))

    def evaluate() -> Tensor:
        return f(**dict(copies)) if keyed else f(*[copy for _, copy in copies])
    return _check(evaluate, copies, eps=eps, atol=atol, rtol=rtol, seed=seed, notes=notes)


def gradcheck_spec(source: Spec | str | Path | dict | None = None, *, eps: float = 1e-6,
                   atol: float = 1e-5, rtol: float = 1e-3) -> GradcheckReport:
    """Check the loss of a network spec (step 1, as ``chainrule.explain`` computes it) against
    every parameter W1, b1, ...; ``source`` is a Spec, a decoded dict, a file or a preset name."""
    spec = source if isinstance(source, Spec) else (
        parse_spec(source) if isinstance(source, dict) else load_spec(source))
    model = spec.build_model()  # float64, owned here: perturbing it in place harms no one

    def loss() -> Tensor:
        last = model.forward_steps(spec.inputs)[-1]
        return output_loss(spec.loss, last.z, last.a, spec.activations[-1], spec.targets,
                           reduction="none").mean()

    return _check(loss, model.named_parameters(), eps=eps, atol=atol, rtol=rtol, seed=0,
                  notes=[])


def _check(evaluate: Callable[[], Tensor], named: Sequence[tuple[str, Tensor]], *, eps: float,
           atol: float, rtol: float, seed: int, notes: list[str]) -> GradcheckReport:
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps!r}")
    checked = [(name, t) for name, t in named if t.requires_grad]
    skipped = [name for name, t in named if not t.requires_grad]
    with enable_grad():
        out = evaluate()
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: f must return a chainrule.Tensor, "
                            f"got {type(out).__name__}")
        if out.dtype != np.float64:
            notes.append(warn(f"f returned {out.dtype} from float64 inputs: something inside "
                               "f computes in lower precision, so the check is unreliable", 4))
        # A scalar is its own loss; anything else is projected onto a fixed random direction.
        u = np.ones(out.shape) if out.size == 1 else np.random.default_rng(seed).normal(
            size=out.shape)
        if out.requires_grad and checked:
            out.backward(u)

    def value() -> float:
        # A probe may step out of f's domain (log of x − ε < 0): that is the checker's doing,
        # so NumPy stays quiet and the NaN shows up in the row as a failure instead.
        with no_grad(), np.errstate(all="ignore"):
            return float(np.sum(u * evaluate().data))

    base = value()
    rows = []
    for name, tensor in checked:
        analytic = np.zeros(tensor.shape) if tensor.grad is None else tensor.grad.copy()
        for index in np.ndindex(tensor.shape):
            rows.append(check_element(value, base, name, tensor.data, index,
                                       float(analytic[index]), eps, atol, rtol))
    return GradcheckReport(rows, eps, atol, rtol, notes, skipped, tuple(out.shape), seed)


