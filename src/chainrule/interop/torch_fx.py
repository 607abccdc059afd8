"""A custom ``torch.nn.Module`` read through its ``torch.fx`` graph: the supported parts kept
whole (leaves), each node of its forward mapped to a chainrule layer.

What a forward may do, node by node:

* call a supported module (``self.fc1(x)``), or a raw ``nn.RNN``/``nn.LSTM``/``nn.GRU`` as
  ``out, _ = self.rnn(x)`` (from a zero state), whose ``out`` is the layer's sequence and
  ``out[:, -1]`` or ``h_n[-1]`` its last step; an ``nn.MultiheadAttention`` as
  self-attention, ``self.attn(x, x, x)[0]``, with no mask or the causal one;
* the functional forms of the layers: ``F.relu``, ``torch.tanh``, ``x.sigmoid()``,
  ``F.leaky_relu``, ``F.softmax``, ``F.dropout``, ``F.max_pool2d``/``F.avg_pool2d`` (and 1d),
  ``torch.flatten(x, 1)``, ``x.view(x.size(0), -1)``;
* add two branches of one input, ``f(x) + g(x)`` or ``f(x) + x``: a residual block.

Anything else is one :class:`~chainrule.interop.torch_layers.TorchImportError` naming the
node, as is a module used twice (its weights would be shared in PyTorch but not here).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from chainrule.interop.torch_fx_forms import (FUNCTIONS, functional, index_text, is_causal,
                                              last_step, meta_shape)
from chainrule.interop.torch_layers import (TorchImportError, attention, entries, expands,
                                            input_shape_of, layer, owners, recurrent,
                                            whole_parts)


@dataclass(eq=False)
class _Entry:
    """One layer on a path, with the torch parts behind it (a residual block's after it)."""

    layer: dict[str, Any]
    owners: list[tuple[str | None, Any]]


@dataclass(eq=False)
class _Path:
    """A tensor: the layers from the input to it."""

    entries: tuple[_Entry, ...] = ()

    def then(self, entry: _Entry) -> "_Path":
        return _Path(self.entries + (entry,))


@dataclass(eq=False)
class _Pending:
    """A recurrent or attention module's tuple, or a part of it, not yet a layer."""

    what: str  # "rnn", "sequence", "state", "hidden", "attention"
    name: str
    module: Any
    path: _Path
    extra: dict[str, Any] = field(default_factory=dict)


def _leaves() -> tuple:
    """What the tracer keeps whole: the parts read as they are, and the raw recurrent and
    attention modules whose tuple the reader takes apart."""
    import torch.nn as tnn

    return (*whole_parts(), tnn.RNNBase, tnn.MultiheadAttention)


def _trace(module):
    import torch.fx as fx

    leaves = _leaves()

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):  # noqa: D102 - fx's hook
            return isinstance(m, leaves) or super().is_leaf_module(m, qualname)

    try:
        graph = Tracer().trace(module)
    except Exception as error:  # fx's own errors are of many types; one line, named
        first = (str(error).strip().splitlines() or [""])[0][:160]
        raise TorchImportError(f"model ({type(module).__name__}): torch.fx cannot trace its "
                               f"forward ({type(error).__name__}: {first}); build it of the "
                               f"supported parts with a forward that torch.fx traces") from None
    return fx.GraphModule(module, graph)


def _shapes(gm, module, shape: tuple[int, ...], first) -> None:
    """Each node's shape (``node.meta["tensor_meta"]``) from one run on zeros, the module in
    eval mode and without gradients, so nothing of it changes (its modes are put back)."""
    import contextlib
    import io
    import warnings

    import torch
    import torch.nn as tnn
    from torch.fx.passes.shape_prop import ShapeProp

    params = list(module.parameters())
    dtype = params[0].dtype if params else torch.float64
    indices = isinstance(first, tnn.Embedding)
    x = torch.zeros((2, *shape), dtype=torch.long if indices else dtype)
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        # quiet: PyTorch's fast-path notices, and the traceback ShapeProp prints itself
        with torch.no_grad(), warnings.catch_warnings(), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            ShapeProp(gm).propagate(x)
    except Exception as error:  # the model's own error on this input: one line
        error = error.__cause__ or error  # ShapeProp wraps the module's own error
        first_line = (str(error).strip().splitlines() or [""])[0][:160]
        raise TorchImportError(f"model: a forward pass on one example of shape {shape} "
                               f"failed ({type(error).__name__}: {first_line})") from None
    finally:
        for m, mode in modes.items():
            m.training = mode


def trace_layers(module, input_shape) -> tuple[list[dict], list, tuple[int, ...]]:
    """(layers, the torch part behind each flat layer, the shape of one example) of a module
    that is not a Sequential of supported parts."""
    gm = _trace(module)
    nodes = list(gm.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise TorchImportError(f"model ({type(module).__name__}): forward takes "
                               f"{len(inputs)} inputs; chainrule's networks take one")
    first = next((gm.get_submodule(n.target) for n in nodes if n.op == "call_module"
                  and inputs[0] in n.args), None)
    if first is None and input_shape is None:
        raise TorchImportError("model: give input_shape (its forward starts with no module "
                               "that says the size of one example)")
    shape = input_shape_of(first, input_shape, "model")
    import torch.nn as tnn

    for node in nodes:  # a part it has no layer for is named before anything runs
        part = gm.get_submodule(node.target) if node.op == "call_module" else None
        if part is not None and not isinstance(part, (tnn.RNNBase, tnn.MultiheadAttention)):
            entries(part, str(node.target), f"model.{node.target}")
    _shapes(gm, module, shape, first)
    path = _Reader(gm).run(nodes)
    if not path.entries:
        raise TorchImportError("model: its forward returns its input; there are no layers")
    return [e.layer for e in path.entries], \
        [o for e in path.entries for o in e.owners], shape


def _causal(node, mask, query, values, where: str, what: str = "a mask") -> bool:
    """Whether an attention call is causal: its mask the causal one of the query's length (a
    constant: a buffer), or no mask; any other mask, or is_causal=True without one (a hint
    PyTorch does not act on alone), is refused."""
    if mask is None:
        if node.kwargs.get("is_causal"):
            raise TorchImportError(f"{where}: is_causal=True without its mask, which PyTorch "
                                   f"takes as a hint only; give the causal mask")
        return False
    constant = values.get(mask)
    if not (isinstance(constant, tuple) and is_causal(constant[1], meta_shape(query)[1])):
        raise TorchImportError(f"{where}: {what} other than the causal one (a constant upper "
                               f"triangle, registered as a buffer) is not modelled")
    return True


class _Reader:
    def __init__(self, gm) -> None:
        self.gm = gm
        self.used: dict[int, str] = {}  # id(torch module) → its name: each used once
        self.made: dict[tuple[int, str], _Path] = {}

    def run(self, nodes) -> _Path:
        needed = self._needed(nodes)
        values: dict[Any, Any] = {}
        for node in nodes:
            if node not in needed:
                continue
            if node.op == "placeholder":
                values[node] = _Path()
            elif node.op == "get_attr":
                values[node] = ("constant", operator.attrgetter(node.target)(self.gm))
            elif node.op == "output":
                out = node.args[0]
                if not hasattr(out, "op"):
                    raise TorchImportError("model: its forward returns "
                                           f"{type(out).__name__}; chainrule's networks "
                                           f"return one tensor")
                return self._tensor(values[out], "the output")
            elif node.op == "call_module":
                values[node] = self._module(node, values)
            else:
                values[node] = self._function(node, values)
        raise TorchImportError("model: its forward has no output")

    @staticmethod
    def _needed(nodes) -> set:
        output = [n for n in nodes if n.op == "output"]
        needed, todo = set(), list(output)
        while todo:
            node = todo.pop()
            if node in needed:
                continue
            needed.add(node)
            todo += list(node.all_input_nodes)
        return needed

    # ---- what a node's value is

    def _tensor(self, value: Any, where: str) -> _Path:
        if isinstance(value, _Path):
            return value
        if isinstance(value, _Pending) and value.what == "sequence":
            return self._made(value, "sequence")
        if isinstance(value, _Pending):
            return self._refuse_pending(value, where)
        raise TorchImportError(f"model: {where} is a constant, not computed from the input")

    def _refuse_pending(self, value: _Pending, where: str):
        texts = {"rnn": "the tuple (output, h_n) itself; take out, _ = …",
                 "state": "h_n of every layer; take h_n[-1] (the top layer's last step)",
                 "hidden": "the LSTM's (h_n, c_n); take h_n[-1]",
                 "attention": "the tuple (output, weights); take [0]",
                 "cell": "the LSTM's cell state c_n, which is not a layer's output"}
        raise TorchImportError(f"model.{value.name}: {where} uses {texts[value.what]}")

    def _made(self, value: _Pending, output: str) -> _Path:
        """The path through the layer of ``value``'s module giving ``output``: one layer,
        however many nodes use it (out and h_n[-1] both; out in two places)."""
        key = (id(value.module), output)
        if key not in self.made:
            self.made[key] = value.path.then(self._own(value, output))
        return self.made[key]

    def _own(self, value: _Pending, output: str) -> _Entry:
        self._once(value.module, value.name)
        where = f"model.{value.name}"
        if value.what == "attention":
            built = attention(value.module, where, value.extra["causal"])
        else:
            built = recurrent(value.module, where, output)
        return _Entry(built, [(value.name, value.module)])

    def _once(self, module, name: str) -> None:
        if id(module) in self.used:
            raise TorchImportError(f"model.{name}: used twice in forward (as "
                                   f"{self.used[id(module)]} too); PyTorch shares its weights "
                                   f"between the uses, a chainrule layer has its own")
        self.used[id(module)] = name

    def _module(self, node, values) -> Any:
        import torch.nn as tnn

        from chainrule.nn import torch_parts

        name = str(node.target)
        module = self.gm.get_submodule(name)
        where = f"model.{name}"
        tensors = list(node.args)
        ours = (torch_parts.RNNLayer, torch_parts.LSTMLayer, torch_parts.GRULayer,
                torch_parts.SelfAttention)
        if isinstance(module, tnn.RNNBase) and not isinstance(module, ours):
            if len(tensors) != 1 or node.kwargs:
                raise TorchImportError(f"{where} ({type(module).__name__}): called with a "
                                       f"starting state; chainrule's start from zeros")
            return _Pending("rnn", name, module, self._tensor(values[tensors[0]], where))
        if isinstance(module, tnn.MultiheadAttention) and not isinstance(module, ours):
            return self._attention_call(node, module, name, values)
        if expands(module):
            return self._encoder_call(node, module, name, values)
        if len(tensors) != 1 or node.kwargs:
            raise TorchImportError(f"{where} ({type(module).__name__}): called with "
                                   f"{len(tensors)} arguments; a layer takes one tensor")
        path = self._tensor(values[tensors[0]], where)
        self._once(module, name)
        built = layer(module, where)
        return path.then(_Entry(built, owners([(name, module)])))

    def _encoder_call(self, node, module, name: str, values) -> _Path:
        """An encoder layer or stack, ``enc(x)`` or with the causal mask (``src_mask=`` or
        ``mask=``, a constant upper triangle)."""
        where = f"model.{name}"
        kind = type(module).__name__
        if len(node.args) > 1:
            raise TorchImportError(f"{where} ({kind}): give its mask by name (mask=...)")
        extra = {k for k, v in node.kwargs.items() if v is not None} - {
            "src_mask", "mask", "is_causal"}
        if extra:
            raise TorchImportError(f"{where} ({kind}): {', '.join(sorted(extra))} is not "
                                   f"modelled")
        path = self._tensor(values[node.args[0]], where)
        causal = _causal(node, node.kwargs.get("src_mask", node.kwargs.get("mask")),
                         node.args[0], values, f"{where} ({kind})")
        self._once(module, name)
        for built, parts in entries(module, name, where, causal):
            path = path.then(_Entry(built, parts))
        return path

    def _attention_call(self, node, module, name: str, values) -> _Pending:
        where = f"model.{name}"
        args = list(node.args) + [None] * 3
        query, key, value = (node.kwargs.get(k, args[i])
                             for i, k in enumerate(("query", "key", "value")))
        if not (query is key is value):
            raise TorchImportError(f"{where} (MultiheadAttention): query, key and value are "
                                   f"different tensors; chainrule's attention is "
                                   f"self-attention, attn(x, x, x)")
        if len(node.args) > 3:
            raise TorchImportError(f"{where} (MultiheadAttention): give the options by name "
                                   f"(need_weights=False, attn_mask=...)")
        extra = set(node.kwargs) - {"query", "key", "value", "need_weights", "attn_mask",
                                    "is_causal", "average_attn_weights"}
        if node.kwargs.get("key_padding_mask") is not None or extra:
            raise TorchImportError(f"{where} (MultiheadAttention): "
                                   f"{', '.join(sorted(extra)) or 'key_padding_mask'} is not "
                                   f"modelled")
        path = self._tensor(values[query], where)
        causal = _causal(node, node.kwargs.get("attn_mask"), query, values,
                         f"{where} (MultiheadAttention)", "an attn_mask")
        return _Pending("attention", name, module, path, {"causal": causal})

    def _function(self, node, values) -> Any:
        target = node.target
        label = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        where = f"model: {label}() in forward"
        args = list(node.args)
        if not args or not hasattr(args[0], "op"):
            raise TorchImportError(f"{where}: not a layer chainrule has")
        source = values.get(args[0])
        if isinstance(source, tuple):  # x.size(0), x.shape[0]: what a reshape reads
            return ("constant", None)
        if label == "getitem":
            return self._getitem(source, args[1] if len(args) > 1 else None, where)
        if label in ("size", "dim") or (label == "getattr" and args[1:] == ["shape"]):
            return ("constant", None)  # what a reshape reads; only a reshape may use it
        kind = FUNCTIONS.get(label)
        if kind is None:
            raise TorchImportError(f"{where}: not a layer chainrule has (it reads modules of "
                                   f"the supported parts, F.relu, torch.flatten, x.view(N, "
                                   f"-1), F.max_pool2d and f(x) + x)")
        if kind == "add":
            return self._add(node, values, where)
        path = self._tensor(source, where)
        built = functional(kind, node, where)
        return path.then(_Entry(built, [(None, None)]))

    def _getitem(self, source: Any, index: Any, where: str) -> Any:
        if isinstance(source, _Pending):  # the same item of one call, however often taken
            key = ("item", repr(index))
            if key not in source.extra:
                source.extra[key] = self._item(source, index)
            return source.extra[key]
        raise TorchImportError(f"{where}: indexing a tensor [{index_text(index)}] is not a "
                               f"layer chainrule has")

    def _item(self, source: "_Pending", index: Any) -> Any:
        if source.what == "rnn":
            if index == 0:
                return _Pending("sequence", source.name, source.module, source.path)
            if index == 1:
                lstm = type(source.module).__name__.endswith("LSTM")
                return _Pending("hidden" if lstm else "state", source.name,
                                source.module, source.path)
        if source.what == "hidden" and index in (0, 1):
            return _Pending("state" if index == 0 else "cell", source.name,
                            source.module, source.path)
        if source.what == "state" and index == -1:
            return self._made(source, "last")
        if source.what == "sequence" and last_step(index):
            return self._made(source, "last")
        if source.what == "attention" and index == 0:
            return self._made(source, "sequence")
        if source.what == "attention" and index == 1:
            raise TorchImportError(f"model.{source.name}: the attention weights are not "
                                   f"a layer's output")
        raise TorchImportError(f"model.{source.name}: [{index_text(index)}] of "
                               f"{source.what} is not modelled (out[:, -1] and h_n[-1] "
                               f"are the last step)")

    def _add(self, node, values, where: str) -> _Path:
        if len(node.args) != 2 or node.kwargs:
            raise TorchImportError(f"{where}: an addition of two tensors is a residual block; "
                                   f"this one has other arguments")
        a, b = (values.get(arg) if hasattr(arg, "op") else None for arg in node.args)
        if a is None or b is None:
            raise TorchImportError(f"{where}: adds a constant; a residual block adds two "
                                   f"branches of one input")
        a, b = self._tensor(a, where), self._tensor(b, where)
        common = 0
        for x, y in zip(a.entries, b.entries):
            if x is not y:
                break
            common += 1
        rest_a, rest_b = a.entries[common:], b.entries[common:]
        if not rest_a and not rest_b:
            raise TorchImportError(f"{where}: x + x is not a residual block")
        block, shortcut = (rest_a, rest_b) if len(rest_a) >= len(rest_b) else (rest_b, rest_a)
        built = {"type": "Residual", "layers": [e.layer for e in block],
                 "shortcut": [e.layer for e in shortcut] if shortcut else None}
        inner = [o for e in block for o in e.owners] + [o for e in shortcut for o in e.owners]
        return _Path(a.entries[:common] + (_Entry(built, [(None, None)] + inner),))
