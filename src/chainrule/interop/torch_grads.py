"""Is my PyTorch model's ``.grad`` right? The gradients a live module holds, each against
chainrule's engine on the same weights, input, target and loss, with the cause named when
they are off.

>>> loss = F.mse_loss(model(x), t); loss.backward()                  # doctest: +SKIP
>>> print(check_torch_grads(model, x, t, loss="mse"))                # doctest: +SKIP

The comparison is :func:`chainrule.verify.layered_tensors.check_layered_tensors`: each
parameter's gradient in the order backpropagation computes them, the first one off, and the
layer mistake that gives the numbers. On top of it, what goes wrong in PyTorch code rather
than in a layer's rule, read from how the gradients differ:

* a parameter that requires a gradient but has no ``.grad`` (detached, unused, or no
  ``backward()`` run); one with ``requires_grad=False`` is frozen, and not compared;
* every gradient k times chainrule's: k backward passes without ``zero_grad()``, a loss
  summed where the loss is a mean (k = the batch size, or the number of values), its
  negative (k = −1), or a loss scaled by k.

A model in training mode with dropout is refused (its masks are random, so nothing else can
give the same numbers), as is batch norm in eval mode (chainrule's step takes the batch's
statistics, as training does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from chainrule.interop.torch_layers import TorchImportError


@dataclass
class TorchGradReport:
    """The layered tensor report, the parameters without a gradient, and the causes read
    from how the gradients differ."""

    report: Any  # chainrule.verify.layered_tensors.LayeredTensorReport
    missing: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    transposed: list[str] = field(default_factory=list)  # Linear weights, shown as (in, out)
    frozen: list[str] = field(default_factory=list)  # requires_grad=False: not compared

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.missing

    def __str__(self) -> str:
        lines = [str(self.report)]
        for name in self.missing:
            lines.append(f"{name}: no .grad, though it requires one (it took no part in the "
                         f"loss, its input was detached, requires_grad was set after the "
                         f"backward pass, or backward() was not run)")
        if self.frozen:
            lines.append(f"({', '.join(self.frozen)}: requires_grad=False, not compared)")
        lines += self.causes
        if self.transposed:
            lines.append(f"({', '.join(self.transposed)}: compared as chainrule's W, (in, "
                         f"out), your .grad transposed)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "ok": self.ok, "missing": list(self.missing),
                "frozen": list(self.frozen), "causes": list(self.causes)}


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=float)


def check_torch_grads(module, input: Any, target: Any, *, loss: str = "mse",
                      input_shape: Sequence[int] | None = None) -> TorchGradReport:
    """``module``'s parameters' ``.grad`` against chainrule's gradients of ``loss`` (a name
    of chainrule's loss table: ``mse`` is ``F.mse_loss``, ``cross_entropy`` is
    ``F.cross_entropy`` on the logits or after a final Softmax) for the batch ``input``
    (batch first) and ``target`` (class indices for ``cross_entropy``)."""
    import torch

    from chainrule.interop.torch_in import spec_and_names
    from chainrule.spec.network import parse_spec
    from chainrule.verify.layered_tensors import check_layered_tensors

    _refuse_random(module)
    x = _array(input)
    shape = tuple(input_shape) if input_shape is not None else tuple(x.shape[1:])
    t = _array(target)
    targets: Any = t.astype(int).tolist() if t.ndim == 1 and loss == "cross_entropy" \
        else t.tolist()
    data, names = spec_and_names(module, shape, loss=loss, inputs=x.tolist(), targets=targets,
                                 learning_rate=0.1, name=type(module).__name__)
    spec = parse_spec(data)
    params = dict(module.named_parameters())
    tensors, missing, yours, transposed, frozen = {}, [], {}, [], []
    for ours, theirs in names.items():
        if theirs not in params:
            continue  # a buffer
        if not params[theirs].requires_grad:
            frozen.append(theirs)  # no gradient by design: nothing to compare
            continue
        grad = params[theirs].grad
        if grad is None:
            missing.append(theirs)
            continue
        value = _array(grad)
        owner = module.get_submodule(theirs.rpartition(".")[0]) if "." in theirs else module
        if isinstance(owner, torch.nn.Linear) and theirs.endswith("weight") and \
                not isinstance(owner, torch.nn.modules.linear.NonDynamicallyQuantizableLinear):
            value = value.T  # chainrule's W is (in, out)
            transposed.append(theirs)
        tensors[f"gradients.{ours}"] = value
        yours[f"gradients.{ours}"] = theirs
    if not tensors:
        raise TorchImportError(f"{type(module).__name__}: no parameter has a .grad; run "
                               f"loss.backward() first")
    report = check_layered_tensors(spec, tensors, source=f"{type(module).__name__}'s .grad")
    for row in report.rows:  # each row under the module's own name (fc1.weight)
        row.name = yours.get(row.name, row.name)
    out = TorchGradReport(report, missing, transposed=transposed, frozen=frozen)
    if not report.ok:
        from chainrule.verify.layered import EngineStep

        truth = EngineStep(spec).values
        out.causes = _causes(tensors, truth, len(x), t, loss)
    return out


def _refuse_random(module) -> None:
    import torch.nn as tnn

    for name, part in module.named_modules():
        if isinstance(part, tnn.Dropout) and part.training and part.p > 0:
            raise TorchImportError(f"model.{name} (Dropout, p={part.p:g}) in training mode: "
                                   f"its mask is random, so nothing else gives the same "
                                   f"gradients; call model.eval() or set p=0 for the check")
        if isinstance(part, (tnn.BatchNorm1d, tnn.BatchNorm2d)) and not part.training:
            raise TorchImportError(f"model.{name} ({type(part).__name__}) in eval mode: "
                                   f"chainrule's step takes the batch's statistics, as "
                                   f"training does; call model.train() before the forward "
                                   f"pass you check")


def _causes(tensors: dict[str, np.ndarray], truth: dict[str, Any], batch: int,
            target: np.ndarray, loss: str) -> list[str]:
    """What the gradients' common factor says, if every one is k times chainrule's."""
    got = np.concatenate([np.ravel(v) for v in tensors.values()])
    want = np.concatenate([np.ravel(np.asarray(truth[k], dtype=float)) for k in tensors])
    if got.shape != want.shape or not np.any(want):
        return []
    k = float(got @ want / (want @ want))
    if not np.allclose(got, k * want, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(want).max())):
        return []
    values = int(target.size)
    if abs(k + 1) < 1e-6:
        return ["Cause: every gradient is the negative of chainrule's: the gradient of −E (a "
                "loss with its sign flipped); a step along it climbs."]
    readings = []
    for n, what in ((batch, "the batch"), (values, "every value of the output")):
        if n > 1 and abs(k - n) < 1e-6 * n and not readings:
            readings.append(f"the loss is summed over {what} (reduction='sum') where "
                            f"chainrule's {loss} is the mean")
        if n > 1 and abs(k * n - 1) < 1e-6 and not readings:
            readings.append(f"the loss is divided by {n} once more than chainrule's {loss} "
                            f"mean")
    if k > 1.5 and abs(k - round(k)) < 1e-6:
        readings.append(f".grad added up over {round(k)} backward passes without "
                        f"optimizer.zero_grad() (or model.zero_grad()) between them")
    if not readings:
        readings.append(f"the loss is scaled by {k:.6g}")
    factor = f"{round(k)}" if abs(k - round(k)) < 1e-6 else f"{k:.6g}"
    return [f"Cause: every gradient is {factor} times chainrule's. "
            + ("Either " + "; or ".join(readings) if len(readings) > 1
               else readings[0][0].upper() + readings[0][1:]) + "."]
