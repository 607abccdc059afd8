"""``chainrule verify``: the engine's gradients beside independent computations.

For every parameter element: the analytic gradient (reverse mode) beside central finite
differences, the textbook step in plain NumPy (:mod:`chainrule.verify.reference`, which also
checks the forward values, deltas and update), sympy's derivative of the closed-form loss
and, on request, PyTorch autograd on the same network. Three independent ways by default,
in about a second: importing PyTorch takes seconds, so it runs only when asked for
(``torch=True``, ``--torch``) or when sympy cannot run (not installed, a network too large
for it), so that a third way still checks. A method that did not run is named with the
reason, in the verdict too, and does not count as a disagreement; any method that
*disagrees* beyond its tolerance makes the report fail (exit status 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, MissingDependency
from chainrule.explain.notation import element_key
from chainrule.explain.numfmt import number
from chainrule.spec.network import Spec
from chainrule.explain.trace import explain

SCHEMA = "chainrule.verify/1"
METHODS = ("finite_differences", "torch", "symbolic")  # an expression's (verify/expression.py)
NETWORK_METHODS = ("finite_differences", "reference", "symbolic", "torch")  # a network's
TITLES = {"analytic": "analytic", "finite_differences": "finite diff.", "torch": "PyTorch",
          "symbolic": "symbolic", "reference": "reference"}
# Agreement with the analytic value: |x − a| ≤ atol + rtol·|a|. Finite differences carry
# truncation and rounding error (gradcheck's own rule decides); the exact methods do not.
TOLERANCES = {"torch": (1e-12, 1e-10), "symbolic": (1e-12, 1e-9), "reference": (1e-12, 1e-10)}
EXACT_ATOL = 1e-12  # TOLERANCES' atol
MAX_LISTED = 400  # elements a text report lists one by one; beyond, a line per parameter
NOT_ASKED = ("not asked for (--torch adds it: PyTorch takes seconds to import, so by default "
             "it runs only where sympy cannot)")


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
        """The largest |x − a| / max(|x|, |a|) over the methods; a difference within the
        exact methods' atol (1e-12) counts as none: two roundings of an exact 0 (the bias
        before a batch norm) differ by 100 % of nothing."""
        errors = [abs(v - self.analytic) / max(abs(self.analytic), abs(v), 1e-300)
                  if abs(v - self.analytic) > EXACT_ATOL else 0.0
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
        return all(row.ok for row in self.rows) and self.details.get("torch_ok", True) \
            and self.details.get("reference_ok", True)

    def to_dict(self) -> dict[str, Any]:
        parameters: dict[str, list] = {}
        for row in self.rows:
            name = row.key.split("[")[0]
            parameters.setdefault(name, []).append({
                "element": row.key, "analytic": _json(row.analytic),
                **{m: _json(row.values.get(m)) for m in self.methods},
                "worst_rel_error": _json(row.worst_rel_error), "ok": row.ok,
                **({"kink": True} if row.kink else {}),
                **({"unchecked": True} if row.unchecked else {}),
            })
        return {"schema": SCHEMA, "network": self.spec.name, "ok": self.ok,
                "methods": self.methods, "tolerances": {
                    m: {"atol": a, "rtol": r} for m, (a, r) in TOLERANCES.items()},
                "parameters": parameters,
                **{k: v for k, v in self.details.items()
                   if k not in ("torch_ok", "reference_ok")}}

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


def verify(spec: Spec, torch: bool = False, cache: Path | None = None) -> VerifyReport:
    """Check ``spec``'s first step element by element: finite differences, the NumPy
    reference and sympy; PyTorch too with ``torch``, or where sympy cannot run. With a
    ``cache`` folder, sympy's values for this same network are read back from an earlier
    run when there was one (verify/symbolic_cache.py), and the report says so. Otherwise
    sympy derives them in a child process while this one runs the other checks
    (verify/background.py): most of a first verify is sympy's import."""
    from chainrule.verify.symbolic_cache import start_symbolic_values

    methods: dict[str, str] = {}
    values: dict[str, dict[str, float]] = {m: {} for m in NETWORK_METHODS}
    kinks: set[str] = set()
    details: dict[str, Any] = {}
    symbolic = None
    try:
        symbolic = start_symbolic_values(spec, cache)
    except ChainruleError as unavailable:  # not installed
        methods["symbolic"] = f"not run: {unavailable}"
    try:
        trace = explain(spec, steps=1)
        fd_ok = _finite_differences(spec, values["finite_differences"], kinks, details)
        methods["finite_differences"] = "ran"
        methods["reference"] = _reference(trace, values["reference"], details)
        if symbolic is not None:
            try:
                values["symbolic"], remembered = symbolic.result()
                methods["symbolic"] = "ran (sympy)" if remembered is None else \
                    f"ran (sympy, in an earlier run on this same network: {remembered})"
            except ChainruleError as unavailable:  # too large to expand
                methods["symbolic"] = f"not run: {unavailable}"
    finally:
        if symbolic is not None:
            symbolic.cancel()  # an error above: the child's answer is not wanted
    methods = {m: methods[m] for m in ("finite_differences", "reference", "symbolic")}
    if torch or not methods["symbolic"].startswith("ran"):
        methods["torch"] = _torch(spec, values["torch"], details)
    else:
        methods["torch"] = f"not run: {NOT_ASKED}"

    rows = []
    for name, grad in trace.gradients.items():
        for index in np.ndindex(grad.shape):
            key = element_key(name, index)
            analytic = float(grad[index])
            found = {m: values[m].get(key) for m in NETWORK_METHODS if key in values[m]}
            # A method that gave inf or NaN (an overflow of its own) cannot judge the element:
            # its cell says so, and it counts neither for nor against the analytic value.
            agrees = {m: _agrees(m, analytic, v, fd_ok.get(key, True)) for m, v in found.items()
                      if np.isfinite(v)}
            rows.append(ElementRow(key, analytic, found, agrees, key in kinks))
    return VerifyReport(trace.spec, rows, methods, details)


def _finite_differences(spec: Spec, values: dict[str, float], kinks: set[str],
                        details: dict[str, Any]) -> dict[str, bool]:
    """Central differences by element into ``values``; which elements they could judge (not
    a failure of their own), and the kinks they straddled into ``kinks``."""
    from chainrule.verify.gradcheck import gradcheck_spec

    fd = gradcheck_spec(spec)
    fd_ok = {}
    for row in fd.rows:
        values[row.label] = row.numeric
        fd_ok[row.label] = row.status != "fail"
        if row.status == "kink":
            kinks.add(row.label)
    details["finite_differences"] = {"summary": fd.summary(), "eps": fd.eps, "atol": fd.atol,
                                     "rtol": fd.rtol}
    return fd_ok


def _reference(trace, values: dict[str, float], details: dict[str, Any]) -> str:
    """The textbook step in NumPy: its gradients by element into ``values``, and every other
    quantity (forward values, deltas, the update, the loss after it) compared as a whole."""
    from chainrule.verify.reference import reference_step
    from chainrule.verify.torch_check import compare, quantity_pairs

    atol, rtol = TOLERANCES["reference"]
    step = reference_step(trace.spec)
    comparisons = [compare(name, ours, theirs, rtol, atol)
                   for name, ours, theirs in quantity_pairs(trace.steps[0], step)]
    for name, grad in step.items():
        if name.startswith("gradients."):
            for index in np.ndindex(grad.shape):
                values[element_key(name.split(".", 1)[1], index)] = float(grad[index])
    failures = [c for c in comparisons if not c.ok]
    details["reference"] = {"summary": f"{len(comparisons) - len(failures)} of "
                                       f"{len(comparisons)} quantities agree",
                            "failures": [c.detail("reference") for c in failures]}
    details["reference_ok"] = not failures
    return "ran (NumPy, the textbook backward pass)"


def _torch(spec: Spec, values: dict[str, float], details: dict[str, Any]) -> str:
    try:
        from chainrule.verify.torch_check import torch_crosscheck

        report = torch_crosscheck(spec)
    except MissingDependency as missing:
        return f"not run: {missing}"
    for comparison in report.comparisons:
        if comparison.quantity.startswith("gradients."):
            name = comparison.quantity.split(".", 1)[1]
            for index in np.ndindex(comparison.torch.shape):
                values[element_key(name, index)] = float(comparison.torch[index])
    details["torch"] = {"summary": report.summary(),
                        "failures": [c.detail() for c in report.failures]}
    details["torch_ok"] = report.ok  # forward values and deltas count too
    return f"ran (PyTorch {report.torch_version})"


def _agrees(method: str, analytic: float, value: float, fd_ok: bool) -> bool:
    if method == "finite_differences":
        return fd_ok
    atol, rtol = TOLERANCES[method]
    return bool(abs(value - analytic) <= atol + rtol * abs(analytic))


def _json(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def render_verify(report: VerifyReport, precision: int = 12) -> str:
    """One table per parameter: analytic | each method that ran | worst rel. err | verdict;
    the verdict names the methods that ran and those that did not, with why."""
    ran = ["analytic", *[m for m, how in report.methods.items() if how.startswith("ran")]]
    lines = [report.title, ""]
    for method, how in report.methods.items():
        lines.append(f"  {TITLES[method]}: {how}")
    groups = report.groups()
    if len(report.rows) > MAX_LISTED:
        lines += ["", f"{len(report.rows):,} elements: one line per parameter, and each "
                      "element that does not agree (-f json lists every element)"]
        lines += _summary_table(groups, ran)
        groups = {name: [r for r in rows if not r.ok] for name, rows in groups.items()}
        groups = {name: rows for name, rows in groups.items() if rows}
    for name, rows in groups.items():
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
    details = getattr(report, "details", {})
    lines.append("")
    for method in ("reference", "torch"):
        lines += [f"{TITLES[method]} disagrees: {f}"
                  for f in details.get(method, {}).get("failures", [])]
    bad = [row.key for row in report.rows if not row.ok and not row.unchecked]
    unchecked = [row.key for row in report.rows if row.unchecked]
    if unchecked:
        lines.append(f"unchecked (no method gave a finite number): {', '.join(unchecked)}")
    lines.append(_verdict(report, bad, unchecked))
    lines += [f"  not run: {TITLES[m]}, {how[len('not run: '):]}"
              for m, how in report.methods.items() if not how.startswith("ran")]
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def _summary_table(groups: dict[str, list[ElementRow]], ran: list[str]) -> list[str]:
    """One line per parameter: its elements, how many each method checked, the worst error."""
    header = ["parameter", "elements", *[f"{TITLES[m]} checked" for m in ran[1:]],
              "worst rel. err", ""]
    table = [header]
    for name, rows in groups.items():
        bad = sum(not r.ok for r in rows)
        table.append([name, f"{len(rows):,}",
                      *[f"{sum(r.values.get(m) is not None for r in rows):,}" for m in ran[1:]],
                      f"{max(r.worst_rel_error for r in rows):.1e}",
                      "ok" if not bad else f"{bad} DISAGREE"])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return [""] + ["  " + "  ".join(c.rjust(w) if i else c.ljust(w)
                                    for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                   for r in table]


def _verdict(report, bad: list[str], unchecked: list[str]) -> str:
    """Every method agrees only where every method ran; else how many ran, and which."""
    ran = [TITLES[m] for m, how in report.methods.items() if how.startswith("ran")]
    if not report.ok:
        where = ", ".join(bad) or "forward values, deltas or the update"
        return f"verdict: DISAGREEMENT in {where}" if bad or not unchecked else \
            "verdict: NOT VERIFIED"
    if len(ran) == len(report.methods):
        return "verdict: every method agrees"
    if len(ran) == 1:
        return f"verdict: the only method that ran agrees ({ran[0]})"
    return f"verdict: the {len(ran)} methods that ran agree ({', '.join(ran)})"


def _cell(value: float | None, precision: int) -> str:
    if value is None:
        return "—"
    return number(value, precision) if np.isfinite(value) else "not finite"
