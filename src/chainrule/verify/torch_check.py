"""The PyTorch cross-check: the same spec built again in PyTorch, every number compared.

``torch_crosscheck(spec)`` rebuilds the spec's network with PyTorch (float64, z = a @ W + b,
the losses written from chainrule's documented formulas with torch ops), runs the same steps
with autograd and ``torch.optim.SGD``, and compares each quantity of :func:`chainrule.explain`'s
trace (``forward.z1``, ``backward.delta2``, ``gradients.W1``, ``updated.W1``, ``loss_after``,
...). Every step is compared; quantities of step n > 1 are prefixed ``step{n}.``. No chainrule
code runs on the PyTorch side, so a wrong rule in chainrule shows as a failing quantity.
``torch`` is imported only when a check runs (an optional extra); its thread count is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import MissingDependency
from chainrule.nn.losses import from_logits
from chainrule.explain.numfmt import number
from chainrule.spec.network import Spec, load_spec, parse_spec
from chainrule.explain.trace import Step, explain
from chainrule.nn.torch_export import INSTALL_HINT  # the one hint for a missing PyTorch


@dataclass
class Comparison:
    """One named quantity computed twice; errors are the worst over its elements.

    The relative error of an element is |c − t| / max(|c|, |t|) (0 where both agree exactly,
    NaN matching NaN); ``ok`` means |c − t| ≤ atol + rtol·max(|c|, |t|) for every element.
    """

    quantity: str
    chainrule: np.ndarray
    torch: np.ndarray
    max_abs_error: float
    max_rel_error: float
    ok: bool

    def detail(self, other: str = "PyTorch") -> str:
        """The worst element: ``backward.delta2[0]: chainrule 0.0123, PyTorch 0.0456``
        (``other`` names the second computation: the NumPy reference in verify/report)."""
        c, t = self.chainrule, self.torch
        if c.shape != t.shape:
            return f"{self.quantity}: shape {c.shape} in chainrule, {t.shape} in {other}"
        index = np.unravel_index(np.argmax(_differences(c, t)), c.shape)
        at = f"[{', '.join(str(int(i)) for i in index)}]" if index else ""
        return f"{self.quantity}{at}: chainrule {number(c[index])}, {other} {number(t[index])}"

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "chainrule": _plain(self.chainrule),
                "torch": _plain(self.torch), "max_abs_error": _plain(self.max_abs_error),
                "max_rel_error": _plain(self.max_rel_error), "ok": self.ok}


@dataclass
class TorchReport:
    """Every comparison of one cross-check, with the tolerances and the PyTorch version."""

    comparisons: list[Comparison] = field(default_factory=list)
    rtol: float = 1e-10
    atol: float = 1e-12
    torch_version: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]

    def __str__(self) -> str:
        header = ("quantity", "max abs error", "max rel error", "ok")
        rows = [(c.quantity, f"{c.max_abs_error:.2e}", f"{c.max_rel_error:.2e}",
                 "yes" if c.ok else "FAIL") for c in self.comparisons]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        lines = ["  ".join([row[0].ljust(widths[0]), row[1].rjust(widths[1]),
                            row[2].rjust(widths[2]), row[3]]) for row in [header, *rows]]
        # the worst element of each failure, so the reader can look at one number
        lines += [c.detail() for c in self.failures]
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        against = f"PyTorch {self.torch_version} (rtol {self.rtol:g}, atol {self.atol:g})"
        total = len(self.comparisons)
        if self.ok:
            return f"all {total} quantities agree with {against}"
        names = ", ".join(c.quantity for c in self.failures)
        return f"{len(self.failures)} of {total} quantities disagree with {against}: {names}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: arrays as nested lists, a non-finite number as null."""
        return {"ok": self.ok, "rtol": self.rtol, "atol": self.atol,
                "torch_version": self.torch_version,
                "comparisons": [c.to_dict() for c in self.comparisons]}


def torch_crosscheck(spec_or_name_or_path: Spec | str | Path | dict, *, rtol: float = 1e-10,
                     atol: float = 1e-12) -> TorchReport:
    """Compare chainrule's trace of a spec with the same steps computed by PyTorch."""
    try:
        import torch
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    source = spec_or_name_or_path
    spec = (source if isinstance(source, Spec)
            else parse_spec(source) if isinstance(source, dict) else load_spec(source))
    trace = explain(spec)
    twin = _TorchTwin(torch, spec)
    report = TorchReport(rtol=rtol, atol=atol, torch_version=str(torch.__version__))
    for step in trace.steps:
        prefix = "" if step.number == 1 else f"step{step.number}."
        for quantity, expected, value in quantity_pairs(step, twin.step()):
            report.comparisons.append(compare(prefix + quantity, expected, value, rtol, atol))
    return report


def compare(quantity: str, chainrule: Any, torch: Any, rtol: float, atol: float) -> Comparison:
    """One :class:`Comparison`, errors as documented there."""
    c, t = np.asarray(chainrule, dtype=float), np.asarray(torch, dtype=float)
    if c.shape != t.shape:
        return Comparison(quantity, c, t, float("inf"), float("inf"), False)
    diff = _differences(c, t)
    scale = np.maximum(np.abs(c), np.abs(t))
    with np.errstate(all="ignore"):  # 0/0 and inf/inf are masked out just below
        rel = np.where(diff == 0, 0.0, np.where(np.isfinite(diff), diff / scale, np.inf))
        ok = bool(np.all((diff == 0) | (diff <= atol + rtol * scale)))
    return Comparison(quantity, c, t, float(diff.max(initial=0.0)),
                      float(rel.max(initial=0.0)), ok)


def _differences(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """|c − t| per element: 0 where equal (inf = inf, NaN = NaN), inf where one is NaN."""
    same = (c == t) | (np.isnan(c) & np.isnan(t))
    with np.errstate(all="ignore"):
        diff = np.where(same, 0.0, np.abs(c - t))
    return np.where(np.isnan(diff), np.inf, diff)


def quantity_pairs(step: Step, theirs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(quantity, chainrule's value, theirs) in the trace's order, for the quantities the
    other computation has (PyTorch's twin here, the NumPy reference step in verify/report)."""
    ours = {**{f"forward.{k}": v for k, v in step.forward.items() if k != "a0"},
            **({"forward.example_losses": step.example_losses}
               if step.example_losses is not None else {}),
            **{f"backward.{k}": v for k, v in step.backward.items()},
            **{f"gradients.{k}": v for k, v in step.gradients.items()},
            **{f"updated.{k}": v for k, v in step.updated.items()},
            "loss_after": step.loss_after}
    # dE_da{L} is left out where the other has none: a{L} off the loss path (loss from logits)
    return [(name, value, theirs[name]) for name, value in ours.items() if name in theirs]


class _TorchTwin:
    """The spec's network in PyTorch, written from the formulas, stepping like chainrule."""

    def __init__(self, torch: Any, spec: Spec) -> None:
        self.torch, self.spec = torch, spec
        f64 = torch.float64
        # The starting values are chainrule's (given in the spec or drawn by its seeded init).
        self.params = {name: torch.tensor(p.data, dtype=f64, requires_grad=True)
                       for name, p in spec.build_model().named_parameters()}
        self.inputs = torch.tensor(spec.inputs, dtype=f64)
        targets = torch.as_tensor(spec.targets)
        if targets.dtype in (torch.int32, torch.int64):  # class indices → one-hot rows
            targets = torch.nn.functional.one_hot(targets, spec.layers[-1])
        self.targets = targets.to(f64)
        trainable = [p for name, p in self.params.items() if name not in spec.frozen]
        options = spec.optimizer
        self.optimizer = torch.optim.SGD(
            trainable, lr=spec.learning_rate, momentum=options.momentum,
            dampening=options.dampening, nesterov=options.nesterov,
            weight_decay=options.weight_decay) if trainable else None

    def forward(self) -> tuple[list[tuple[Any, Any]], Any]:
        """Every layer's (z, a) and the per-example losses."""
        a, layers = self.inputs, []
        for index, name in enumerate(self.spec.activations, 1):
            z = a @ self.params[f"W{index}"]
            if f"b{index}" in self.params:  # shape (units,) or (1,): broadcast either way
                z = z + self.params[f"b{index}"]
            a = self._activate(name, z)
            layers.append((z, a))
        return layers, self._example_losses(*layers[-1])

    def _activate(self, name: str, z: Any) -> Any:
        """PyTorch's own function for the table's activation, with the table's parameters
        (leaky relu's slope) in order; softmax over the units of one example."""
        entry = ACTIVATION_TABLE[name]
        if entry.torch is None:
            return z
        function = self.torch
        for part in entry.torch.split("."):
            function = getattr(function, part)
        if not entry.elementwise:
            return function(z, *entry.params.values(), dim=-1)
        return function(z, *entry.params.values())

    def _example_losses(self, z: Any, y: Any) -> Any:
        return torch_example_losses(self.torch, self.spec.loss, self.spec.activations[-1],
                                    z, y, self.targets)

    def step(self) -> dict[str, Any]:
        """One training step; every quantity by its trace name, as NumPy."""
        torch = self.torch
        for p in self.params.values():
            p.grad = None
        layers, example_losses = self.forward()
        for z, _ in layers:
            z.retain_grad()
        depth = len(layers)
        z_last, a_last = layers[-1]
        on_path = a_last is not z_last and not self._from_logits()
        if on_path:
            a_last.retain_grad()
        loss = example_losses.mean()  # the batch mean (a single example: itself)
        loss.backward()

        out: dict[str, Any] = {}
        for index, (z, a) in enumerate(layers, 1):
            out[f"forward.z{index}"], out[f"forward.a{index}"] = _numpy(z), _numpy(a)
        out["forward.loss"] = _numpy(loss)
        if self.spec.batched:
            out["forward.example_losses"] = _numpy(example_losses)
        if on_path or a_last is z_last:
            out[f"backward.dE_da{depth}"] = _numpy(a_last.grad)
        for index in range(depth, 0, -1):
            out[f"backward.delta{index}"] = _numpy(layers[index - 1][0].grad)
        for name, p in self.params.items():
            out[f"gradients.{name}"] = _numpy(p.grad)
        if self.optimizer is not None:
            self.optimizer.step()
        for name, p in self.params.items():
            out[f"updated.{name}"] = _numpy(p)
        with torch.no_grad():
            out["loss_after"] = _numpy(self.forward()[1].mean())
        return out

    def _from_logits(self) -> bool:
        return from_logits(self.spec.loss, self.spec.activations[-1])


def torch_example_losses(torch: Any, loss: str, last: str, z: Any, y: Any, t: Any) -> Any:
    """Each example's loss in torch ops, from chainrule's documented formulas: ``z`` the
    logits, ``y`` the output, ``last`` the output activation (its name)."""
    squares = {"sse": lambda: ((y - t) ** 2).sum(dim=-1),
               "half_sse": lambda: 0.5 * ((y - t) ** 2).sum(dim=-1),
               "mse": lambda: ((y - t) ** 2).mean(dim=-1)}
    if loss in squares:
        return squares[loss]()
    if loss == "bce":
        if last == "sigmoid":  # from the logits: no ln 0 when σ saturates
            per_unit = torch.nn.functional.binary_cross_entropy_with_logits(
                z, t, reduction="none")
        elif last == "softmax":  # ln(1 − pₖ) = logsumexp of the other logits − logsumexp
            units = z.shape[-1]
            others = z.unsqueeze(-2).expand(*z.shape[:-1], units, units)
            others = others.masked_fill(torch.eye(units, dtype=torch.bool), float("-inf"))
            log_total = torch.logsumexp(z, dim=-1, keepdim=True)
            per_unit = -(t * (z - log_total)
                         + (1 - t) * (torch.logsumexp(others, dim=-1) - log_total))
        else:
            per_unit = -(t * torch.log(y) + (1 - t) * torch.log(1 - y))
        return per_unit.mean(dim=-1)
    # cross_entropy: −Σₖ tₖ log_softmax(logits)ₖ; after softmax the logits are z
    logits = z if last == "softmax" else y
    return -(t * torch.log_softmax(logits, dim=-1)).sum(dim=-1)


def _numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().numpy().copy()


def _plain(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    return np.where(np.isfinite(array), array, None).tolist()
