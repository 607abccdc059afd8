"""Finite-difference gradient checking that reports, element by element.

Modelled on PyTorch's ``gradcheck``, but the answer is a :class:`GradcheckReport`, never a bare
bool. Per element of every input that requires a gradient: analytic ``a`` from one
``backward()`` on float64 copies; numeric ``n`` = (f(x+ε) − f(x−ε)) / 2ε in float64 (the element
perturbed in place on the copy, then restored bit for bit); status

* ``ok`` if |a − n| ≤ atol + rtol·|n| (numpy.allclose's and torch's rule; n is the reference);
* ``kink`` if f has no derivative there: the one-sided slopes (f(x+ε) − f(x))/ε and
  (f(x) − f(x−ε))/ε disagree beyond that tolerance, and still do with ε/10 (a smooth f's gap
  is ≈ f''·ε, a kink's the jump in slope) — relu at 0, a tie in ``maximum``, |x| at 0. The
  engine's subgradient there can be neither confirmed nor refuted, so it is flagged, not failed;
* ``fail`` otherwise.

A non-scalar output y is reduced to L = Σ u ⊙ y, u standard normal from
``numpy.random.default_rng(seed)``: one backward pass checks the whole vector-Jacobian product
uᵀJ, each input element against a random mix of all outputs (a wrong Jacobian entry escapes
only if u cancels it exactly: probability zero).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from chainrule.autodiff.engine import enable_grad, no_grad
from chainrule.errors import GradcheckError
from chainrule.nn.losses import output_loss
from chainrule.explain.numfmt import number
from chainrule.spec.network import Spec, load_spec, parse_spec
from chainrule.autodiff.tensor import Tensor

TINY = np.finfo(np.float64).tiny  # keeps |a − n| / max(|a|, |n|) defined when both are 0


class GradcheckWarning(UserWarning):
    """The check had to change something to be meaningful (e.g. it ran in float64 on a copy)."""


@dataclass(frozen=True)
class GradcheckRow:
    """One element of one input: both derivatives, both errors and the verdict."""

    input: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    status: str  # "ok" | "fail" | "kink"

    @property
    def label(self) -> str:
        """``W1[0,1]``; a 0-d input is just its name."""
        return self.input + (f"[{','.join(map(str, self.index))}]" if self.index else "")

    def to_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        return {**{k: _json(v) if isinstance(v, float) else v for k, v in fields.items()},
                "index": list(self.index)}


@dataclass
class GradcheckReport:
    """Every checked element; ``str(report)`` is a table, ``report.assert_ok()`` a test."""

    rows: list[GradcheckRow]
    eps: float
    atol: float
    rtol: float
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # inputs with requires_grad=False
    output_shape: tuple[int, ...] = ()
    seed: int = 0  # of the projection u, used only when the output is not a scalar

    @property
    def projected(self) -> bool:
        return int(np.prod(self.output_shape)) != 1

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[GradcheckRow]:
        return [row for row in self.rows if row.status == "fail"]

    @property
    def kinks(self) -> list[GradcheckRow]:
        return [row for row in self.rows if row.status == "kink"]

    def worst(self) -> GradcheckRow | None:
        """The row with the largest relative error among non-kinks (NaN counts as largest)."""
        smooth = [row for row in self.rows if row.status != "kink"]
        return max(smooth, key=lambda row: np.nan_to_num(row.rel_error, nan=np.inf),
                   default=None)

    def assert_ok(self) -> "GradcheckReport":
        """Raise :class:`GradcheckError` naming the first failing element; else return self."""
        if not self.failures:
            return self
        row = self.failures[0]
        raise GradcheckError(
            f"gradcheck: {row.label} (input {row.input!r}, index {row.index}): analytic "
            f"{row.analytic!r}, numeric {row.numeric!r}; absolute error {row.abs_error:.3g}, "
            f"relative error {row.rel_error:.3g}; expected |analytic − numeric| ≤ atol + "
            f"rtol·|numeric| = {self.atol:g} + {self.rtol:g}·{abs(row.numeric):.3g} = "
            f"{self.atol + self.rtol * abs(row.numeric):.3g} (eps {self.eps:g}); "
            f"{len(self.failures)} of {len(self.rows)} elements failed")

    def summary(self) -> str:
        counts = {s: sum(row.status == s for row in self.rows) for s in ("ok", "kink", "fail")}
        kinks = f"{counts['kink']} kink" + ("" if counts["kink"] == 1 else "s")
        text = f"{len(self.rows)} elements: {counts['ok']} ok, {kinks}, {counts['fail']} failed"
        worst = self.worst()
        if worst is not None:
            text += f"; worst relative error {worst.rel_error:.2g} at {worst.label}"
        return text

    def __str__(self) -> str:
        header = ("input", "index", "analytic", "numeric", "abs err", "rel err", "status")
        cells = [header] + [
            (row.input, ",".join(map(str, row.index)), number(row.analytic), number(row.numeric),
             f"{row.abs_error:.1e}", f"{row.rel_error:.1e}", row.status) for row in self.rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
        align = [str.ljust, str.ljust] + [str.rjust] * 4 + [str.ljust]
        lines = ["  ".join(a(c, w) for a, c, w in zip(align, line, widths)).rstrip()
                 for line in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        notes = [f"warning: {text}" for text in self.warnings]
        notes += [f"skipped (requires_grad=False): {', '.join(self.skipped)}"] * bool(self.skipped)
        notes += [f"output of shape {self.output_shape} checked as Σ u ⊙ output, u ~ N(0, 1) "
                  f"from numpy.random.default_rng({self.seed})"] * self.projected
        notes.append(f"ok if |a − n| ≤ {self.atol:g} + {self.rtol:g}·|n|; "
                     f"n by central differences, eps {self.eps:g}")
        return "\n".join([*notes, *lines, self.summary()])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: floats and lists; a non-finite number becomes None."""
        worst = self.worst()
        return {"ok": self.ok, "eps": self.eps, "atol": self.atol, "rtol": self.rtol,
                "output_shape": list(self.output_shape),
                "projection_seed": self.seed if self.projected else None,
                "warnings": list(self.warnings), "skipped": list(self.skipped),
                "summary": self.summary(), "worst": None if worst is None else worst.label,
                "rows": [row.to_dict() for row in self.rows]}


def gradcheck(f: Callable[..., Tensor], inputs: Sequence[Tensor] | Mapping[str, Tensor] | Tensor,
              *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> GradcheckReport:
    """Check the engine's gradient of ``f(*inputs)`` (``f(**inputs)`` for a dict of inputs).

    Inputs are named by dict key, else ``.name``, else ``inputs[i]``. ``f`` runs on float64
    copies, never on the caller's tensors; inputs with ``requires_grad=False`` are skipped.
    """
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
            raise TypeError(f"gradcheck: input {name!r}: expected a chainrule.Tensor, "
                            f"got {type(tensor).__name__}")
        if tensor.dtype != np.float64:
            notes.append(_warn(
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
            notes.append(_warn(f"f returned {out.dtype} from float64 inputs: something inside "
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
            rows.append(_check_element(value, base, name, tensor.data, index,
                                       float(analytic[index]), eps, atol, rtol))
    return GradcheckReport(rows, eps, atol, rtol, notes, skipped, tuple(out.shape), seed)


def _check_element(value: Callable[[], float], base: float, name: str, data: np.ndarray,
                   index: tuple[int, ...], analytic: float, eps: float, atol: float,
                   rtol: float) -> GradcheckRow:
    eps = _step(float(data[index]), eps)
    up, down = _perturbed(value, data, index, eps)
    # f(x ± ε) == f(x) exactly while the analytic slope is not 0: the step was lost in rounding
    # downstream (a bias added to a 1e154 net input), and 0 would be a silently wrong slope.
    # Larger steps until f moves by a million of its ulps, enough digits for the slope; an
    # exact 0 slope never gets here (its analytic value is 0).
    if up == down == base and analytic != 0:
        resolution = 1e6 * float(np.spacing(abs(base)))
        while abs(up - down) < resolution and eps < MAX_STEP:
            eps *= 10
            up, down = _perturbed(value, data, index, eps)
    numeric = (up - down) / (2 * eps)
    abs_error = abs(analytic - numeric)
    rel_error = abs_error / max(abs(analytic), abs(numeric), TINY)
    tolerance = atol + rtol * abs(numeric)
    status = "ok" if abs_error <= tolerance else "fail"
    # One-sided slopes (up − base)/ε and (base − down)/ε: their gap is ≈ f''·ε if f is smooth
    # here, so it shrinks with ε; at a kink it is the jump in slope, whatever ε.
    gap = abs(up - 2 * base + down) / eps
    if gap > tolerance:
        small_up, small_down = _perturbed(value, data, index, eps / 10)
        if abs(small_up - 2 * base + small_down) / (eps / 10) > gap / 2:
            status = "kink"
    return GradcheckRow(name, tuple(int(i) for i in index), analytic, float(numeric),
                        float(abs_error), float(rel_error), status)


MAX_STEP = 1e300  # the largest finite-difference step tried when smaller ones are lost


def _step(x: float, eps: float) -> float:
    """ε, or ε·|x| where x ± ε rounds back to x (|x| beyond ~1/ε): an absolute step lost in
    rounding would give (f(x) − f(x))/2ε = 0, a silently wrong slope."""
    if x + eps != x and x - eps != x:
        return eps
    return eps * abs(x)


def _perturbed(value: Callable[[], float], data: np.ndarray, index: tuple[int, ...],
               eps: float) -> tuple[float, float]:
    """f(x + ε) and f(x − ε) for one element of ``data``, which is restored bit for bit."""
    original = data[index].copy()
    try:
        data[index] = original + eps
        up = value()
        data[index] = original - eps
        down = value()
    finally:
        data[index] = original
    return up, down


def _warn(message: str, stacklevel: int) -> str:
    """Warn at the caller of the public function (``stacklevel`` counts from here)."""
    warnings.warn(GradcheckWarning(message), stacklevel=stacklevel)
    return message


def _json(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
