"""A live ``torch.nn`` model as a chainrule network of typed layers, with its weights.

>>> network = from_torch(model)                            # doctest: +SKIP
>>> spec = torch_spec(model, input_shape=(1, 8, 8))        # doctest: +SKIP

The spec is what a spec file holds (:mod:`chainrule.spec.layered`): each part's type, its
options and its arrays in PyTorch's own layouts and names, except ``Linear``'s weight, which
chainrule keeps as (in, out) (z = x·W + b) and is transposed here.

Two ways in, one result:

* a ``Sequential`` (nested ones flattened) of the supported parts is read part by part;
* any other module is traced with ``torch.fx`` (the supported parts kept whole) and its
  graph read node by node: modules, the functional forms (``F.relu``, ``torch.flatten``,
  ``x.view(x.size(0), -1)``, ``F.max_pool2d``), ``x + f(x)`` as a residual block, and a
  recurrent module's ``out, _ = rnn(x)`` with ``out[:, -1]`` or ``h_n[-1]`` as its last step.

:func:`torch_names` maps chainrule's parameter names back to the module's (``3.weight`` →
``fc1.weight``). A part chainrule has no layer for, or an option it does not model (a padding
mode, ``ceil_mode``, a bidirectional LSTM, an attention mask other than the causal one), is
one :class:`TorchImportError` naming it and its place in the model: never a silently
different network.
"""

from __future__ import annotations

from typing import Any, Sequence

from chainrule.interop.torch_layers import (SUPPORTED, TorchImportError, direct, entries,
                                            flat, input_shape_of, layer)

__all__ = ["SUPPORTED", "TorchImportError", "from_torch", "torch_names", "torch_spec"]


def _read(module, input_shape) -> tuple[list[dict], list[tuple[str, Any]], tuple[int, ...]]:
    """(the layers; for each layer in the order of chainrule's flat layers, the torch module
    it came from and its name, or None for a functional form; the shape of one example)."""
    import torch.nn as tnn

    if isinstance(module, tnn.Sequential) and direct(module):
        parts = flat(module)
        if not parts:
            raise TorchImportError("model: the Sequential has no layers")
        shape = input_shape_of(parts[0][1], input_shape, f"model[{parts[0][0]}]")
        read = [e for name, part in parts for e in entries(part, name, f"model[{name}]")]
        return [built for built, _ in read], [o for _, os in read for o in os], shape
    if isinstance(module, tnn.Sequential):  # a torch part it has no layer for: named here
        for name, part in flat(module):
            if type(part).__module__.startswith("torch.nn.") and not direct(part):
                layer(part, f"model[{name}]")
    if direct(module):  # one supported module on its own
        shape = input_shape_of(module, input_shape, "model")
        read = entries(module, "", "model")
        return [built for built, _ in read], [o for _, os in read for o in os], shape
    from chainrule.interop.torch_fx import trace_layers

    return trace_layers(module, input_shape)


def torch_spec(module, input_shape: Sequence[int] | None = None, *,
               name: str = "torch-model", **step: Any) -> dict[str, Any]:
    """The spec of ``module`` (a ``torch.nn.Module``) for inputs of ``input_shape`` per
    example (inferred when the first part is a ``Linear``); ``step`` adds the spec's other
    fields (``loss``, ``input``/``target`` or ``inputs``/``targets``, ``learning_rate``)."""
    return spec_and_names(module, input_shape, name=name, **step)[0]


def spec_and_names(module, input_shape: Sequence[int] | None = None, *,
                   name: str = "torch-model", **step: Any) -> tuple[dict, dict[str, str]]:
    """:func:`torch_spec` and :func:`torch_names` of ``module``, from one reading of it."""
    read = _read(module, input_shape)
    layers, _, shape = read
    names = _names(module, read)
    spec = {"name": name, "input_shape": list(shape), "layers": layers, **step}
    params = dict(module.named_parameters())
    frozen = [ours for ours, theirs in names.items()
              if theirs in params and not params[theirs].requires_grad]
    if frozen and "frozen" not in step:  # requires_grad=False: kept fixed, as PyTorch keeps it
        spec["frozen"] = frozen
    return spec, names


def torch_names(module, input_shape: Sequence[int] | None = None) -> dict[str, str]:
    """chainrule's parameter and buffer names → the module's (``4.weight`` → ``4.0.weight``
    where a nested Sequential was flattened, ``0.weight`` → ``conv1.weight`` where traced)."""
    return _names(module, _read(module, input_shape))


def _names(module, read) -> dict[str, str]:
    from chainrule.nn import torch_parts
    from chainrule.spec.layered import flat_layers, module_path

    layers, parts, shape = read
    out = {}
    for spec, (prefix, part) in zip(flat_layers(_parse(layers, shape)), parts):
        if part is None or isinstance(part, torch_parts.Residual):
            continue
        for local, _ in [*part.named_parameters(), *part.named_buffers()]:
            out[f"{module_path(spec.path)}.{local}"] = f"{prefix}.{local}" if prefix else local
    return out


def _parse(layers: list[dict], shape: tuple[int, ...]):
    from chainrule.errors import SpecError
    from chainrule.spec.common import MAX_LAYERS, MAX_PARAMETERS
    from chainrule.spec.layered import parse_layers

    try:
        return parse_layers(layers, shape, max_layers=MAX_LAYERS,
                            max_parameters=MAX_PARAMETERS)
    except SpecError as error:
        raise TorchImportError(f"the model as chainrule layers: {error}") from None


def from_torch(module, input_shape: Sequence[int] | None = None):
    """A chainrule :class:`~chainrule.nn.network.Network` with ``module``'s layers and
    weights (float64), checked as a spec's layers are (shapes, sizes); a part it cannot hold
    is a :class:`TorchImportError`. The module is left as it was (its mode, its statistics);
    the network is in training mode, as a new torch module is. A parameter with
    ``requires_grad=False`` is frozen: its gradient is shown, never applied."""
    from chainrule.spec.layered_build import build_network

    spec, _ = spec_and_names(module, input_shape)
    shape = tuple(spec["input_shape"])
    network = build_network(_parse(spec["layers"], shape), shape)
    network.freeze(*spec.get("frozen", ()))
    return network
