"""``verify SPEC --tensors FILE`` for a network of typed layers: someone's numbers of the step
(their framework's gradients, their own layers' outputs), each against the engine's, and the
layer mistake that gives the ones that are off.

Names are those of :mod:`chainrule.verify.reference_layers` (``forward.0``, ``backward.2``,
``gradients.0.weight``, ``gradients.input``, ``buffers.1.running_mean``, ``loss``), or a
parameter's own name for its gradient, as ``{n: p.grad for n, p in model.named_parameters()}``
writes it (``0.weight``). The rows come in the order backpropagation computes them: the
forward pass, the loss, then each layer from the output down (∂E/∂ its output, its
parameters' gradients), so the first row off is where the error begins.

A mistake explains the numbers when the step computed with it
(:func:`chainrule.verify.reference_layers.layered_step` with its alterations, the same
dropout masks) matches every tensor given, the wrong ones and the right ones alike, to the
same tolerance; every mistake that does is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from chainrule.errors import SpecError
from chainrule.spec.layered import module_path
from chainrule.verify.impl import IMPL_TOLERANCE
from chainrule.verify.layer_mistakes import LayerMistake, candidates
from chainrule.verify.tensors import compared, shape_text, yes


@dataclass
class LayeredTensorRow:
    name: str  # as given
    quantity: str
    shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    exact: bool
    close: bool
    max_diff: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "quantity": self.quantity, "shape": list(self.shape),
                "expected_shape": list(self.expected_shape), "exact": self.exact,
                "close": self.close, "max_diff": self.max_diff}


@dataclass
class LayeredTensorReport:
    network: str
    rows: list[LayeredTensorRow]
    mistakes: list[LayerMistake] = field(default_factory=list)  # those giving the numbers
    source: str = "tensors"

    @property
    def ok(self) -> bool:
        return all(row.close for row in self.rows)

    @property
    def first_off(self) -> LayeredTensorRow | None:
        return next((row for row in self.rows if not row.close), None)

    @property
    def verdict(self) -> str:
        first = self.first_off
        if first is None:
            return f"All {len(self.rows)} tensors agree with chainrule's step."
        if not self.mistakes:
            return (f"First off: {first.name}. No known layer mistake gives these numbers "
                    "(docs/mistakes.md, \"The layer mistakes\").")
        m = self.mistakes[0]
        also = "" if len(self.mistakes) == 1 else \
            f" (as does {', '.join(x.id for x in self.mistakes[1:])})"
        return (f"First off: {first.name}. The numbers are those of the known mistake "
                f"{m.id}{also}: {m.title}. {m.explanation}")

    def __str__(self) -> str:
        header = ("name", "quantity", "shape", "exact", "close", "max |diff|")
        lines = [(r.name, r.quantity, shape_text(r.shape, r.expected_shape), yes(r.exact),
                  yes(r.close), "—" if r.max_diff is None else f"{r.max_diff:.3g}")
                 for r in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
        out = [f"{self.source} on network {self.network} (to {IMPL_TOLERANCE.rel:g} relative, "
               "in the order backpropagation computes them)"]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                for line in [header, *lines]]
        return "\n".join(out + ["", self.verdict])

    def to_dict(self) -> dict[str, Any]:
        first = self.first_off
        return {"network": self.network, "source": self.source, "ok": self.ok,
                "tensors": [row.to_dict() for row in self.rows],
                "first_off": None if first is None else first.name,
                "mistakes": [{"id": m.id, "title": m.title, "explanation": m.explanation,
                              "alters": m.alterations.as_dict()} for m in self.mistakes],
                "verdict": self.verdict}


def backprop_order(spec, values: Mapping[str, Any]) -> list[str]:
    """The step's quantity names: forward in layer order, the loss, then from the last layer
    down each layer's ∂E/∂output and its gradients, the input's gradient, the statistics."""
    paths: list[str] = []

    def walk(layers) -> None:
        for layer in layers:
            walk(layer.block)
            walk(layer.shortcut)
            paths.append(module_path(layer.path))
    walk(spec.layers)
    order = [f"forward.{p}" for p in paths] + ["loss"]

    def owner(key: str) -> str:  # the innermost layer whose prefix it has (2.block.0, not 2)
        return max((p for p in paths if key.startswith(f"gradients.{p}.")), key=len,
                   default="")
    for p in reversed(paths):
        order += [f"backward.{p}"] + [k for k in values if k.startswith(f"inside.{p}.")]
        order += [k for k in values if k.startswith("gradients.") and owner(k) == p]
    order += ["gradients.input"] + [k for k in values if k.startswith("buffers.")]
    return [k for k in order if k in values]


def check_layered_tensors(spec, tensors: Mapping[str, Any],
                          source: str = "tensors") -> LayeredTensorReport:
    from chainrule.verify.layered import EngineStep
    from chainrule.verify.reference_layers import layered_step

    step = EngineStep(spec)
    truth = step.values
    order = backprop_order(spec, truth)
    picked: dict[str, tuple[str, np.ndarray]] = {}
    for name, value in tensors.items():
        name = str(name)
        key = name if name in truth else f"gradients.{name}" if \
            f"gradients.{name}" in truth and name != "input" else None
        if key is None:
            shown = ", ".join(order[:6]) + ", ..."
            raise SpecError(f"{source}: {name!r}: not a quantity of this network's step "
                            f"(names: {shown}; a parameter's name is its gradient)")
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise SpecError(f"{source}: {name!r}: not an array of numbers") from None
        if key in (k for k, _ in picked.values()):
            raise SpecError(f"{source}: {name!r}: {key} is given twice")
        picked[name] = (key, array)
    if not picked:
        raise SpecError(f"{source}: no tensor of this network's step (names: "
                        f"{', '.join(order[:6])}, ...)")
    names = sorted(picked, key=lambda n: order.index(picked[n][0]))
    rows = []
    for name in names:
        key, array = picked[name]
        expected = np.asarray(truth[key], dtype=float)
        got, exact, close, diff = compared(array, expected)
        rows.append(LayeredTensorRow(name, key, tuple(got.shape), tuple(expected.shape), exact,
                                     close, diff))
    report = LayeredTensorReport(spec.name, rows, source=source)
    if not report.ok:
        for mistake in candidates(spec):
            mistaken = layered_step(spec, step.before, step.buffers, step.masks,
                                    mistake.alterations)
            if all(compared(picked[n][1], np.asarray(mistaken[picked[n][0]], dtype=float))[2]
                   for n in names):
                report.mistakes.append(mistake)
    return report
