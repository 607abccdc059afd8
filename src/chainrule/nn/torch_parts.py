"""The layers of a chainrule network that ``torch.nn`` has no single module for, written as
``torch.nn`` modules: a recurrent layer that gives its states as one tensor, self-attention
as one layer, a residual block, the sinusoidal positional encoding.

This file imports only torch: :func:`chainrule.nn.torch_export.to_torch` builds with these
classes, and ``chainrule export --to torch`` copies their source into the ``model.py`` it
writes, so that file runs with PyTorch alone. :func:`chainrule.interop.from_torch` reads them
back. Parameter names are PyTorch's own (``weight_ih_l0``, ``in_proj_weight``,
``block.0.weight``), as chainrule names them.
"""

import torch
from torch import nn


class _States:
    """A recurrent module as one layer: batch first, from a zero state, it gives every step's
    state of the top layer, ``output="sequence"`` (N, L, H), or the last step's,
    ``output="last"`` (N, H). ``truncate=k`` backpropagates through chunks of k steps (the
    state detached between them); the outputs are the same."""

    def __init__(self, *args, output="sequence", truncate=None, **kwargs):
        super().__init__(*args, batch_first=True, **kwargs)
        self.output, self.truncate = output, truncate

    def forward(self, x):
        if not self.truncate:
            out = super().forward(x)[0]
        else:
            pieces, state = [], None
            for start in range(0, x.shape[1], self.truncate):
                if state is not None:
                    state = tuple(s.detach() for s in state) if isinstance(state, tuple) \
                        else state.detach()
                piece, state = super().forward(x[:, start:start + self.truncate], state)
                pieces.append(piece)
            out = torch.cat(pieces, dim=1)
        return out if self.output == "sequence" else out[:, -1]

    def extra_repr(self):
        extra = "" if self.output == "sequence" else ", output='last'"
        return super().extra_repr() + extra + (f", truncate={self.truncate}"
                                               if self.truncate else "")


class RNNLayer(_States, nn.RNN):
    pass


class LSTMLayer(_States, nn.LSTM):
    pass


class GRULayer(_States, nn.GRU):
    pass


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention as one layer, batch first: ``x`` attends to itself, each
    position only to those before it when ``is_causal``."""

    def __init__(self, embed_dim, num_heads, bias=True, is_causal=False, **kwargs):
        super().__init__(embed_dim, num_heads, bias=bias, batch_first=True, **kwargs)
        self.is_causal = is_causal

    def forward(self, x):
        mask = None
        if self.is_causal:
            length = x.shape[1]
            mask = torch.triu(torch.ones(length, length, dtype=torch.bool,
                                         device=x.device), 1)
        return super().forward(x, x, x, attn_mask=mask, need_weights=False)[0]

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}" + (
            ", is_causal=True" if self.is_causal else "")


class Residual(nn.Module):
    """``block(x) + shortcut(x)``, the shortcut ``x`` itself when there is none."""

    def __init__(self, block, shortcut=None):
        super().__init__()
        self.block, self.shortcut = block, shortcut

    def forward(self, x):
        return self.block(x) + (x if self.shortcut is None else self.shortcut(x))


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal encodings of "Attention is all you need" to (N, L, E):
    PE[p, 2i] = sin(p / base^(2i/E)), PE[p, 2i + 1] = cos(p / base^(2i/E))."""

    def __init__(self, base=10000.0):
        super().__init__()
        self.base = float(base)

    def forward(self, x):
        length, width = x.shape[-2], x.shape[-1]
        position = torch.arange(length, dtype=x.dtype, device=x.device)[:, None]
        rates = self.base ** (-torch.arange(0, width, 2, dtype=x.dtype, device=x.device)
                              / width)
        table = torch.zeros(length, width, dtype=x.dtype, device=x.device)
        table[:, 0::2] = torch.sin(position * rates)
        table[:, 1::2] = torch.cos(position * rates)[:, :width // 2]
        return x + table


class Standardized(nn.Module):
    """A network trained on standardised features, taking the features as the data has
    them: ``net((x − mean) / scale)``, the training split's mean and scale as buffers."""

    def __init__(self, net, mean, scale):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, x):
        return self.net((x - self.mean) / self.scale)
