"""A network of typed layers built again of ``torch.nn`` layers, one training step with
autograd: verify's PyTorch computation of it (:mod:`chainrule.verify.layered`).

Each layer is PyTorch's own module (``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.BatchNorm2d`` in
training mode, ...) holding chainrule's starting values, float64, so no chainrule rule runs on
this side. Two places take chainrule's data as given, because they are not rules:

* dropout's mask is the one the engine drew (PyTorch's generator draws others), applied as
  PyTorch's dropout applies it, ``x · mask / (1 − p)``;
* chainrule's ``Linear`` keeps W as (in, out), the seed's layout; PyTorch's holds Wᵀ, so the
  layer is ``torch.nn.functional.linear(x, Wᵀ, b)`` with the gradient taken at W.

The loss is written from chainrule's documented formulas in torch ops, as for an MLP
(:func:`chainrule.verify.torch_check.torch_example_losses`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import MissingDependency
from chainrule.spec.layered import module_path, output_activation
from chainrule.spec.layered_build import sizes
from chainrule.verify.torch_check import INSTALL_HINT, torch_example_losses



def torch_layered_step(spec, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray],
                       masks: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """(every quantity of the first step by the reference's names, PyTorch's version)."""
    try:
        import torch
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    twin = _Twin(torch, spec, params, buffers, masks)
    return twin.step(), str(torch.__version__)


class _Twin:
    def __init__(self, torch: Any, spec, params, buffers, masks) -> None:
        self.torch, self.spec, self.masks = torch, spec, masks
        self.f64 = torch.float64
        self.leaves: dict[str, Any] = {}  # chainrule's parameter name → the tensor graded
        self.modules: dict[str, Any] = {}
        self._build(spec.layers, params, buffers)

    def _tensor(self, value: np.ndarray) -> Any:
        return self.torch.tensor(np.asarray(value, dtype=float), dtype=self.f64)

    def _build(self, layers, params, buffers) -> None:
        nn = self.torch.nn
        for layer in layers:
            name, o, kind = module_path(layer.path), layer.options, layer.type
            if kind == "Residual":
                self._build(layer.block + layer.shortcut, params, buffers)
                continue
            module = None
            if kind.startswith("Conv"):
                d = int(kind[-2])
                weight = params[f"{name}.weight"]
                module = getattr(nn, kind)(
                    layer.in_shape[0], weight.shape[0], weight.shape[2:],
                    stride=sizes(o["stride"], d), padding=sizes(o["padding"], d),
                    dilation=sizes(o["dilation"], d), groups=o["groups"],
                    bias=f"{name}.bias" in params, dtype=self.f64)
            elif kind.startswith(("MaxPool", "AvgPool")):
                module = getattr(nn, kind)(o["kernel_size"], stride=o["stride"],
                                           padding=o["padding"])
            elif kind.startswith("BatchNorm"):
                module = getattr(nn, kind)(layer.in_shape[0], eps=o["eps"],
                                           momentum=o["momentum"], dtype=self.f64)
                with self.torch.no_grad():
                    for stat in ("running_mean", "running_var", "num_batches_tracked"):
                        getattr(module, stat).copy_(self.torch.as_tensor(
                            buffers[f"{name}.{stat}"]))
            elif kind == "Linear":
                self.leaves[f"{name}.weight"] = self._leaf(params[f"{name}.weight"])
                if f"{name}.bias" in params:
                    self.leaves[f"{name}.bias"] = self._leaf(params[f"{name}.bias"])
            elif kind == "Flatten":
                module = nn.Flatten(o["start_dim"], o["end_dim"])
            elif kind == "LeakyReLU":
                module = nn.LeakyReLU(o["negative_slope"])
            elif kind == "Softmax":
                module = nn.Softmax(dim=o["dim"])
            elif kind in ("ReLU", "Tanh", "Sigmoid"):
                module = getattr(nn, kind)()
            elif kind in ("RNN", "LSTM", "GRU"):
                extra = {"nonlinearity": o["nonlinearity"]} if kind == "RNN" else {}
                module = getattr(nn, kind)(layer.in_shape[-1], o["hidden_size"],
                                           o["num_layers"], bias=o["bias"] is not False,
                                           batch_first=True, dtype=self.f64, **extra)
            elif kind == "Embedding":
                module = nn.Embedding(o["num_embeddings"], o["embedding_dim"],
                                      padding_idx=o["padding_idx"], dtype=self.f64)
            elif kind == "LayerNorm":
                shape = o["normalized_shape"] or layer.in_shape[-1]
                module = nn.LayerNorm(shape, eps=o["eps"], bias=o["bias"] is not False,
                                      dtype=self.f64)
            elif kind == "MultiheadAttention":
                module = nn.MultiheadAttention(layer.in_shape[-1], o["num_heads"],
                                               bias=o["bias"] is not False, batch_first=True,
                                               dtype=self.f64)
            if module is not None:
                module.train()
                with self.torch.no_grad():
                    for pname, p in module.named_parameters():
                        p.copy_(self._tensor(params[f"{name}.{pname}"]))
                        self.leaves[f"{name}.{pname}"] = p
                self.modules[layer.path] = module

    def _leaf(self, value: np.ndarray) -> Any:
        return self._tensor(value).requires_grad_(True)

    def _forward(self, layers, x: Any, outputs: dict[str, Any]) -> Any:
        F = self.torch.nn.functional
        for layer in layers:
            name = module_path(layer.path)
            if layer.type == "Residual":
                main = self._forward(layer.block, x, outputs)
                side = x if not layer.shortcut else self._forward(layer.shortcut, x, outputs)
                out = main + side
            elif layer.type == "Dropout":
                mask = self.masks.get(layer.path)
                p = layer.options["p"]
                out = x if mask is None else x * self._tensor(mask) * (
                    0.0 if p == 1.0 else 1.0 / (1.0 - p))
            elif layer.type == "Linear":
                out = F.linear(x, self.leaves[f"{name}.weight"].t(),
                               self.leaves.get(f"{name}.bias"))
            elif layer.type in ("RNN", "LSTM", "GRU"):
                out = self._recurrent(layer, x)
            elif layer.type == "Embedding":
                out = self.modules[layer.path](x.long())
            elif layer.type == "MultiheadAttention":
                length = x.shape[1]
                mask = self.torch.triu(self.torch.ones(length, length, dtype=self.torch.bool),
                                       1) if layer.options["is_causal"] else None
                out = self.modules[layer.path](x, x, x, attn_mask=mask, need_weights=False)[0]
            elif layer.type == "PositionalEncoding":
                out = x + self._positions(*x.shape[1:])
            else:
                out = self.modules[layer.path](x)
            if out.requires_grad:
                out.retain_grad()
            outputs[name] = out
            x = out
        return x

    def _recurrent(self, layer, x: Any) -> Any:
        """PyTorch's module over the sequence; truncated BPTT as PyTorch code writes it, the
        sequence in chunks of k steps and the state detached between them."""
        module, k = self.modules[layer.path], layer.options["truncate"]
        if not k:
            out = module(x)[0]
        else:
            pieces, state = [], None
            for start in range(0, x.shape[1], k):
                if state is not None:
                    state = tuple(s.detach() for s in state) if isinstance(state, tuple) \
                        else state.detach()
                piece, state = module(x[:, start:start + k], state)
                pieces.append(piece)
            out = self.torch.cat(pieces, dim=1)
        return out if layer.options["output"] == "sequence" else out[:, -1]

    def _positions(self, length: int, width: int) -> Any:
        """The sinusoidal encodings in torch ops: sin and cos of p / 10000^(2i/d)."""
        torch = self.torch
        position = torch.arange(length, dtype=self.f64)[:, None]
        rates = 10000.0 ** (-torch.arange(0, width, 2, dtype=self.f64) / width)
        table = torch.zeros(length, width, dtype=self.f64)
        table[:, 0::2] = torch.sin(position * rates)
        table[:, 1::2] = torch.cos(position * rates)[:, :width // 2]
        return table

    def step(self) -> dict[str, np.ndarray]:
        torch, spec = self.torch, self.spec
        x_all = spec.inputs if spec.batched else spec.inputs[None]
        indices = spec.layers[0].type == "Embedding"  # token indices have no gradient
        x = self._tensor(x_all).requires_grad_(not indices)
        outputs: dict[str, Any] = {}
        final = self._forward(spec.layers, x, outputs)
        targets = np.asarray(spec.targets if spec.batched else spec.targets[None])
        t = self._tensor(np.eye(spec.output_size)[targets] if targets.dtype.kind in "iu"
                         else targets)
        activation = output_activation(spec.layers)
        z = final if activation == "identity" else \
            outputs[module_path(spec.layers[-2].path)] if len(spec.layers) > 1 else x
        loss = torch_example_losses(torch, spec.loss, activation, z, final, t).mean()
        loss.backward()
        out: dict[str, np.ndarray] = {}
        for name, tensor in outputs.items():
            out[f"forward.{name}"] = _numpy(tensor)
            if tensor.grad is not None:
                out[f"backward.{name}"] = _numpy(tensor.grad)
        out["loss"] = _numpy(loss)
        if not indices:
            out["gradients.input"] = _numpy(x.grad)
        for name, leaf in self.leaves.items():
            out[f"gradients.{name}"] = np.zeros(tuple(leaf.shape)) if leaf.grad is None \
                else _numpy(leaf.grad)
        for path, module in self.modules.items():
            if hasattr(module, "running_mean"):
                for stat in ("running_mean", "running_var"):
                    out[f"buffers.{module_path(path)}.{stat}"] = _numpy(getattr(module, stat))
        return out


def _numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().numpy().copy()
