"""The layer lens: one training step of a network of typed layers, layer by layer.

The step is computed once, by the engine: each module's output is recorded as the forward
pass goes, and backward runs with an observer (as :mod:`chainrule.explain.graph` runs it),
so every ∂E/∂(layer output) shown is the gradient the engine passed, and a residual block's
input gets its two paths' shares as the engine added them. What a course writes for each
layer — the convolution's correlation and full convolution, the max-pool routing, batch
norm's three terms, the dropout mask — is recomputed from those numbers by
:mod:`chainrule.explain.lens.layer_derivations`, term by term, and checked against the
engine's gradient there.

The trace is plain data (:class:`LayerTrace`, JSON schema ``chainrule.layers/1``); the
renderers in :mod:`chainrule.explain.render.layers` only format it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import engine
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ChainruleError
from chainrule.explain.lens.layer_data import (  # noqa: F401 (the lens's data, named here too)
    SCHEMA, LayerRecord, LayerStepTrace, LayerTrace, Piece,
)
from chainrule.explain.lens.layer_derivations import Focus, derive
from chainrule.nn.losses import output_loss
from chainrule.spec.layered import flat_layers, module_path, output_activation

MAX_EXPLAINED_VALUES = 200_000  # layer values × examples a step may list (about 10 MB of JSON)


def explain_layers(spec, steps: int | None = None, focus: Focus | None = None) -> LayerTrace:
    """Record ``steps`` plain gradient-descent steps (the spec's count by default) of a
    :class:`chainrule.spec.layered_spec.LayeredSpec`, layer by layer."""
    from chainrule.spec.layered_spec import describe

    if not spec.optimizer.plain:
        raise ChainruleError("explain: a network of typed layers is explained with plain "
                             "gradient descent (no momentum or weight decay) so far")
    steps = steps or spec.steps
    x_all = spec.inputs if spec.batched else spec.inputs[None]
    t_all = spec.targets if spec.batched else spec.targets[None]
    values = len(x_all) * sum(int(np.prod(r.shape)) for r in flat_layers(spec.layers))
    if values * steps > MAX_EXPLAINED_VALUES:
        raise ChainruleError(f"explain: {spec.name!r} has {values:,} layer values per step "
                             f"for its {len(x_all)} example(s) × {steps} step(s); at most "
                             f"{MAX_EXPLAINED_VALUES:,} (a smaller batch or network)")
    model = spec.build_model()
    model.train()
    params = dict(model.named_parameters())
    out = []
    for number in range(1, steps + 1):
        # a step may overflow float64 (an input of 1e308): it runs quietly, and is checked
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            out.append(_step(number, spec, model, params, x_all, t_all, focus, describe))
        check_finite_layers(out[-1])
        check_finite_statistics(dict(model.named_buffers()), number)
    return LayerTrace(spec, out, spec.shape_rows())


FINITE_HINTS = {"forward pass": "inputs or weights too large for float64",
          "loss": "the loss is not a finite number at these outputs",
          "backward pass": "gradients too large for float64",
          "update": "the learning rate or the gradients too large for float64"}


def check_finite_statistics(buffers: dict[str, np.ndarray], number: int = 1,
                            command: str = "explain") -> None:
    """Batch norm's running statistics after the step: an infinite one means the batch's
    variance overflowed, and the layer's x̂ (a finite number over an infinite σ) silently
    lost its value."""
    from chainrule.finite import NonFiniteError, element, first_non_finite, what_happened

    for name, value in buffers.items():
        found = first_non_finite(value)
        if found is None:
            continue
        index, bad = found
        layer = name.rsplit(".", 1)[0]
        where = "" if number == 1 else f" of step {number}"
        raise NonFiniteError(f"{command}: {element(name, index)} {what_happened(bad)} in the "
                             f"forward pass{where}: the batch statistics of layer {layer} "
                             f"overflowed ({FINITE_HINTS['forward pass']})", quantity=name,
                             index=index, value=bad)


def check_finite_layers(step: LayerStepTrace, command: str = "explain") -> None:
    """Stop at the step's first inf or NaN, named: a layer's output (in the forward pass),
    the loss, ∂E/∂ a layer's output (the backward pass, from the output down), a gradient,
    a parameter after the update, the loss after it."""
    from chainrule.finite import NonFiniteError, element, first_non_finite, what_happened

    entries = [("forward pass", f"the output of layer {r.path} ({r.description})", r.value)
               for r in step.layers]
    entries.append(("loss", "the loss", np.asarray(step.loss)))
    entries += [("backward pass", f"∂E/∂(the output of layer {r.path})", r.grad)
                for r in reversed(step.layers)]
    entries += [("backward pass", f"the gradient of {name}", g)
                for name, g in step.gradients.items()]
    entries += [("update", f"{name} after the update", v) for name, v in step.updated.items()]
    entries.append(("loss", "the loss after the update", np.asarray(step.loss_after)))
    for phase, what, value in entries:
        found = None if value is None else first_non_finite(value)
        if found is None:
            continue
        index, bad = found
        where = "" if step.number == 1 else f" of step {step.number}"
        raise NonFiniteError(f"{command}: {element(what, index)} {what_happened(bad)} in the "
                             f"{phase}{where} ({FINITE_HINTS[phase]})", quantity=what, index=index,
                             value=bad)


def _step(number, spec, model, params, x_all, t_all, focus, describe) -> LayerStepTrace:
    # token indices (an Embedding first) have no gradient
    indices = spec.layers[0].type == "Embedding"
    x = Tensor(np.array(x_all, dtype=float), name="x", requires_grad=not indices)
    records: list[tuple[Any, Any, Tensor, Tensor, dict]] = []
    masks: dict[str, np.ndarray] = {}
    buffers = {name: np.array(b) for name, b in model.named_buffers()}
    final = forward_layers(model.modules, spec.layers, x, records, masks, None)
    z, a, activation = loss_head(spec, records, final)
    loss = output_loss(spec.loss, z, a, activation, t_all)
    seen: list[engine.BackwardStep] = []
    for p in params.values():
        p.grad = None
    engine.backward(loss, observer=seen.append)
    upstream = {id(s.tensor): s.upstream for s in seen}
    shares: dict[int, list[tuple[int, np.ndarray]]] = {}
    for s in seen:
        for parent, g in zip(s.node.inputs, s.input_grads):
            if g is not None:
                shares.setdefault(id(parent), []).append((id(s.tensor), g))
    before = {name: p.data.copy() for name, p in params.items()}
    grads = {name: (p.grad.copy() if p.grad is not None else np.zeros_like(p.data))
             for name, p in params.items()}
    stats_after = {name: np.array(b) for name, b in model.named_buffers()}
    layers, contexts = [], []
    for layer_spec, module, inp, output, extra in records:
        grad = upstream.get(id(output))
        record = LayerRecord(module_path(layer_spec.path), layer_spec.type,
                             describe(layer_spec), layer_spec.shape,
                             np.array(output.data), None if grad is None else np.array(grad))
        # this layer's share of ∂E/∂(its input): inside a residual block the input feeds the
        # shortcut too, and the layer's own derivation accounts for its own path only
        within = _ancestors(output, inp)
        own = [g for consumer, g in shares.get(id(inp), []) if consumer in within]
        in_grad = None if not own else np.sum(own, axis=0) if len(own) > 1 else own[0]
        input_shares = _paths(inp, output, extra, shares) if layer_spec.type == "Residual" \
            else []
        context = {"input": np.array(inp.data), "input_grad": in_grad, "module": module,
                   "spec": layer_spec, "output": output, "extra": extra, "upstream": upstream,
                   "shares": shares, "params": params, "grads": grads, "loss": spec.loss,
                   "targets": t_all, "activation": activation, "z": z, "a": a,
                   "buffers_before": buffers, "buffers_after": stats_after,
                   "last": output is a and activation != "identity",
                   "input_shares": input_shares}
        layers.append(record)
        contexts.append(context)
    # an inf or NaN stops the step, named, before any derivation computes with it
    check_finite_layers(LayerStepTrace(number, np.array(x.data), None, layers, before, grads,
                                       {}, float(loss.data), float(loss.data), []))
    for record, context in zip(layers, contexts):
        record.pieces = derive(record, context, focus)
    for name, p in params.items():
        if not p.frozen:
            p.data -= spec.learning_rate * grads[name]
    updated = {name: p.data.copy() for name, p in params.items()}
    # E after the update: the same batch, the same dropout masks, statistics as before it
    after_records: list = []
    model.load_state_dict({**updated, **buffers})
    final = forward_layers(model.modules, spec.layers, Tensor(np.array(x_all, dtype=float)),
                     after_records, {}, masks)
    z2, a2, act2 = loss_head(spec, after_records, final)
    with engine.no_grad():
        loss_after = float(output_loss(spec.loss, z2, a2, act2, t_all).data)
    model.load_state_dict({**updated, **stats_after})
    note = _loss_note(spec, activation, len(x_all))
    return LayerStepTrace(number, np.array(x.data), None if indices else np.array(x.grad),
                          layers, before, grads,
                          updated, float(loss.data), loss_after, note)


def _paths(x: Tensor, output: Tensor, extra: dict, shares) -> list[tuple[str, np.ndarray]]:
    """A residual input's gradient shares, named by the path they came along: the block's
    (the consumers of x that lead to the block's output) and the shortcut's."""
    block = _ancestors(extra["main"], x)
    out = []
    for consumer, g in shares.get(id(x), []):
        out.append(("the block" if consumer in block else "the shortcut", g))
    return out


def _ancestors(top: Tensor, stop: Tensor) -> set[int]:
    seen, stack = set(), [top]
    while stack:
        t = stack.pop()
        if id(t) in seen or t is stop:
            continue
        seen.add(id(t))
        if t._node is not None:
            stack.extend(t._node.inputs)
    return seen


def forward_layers(modules, specs, x: Tensor, records: list,
             masks: dict[str, np.ndarray], replay: dict[str, np.ndarray] | None) -> Tensor:
    from chainrule.nn import functional as F

    for module, layer in zip(modules, specs):
        if layer.type == "Residual":
            main = forward_layers(module.block.modules, layer.block, x, records, masks, replay)
            side = x if not layer.shortcut else forward_layers(module.shortcut.modules,
                                                         layer.shortcut, x, records, masks,
                                                         replay)
            out = main + side
            records.append((layer, module, x, out, {"main": main, "side": side}))
        elif layer.type == "Dropout" and replay is not None and layer.path in replay:
            out = F.dropout(x, module.p, True, mask=replay[layer.path])
            records.append((layer, module, x, out, {"mask": replay[layer.path]}))
        else:
            recorded = _recorded(module, layer.type)
            if recorded is not None:
                recorded.record = {}
            out = module(x)
            extra = {}
            if recorded is not None:
                extra["record"], recorded.record = recorded.record, None
            if layer.type == "Dropout":
                masks[layer.path] = module.mask
                extra["mask"] = module.mask
            records.append((layer, module, x, out, extra))
        x = out
    return x


def _recorded(module, kind: str):
    """The module that keeps its steps for the explanation (a recurrent layer's cell, an
    attention layer), or None."""
    if kind in ("RNN", "LSTM", "GRU"):
        return module.module
    if kind == "MultiheadAttention":
        return module.module
    return None


def loss_head(spec, records, final: Tensor):
    """(z, a, activation): the loss is taken from the logits before a final Softmax or
    Sigmoid, as for an MLP (chainrule.nn.losses.output_loss)."""
    activation = output_activation(spec.layers)
    if activation == "identity" or len(records) < 2:
        return final, final, "identity"
    return records[-2][3], final, activation


def _loss_note(spec, activation: str, examples: int) -> list[str]:
    """What E is: the mean over the examples and, for a loss at every position of a
    sequence, over the positions too (so ∂E/∂z is divided by their number)."""
    positions = int(np.prod(spec.positions)) if hasattr(spec, "positions") else 1
    n = examples * positions
    over = " and ".join(part for part in (
        f"the batch's {examples} examples" if examples > 1 else "",
        f"the {positions} positions" if positions > 1 else "") if part)
    mean = f" (the mean over {over})" if n > 1 else ""
    if spec.loss == "cross_entropy" and activation == "softmax":
        return [f"E = −Σₖ tₖ ln softmax(z)ₖ{mean}, taken from the logits z before the Softmax:",
                "∂E/∂z = softmax(z) − t" + (f", divided by {n}" if n > 1 else "")]
    if spec.loss == "bce" and activation == "sigmoid":
        return [f"E = −[t ln σ(z) + (1 − t) ln(1 − σ(z))], per output{mean}, from the logits:",
                "∂E/∂z = σ(z) − t, divided by the number of outputs and examples"
                + (" and positions" if positions > 1 else "")]
    return [f"E = {spec.loss} of the last layer's output{mean}"]
