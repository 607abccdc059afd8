"""What a gradient check found: one row per element, and the report that holds them.

Shared by both kinds of check (:mod:`chainrule.verify.gradcheck`): chainrule's own engine on
tensors, and a plain NumPy function with a gradient the user supplies. Either way the answer
is the same table — analytic, numeric, errors and a verdict per element, the worst one named —
so a user learns one report, never a bare bool.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from chainrule.frozen import Frozen
from chainrule.errors import GradcheckError
from chainrule.explain.numfmt import number


class GradcheckWarning(UserWarning):
    """The check had to change something to be meaningful (e.g. it ran in float64 on a copy)."""


@dataclass(unsafe_hash=True)
class GradcheckRow(Frozen):
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
    # Where the analytic column comes from: "engine" (backward()) or "grad" (the user's).
    analytic_source: str = "engine"

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
        source = "grad= (yours)" if self.analytic_source == "grad" else "the engine"
        notes.append(f"ok if |a − n| ≤ {self.atol:g} + {self.rtol:g}·|n|; a from {source}, "
                     f"n by central differences, eps {self.eps:g}")
        return "\n".join([*notes, *lines, self.summary()])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: floats and lists; a non-finite number becomes None."""
        worst = self.worst()
        return {"ok": self.ok, "eps": self.eps, "atol": self.atol, "rtol": self.rtol,
                "output_shape": list(self.output_shape), "analytic": self.analytic_source,
                "projection_seed": self.seed if self.projected else None,
                "warnings": list(self.warnings), "skipped": list(self.skipped),
                "summary": self.summary(), "worst": None if worst is None else worst.label,
                "rows": [row.to_dict() for row in self.rows]}


def _json(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
