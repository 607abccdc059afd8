"""``chainrule verify``: the engine's gradients beside three independent computations.

For every parameter element: the analytic gradient (reverse mode), central finite differences,
PyTorch autograd on the same network, and sympy's derivative of the closed-form loss. A method
that cannot run here (torch or sympy not installed, a network too large for sympy) is named
with the reason and does not count as a disagreement; any method that *disagrees* beyond its
tolerance makes the report fail (exit status 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, MissingDependency
from chainrule.explain.notation import element_key
from chainrule.explain.numfmt import number
from chainrule.spec.network import Spec
from chainrule.explain.trace import explain

SCHEMA = "chainrule.verify/1"
METHODS = ("finite_differences", "torch", "symbolic")
TITLES = {"analytic": "analytic", "finite_differences": "finite diff.", "torch": "PyTorch",
          "symbolic": "symbolic"}
# Agreement with the analytic value: |x − a| ≤ atol + rtol·|a|. Finite differences carry
# truncation and rounding error (gradcheck's own rule decides); the exact methods do not.
TOLERANCES = {"torch": (1e-12, 1e-10), "symbolic": (1e-12, 1e-9)}


@dataclass
class ElementRow:
    key: str
    analytic: float
    values: dict[str, float | None]  # per method; None where it did not run
    agrees: dict[str, bool]  # per method that gave a finite number
    kink: bool = False

    @property
    def unchecked(self) -> bool:
        """Methods ran, but none gave a finite number to compare with: not a pass."""
        return not self.agrees and any(v is not None for v in self.values.values())

    @property
    def ok(self) -> bool:
        return all(self.agrees.values()) and not self.unchecked

    @property
    def worst_rel_error(self) -> float:
        errors = [abs(v - self.analytic) / max(abs(self.analytic), abs(v), 1e-300)
                  for v in self.values.values() if v is not None and np.isfinite(v)]
        return max(errors, default=0.0)


@dataclass
class VerifyReport:
    spec: Spec
    rows: list[ElementRow]
    methods: dict[str, str]  # method -> "ran" or why it did not
    details: dict[str, Any] = field(default_factory=dict)  # each method's own report

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows) and self.details.get("torch_ok", True)

    def to_dict(self) -> dict[str, Any]:
        parameters: dict[str, list] = {}
        for row in self.rows:
            name = row.key.split("[")[0]
            parameters.setdefault(name, []).append({
                "element": row.key, "analytic": _json(row.analytic),
                **{m: _json(row.values.get(m)) for m in METHODS},
                "worst_rel_error": _json(row.worst_rel_error), "ok": row.ok,
                **({"kink": True} if row.kink else {}),
                **({"unchecked": True} if row.unchecked else {}),
            })
        return {"schema": SCHEMA, "network": self.spec.name, "ok": self.ok,
                "methods": self.methods, "tolerances": {
                    m: {"atol": a, "rtol": r} for m, (a, r) in TOLERANCES.items()},
                "parameters": parameters,
                **{k: v for k, v in self.details.items() if k != "torch_ok"}}

    @property
    def title(self) -> str:
        return (f"{self.spec.name}: gradients of a {self.spec.architecture} network, "
                "checked independently")

    def groups(self) -> dict[str, list[ElementRow]]:
        """One table per parameter."""
        out: dict[str, list[ElementRow]] = {}
        for row in self.rows:
            out.setdefault(row.key.split("[")[0], []).append(row)
        return out

    def __str__(self) -> str:
        return render_verify(self)


def verify(spec: Spec) -> VerifyReport:
    """Run every available method on ``spec``'s first step and compare element by element."""
    trace = explain(spec, steps=1)
    methods: dict[str, str] = {}
    values: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    kinks: set[str] = set()
    details: dict[str, Any] = {}

    from chainrule.verify.gradcheck import gradcheck_spec

    fd = gradcheck_spec(spec)
    methods["finite_differences"] = "ran"
    fd_ok = {}
    for row in fd.rows:
        values["finite_differences"][row.label] = row.numeric
        fd_ok[row.label] = row.status != "fail"
        if row.status == "kink":
            kinks.add(row.label)
    details["finite_differences"] = {"summary": fd.summary(), "eps": fd.eps, "atol": fd.atol,
                                     "rtol": fd.rtol}
    try:
        from chainrule.verify.torch_check import torch_crosscheck

        report = torch_crosscheck(spec)
        methods["torch"] = f"ran (PyTorch {report.torch_version})"
        for comparison in report.comparisons:
            if comparison.quantity.startswith("gradients."):
                name = comparison.quantity.split(".", 1)[1]
                for index in np.ndindex(comparison.torch.shape):
                    values["torch"][element_key(name, index)] = float(comparison.torch[index])
        details["torch"] = {"summary": report.summary(),
                            "failures": [c.detail() for c in report.failures]}
        details["torch_ok"] = report.ok  # forward values and deltas count too
    except MissingDependency as missing:
        methods["torch"] = f"not run: {missing}"
    try:
        from chainrule.verify.symbolic import symbolic_gradients

        result = symbolic_gradients(spec)
        methods["symbolic"] = "ran (sympy)"
        values["symbolic"] = {key: g.value for key, g in result.gradients.items()}
    except ChainruleError as unavailable:  # not installed, or too large to expand
        methods["symbolic"] = f"not run: {unavailable}"

    rows = []
    for name, grad in trace.gradients.items():
        for index in np.ndindex(grad.shape):
            key = element_key(name, index)
            analytic = float(grad[index])
            found = {m: values[m].get(key) for m in METHODS if key in values[m]}
            # A method that gave inf or NaN (an overflow of its own) cannot judge the element:
            # its cell says so, and it counts neither for nor against the analytic value.
            agrees = {m: _agrees(m, analytic, v, fd_ok.get(key, True)) for m, v in found.items()
                      if np.isfinite(v)}
            rows.append(ElementRow(key, analytic, found, agrees, key in kinks))
    return VerifyReport(trace.spec, rows, methods, details)


def _agrees(method: str, analytic: float, value: float, fd_ok: bool) -> bool:
    if method == "finite_differences":
        return fd_ok
    atol, rtol = TOLERANCES[method]
    return bool(abs(value - analytic) <= atol + rtol * abs(analytic))


def _json(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def render_verify(report: VerifyReport, precision: int = 12) -> str:
    """One table per parameter: analytic | finite diff. | PyTorch | symbolic | worst rel. err."""
    ran = ["analytic", *[m for m in METHODS if report.methods.get(m, "").startswith("ran")]]
    lines = [report.title, ""]
    for method in METHODS:
        lines.append(f"  {TITLES[method]}: {report.methods.get(method, 'not run')}")
    for name, rows in report.groups().items():
        header = ["element", *[TITLES[m] for m in ran], "worst rel. err", ""]
        table = [header]
        for row in rows:
            cells = [row.key, number(row.analytic, precision)]
            cells += [_cell(row.values.get(m), precision) for m in ran[1:]]
            verdict = "UNCHECKED" if row.unchecked else "ok" if row.ok else "DISAGREE"
            cells += [f"{row.worst_rel_error:.1e}", verdict + (" (kink)" if row.kink else "")]
            table.append(cells)
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines += ["", f"{name}"]
        lines += ["  " + "  ".join(c.rjust(w) if i else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                  for r in table]
    failures = getattr(report, "details", {}).get("torch", {}).get("failures", [])
    lines += ["", *[f"PyTorch disagrees: {f}" for f in failures]]
    bad = [row.key for row in report.rows if not row.ok and not row.unchecked]
    unchecked = [row.key for row in report.rows if row.unchecked]
    if unchecked:
        lines.append(f"unchecked (no method gave a finite number): {', '.join(unchecked)}")
    lines.append("verdict: every method agrees" if report.ok else
                 f"verdict: DISAGREEMENT in {', '.join(bad) or 'forward values or deltas'}"
                 if bad or not unchecked else "verdict: NOT VERIFIED")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def _cell(value: float | None, precision: int) -> str:
    if value is None:
        return "—"
    return number(value, precision) if np.isfinite(value) else "not finite"
