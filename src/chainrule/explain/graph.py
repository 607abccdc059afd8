"""Explain any scalar computation: the recorded graph of a Tensor, as data.

``explain_graph(f)`` walks the nodes the engine recorded while ``f`` was computed (each
tensor's ``_node``: a primitive, its input tensors, its parameters), runs the engine's own
``backward`` once with an observer, and writes down for every node its value, its gradient
∂f/∂node, each local derivative from the op table with the node's numbers in it, and — where
a node feeds several others — each path's share of its gradient. Nothing is computed twice:
the gradients are the ones the engine passed, and the formulas are the table's.

Naming and order: :mod:`chainrule.explain.graph_names`.

Gradients. The explanation leaves every ``.grad`` of the graph as it found it: backward runs
with the engine as usual, and the ``.grad`` of each tensor (leaves, and retained non-leaves)
is restored afterwards, so explaining twice, or before ``f.backward()``, changes nothing.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autodiff import engine
from chainrule.autodiff.engine import BackwardStep
from chainrule.errors import ChainruleError
from chainrule.explain.graph_data import (
    SCHEMA, Formula, GraphNode, GraphTrace, Local, Term, partial,
)
from chainrule.explain.graph_formula import Bound, bind, variables
from chainrule.explain.graph_names import (
    Names, inline_constant, latex_names, node_kind, topological, unique_names,
)
from chainrule.autodiff.tensor import Tensor

__all__ = ["SCHEMA", "GraphTrace", "explain_function", "explain_graph"]


def explain_graph(output: Tensor, *, names: dict[int, str] | None = None,
                  also: tuple[Tensor, ...] = ()) -> GraphTrace:
    """The recorded graph of the scalar ``output`` with every value and gradient.

    ``names`` maps ``id(tensor)`` to a name, over a tensor's own ``name``. ``also`` are
    tensors computed before ``output`` that the graph should hold even off its path (a
    network's output after a loss taken from the logits); their gradient is 0.
    """
    if not isinstance(output, Tensor):
        raise ChainruleError(f"explain_graph: expected a Tensor, got {type(output).__name__}")
    if output.data.size != 1:
        raise ChainruleError(f"explain_graph: the output must be a scalar (one element), got "
                             f"shape {output.data.shape}; reduce it first, e.g. with .sum()")
    if not output.requires_grad:
        raise ChainruleError("explain_graph: the output does not depend on any tensor that "
                             "requires a gradient (computed under no_grad, or from constants "
                             "only)")
    last = output._node.seq if output._node is not None else -1
    if any(t._node is not None and t._node.seq > last for t in also):
        raise ChainruleError("explain_graph: every tensor of also= must be computed before "
                             "the output")
    tensors = topological(output, also)
    named = unique_names(tensors, names or {})
    steps = _backward(output, tensors)
    return _assemble(output, tensors, named, steps)


def explain_function(fn: Callable[..., Any], *args: Any, **named: Any) -> GraphTrace:
    """Call ``fn`` on tensors and explain its scalar result.

    Numbers among ``args`` and ``named`` become tensors, named after ``fn``'s parameters
    (``argN`` where it has none to give, as for ``*args``); tensors are passed as they are
    and keep their own names (an unnamed one gets the parameter's).
    """
    if not callable(fn):
        raise ChainruleError(f"explain_function: expected a function, got {type(fn).__name__}")
    labels: dict[int, str] = {}

    def as_tensor(value: Any, label: str) -> Tensor:
        tensor = value if isinstance(value, Tensor) else Tensor(_number(value, label))
        if tensor.name is None:
            labels[id(tensor)] = label
        return tensor

    positional = _parameter_names(fn, len(args))
    tensors = [as_tensor(v, label) for v, label in zip(args, positional)]
    keywords = {key: as_tensor(v, key) for key, v in named.items()}
    result = fn(*tensors, **keywords)
    if not isinstance(result, Tensor):
        raise ChainruleError(f"explain_function: {getattr(fn, '__name__', 'fn')} returned "
                             f"{type(result).__name__}, expected a Tensor")
    return explain_graph(result, names=labels)


def _parameter_names(fn: Callable[..., Any], count: int) -> list[str]:
    """The names of ``fn``'s first ``count`` positional parameters (``argN`` past them, for
    ``*args``, or for a callable whose signature Python cannot read)."""
    try:
        import inspect  # explain(function, ...) only: a network's step goes without it

        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names = [p.name for p in parameters
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [names[i] if i < len(names) else f"arg{i}" for i in range(count)]


def _number(value: Any, label: str) -> Any:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ChainruleError(f"explain_function: {label}: expected a Tensor or a number, got "
                             f"{type(value).__name__}") from None
    return array


def _backward(output: Tensor, tensors: list[Tensor]) -> list[BackwardStep]:
    """The engine's backward from ``output``, watched; every ``.grad`` restored after."""
    saved = [(t, t.grad) for t in tensors]
    steps: list[BackwardStep] = []
    try:
        engine.backward(output, observer=steps.append)
    finally:
        for tensor, grad in saved:
            tensor.grad = grad
    return steps


def _assemble(output: Tensor, tensors: list[Tensor], named: dict[int, tuple[str, str | None]],
              steps: list[BackwardStep]) -> GraphTrace:
    name = {key: unique for key, (unique, _) in named.items()}
    latex = latex_names(tensors, name)
    # in formulas, an unnamed number mixed in is written as itself
    shown, shown_latex = dict(name), dict(latex)
    for tensor in tensors:
        number = inline_constant(tensor, named[id(tensor)][1])
        if number is not None:
            shown[id(tensor)] = shown_latex[id(tensor)] = number
    upstream = {id(step.tensor): step.upstream for step in steps}
    upstream.setdefault(id(output), np.ones_like(output.data))
    locals_: dict[int, tuple[Local, ...]] = {}
    terms: dict[int, list[Term]] = {id(t): [] for t in tensors}
    for step in steps:  # the engine's order: the order it added each node's shares
        node_locals = _locals(step.tensor, step.input_grads, shown, shown_latex)
        locals_[id(step.tensor)] = node_locals
        by_slot = {local.slot: local for local in node_locals}
        for slot, (parent, g) in enumerate(zip(step.node.inputs, step.input_grads)):
            if g is None:
                continue
            local = by_slot[slot]
            terms[id(parent)].append(Term(
                name[id(step.tensor)], slot, local.kind, np.array(step.upstream),
                None if local.kind == "vjp" else float(local.value), np.array(g)))
    nodes = []
    for tensor in tensors:
        key = id(tensor)
        kind = node_kind(tensor)
        grad = None
        if tensor is output:  # ∂f/∂f = 1, a leaf explained on its own included
            grad = upstream[key]
        elif kind == "op":
            grad = upstream.get(key, np.zeros_like(tensor.data))
        elif kind == "input":
            grad = _summed([t.contribution for t in terms[key]], tensor.data)
        if key not in locals_ and kind == "op":  # no gradient reached it: no step ran
            locals_[key] = _locals(tensor, (None,) * len(tensor._node.inputs), shown,
                                   shown_latex)
        node = tensor._node
        inputs = () if node is None else tuple(name[id(t)] for t in node.inputs)
        nodes.append(GraphNode(
            name[key], named[key][1], kind, tensor.op, inputs, np.array(tensor.data),
            None if grad is None else np.array(grad), latex[key],
            None if node is None else _forward(tensor, shown, shown_latex),
            locals_.get(key, ()), tuple(terms[key]),
            {} if node is None else _plain_params(node.params)))
    return GraphTrace(name[id(output)], tuple(nodes))


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """An op's parameters as JSON can hold them: numbers, strings, lists of them."""
    def plain(value: Any) -> Any:
        if isinstance(value, (bool, str)) or value is None:
            return value
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, np.ndarray) or np.isscalar(value):
            array = np.asarray(value)
            return array.tolist() if array.dtype.kind in "biuf" else str(value)
        return str(value)

    return {key: plain(value) for key, value in params.items()}


def _summed(parts: list[np.ndarray], like: np.ndarray) -> np.ndarray:
    """The shares added in the engine's order, so the sum is the engine's, bit for bit."""
    if not parts:
        return np.zeros_like(like)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return np.asarray(total, dtype=like.dtype)


def _operands(tensor: Tensor, name: Names, latex: Names
              ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...] | None]:
    """The operands' and the result's names (text, LaTeX) and, if all are scalars, values."""
    inputs = tensor._node.inputs
    names = tuple(name[id(t)] for t in inputs) + (name[id(tensor)],)
    latexes = tuple(latex[id(t)] for t in inputs) + (latex[id(tensor)],)
    everything = (*inputs, tensor)
    values = (tuple(float(t.data.reshape(-1)[0]) for t in everything)
              if all(t.data.size == 1 for t in everything) else None)
    return names, latexes, values


def _formula(text: str, latex_text: str, tensor: Tensor, name: Names,
             latex: Names) -> Formula:
    prim = tensor._node.prim
    names, latexes, values = _operands(tensor, name, latex)
    variables_ = variables(prim)
    if len(variables_) != len(tensor._node.inputs):  # variadic: the text is left as it is
        return Formula(Bound((text,), (), None, False), Bound((latex_text,), (), None, True))
    return Formula(Bound(bind(text, variables_, False), names, values, False),
                   Bound(bind(latex_text, variables_, True), latexes, values, True))


def _writing(tensor: Tensor):
    """The op table's words for this node: its primitive's, with the node's params and its
    inputs' shapes (a squared error's kind, a mean over N examples)."""
    node = tensor._node
    return node.prim.writing(node.params, tuple(t.data.shape for t in node.inputs))


def _forward(tensor: Tensor, name: Names, latex: Names) -> Formula:
    formula, _, latex_formula, _ = _writing(tensor)
    return _formula(formula, latex_formula, tensor, name, latex)


def _locals(tensor: Tensor, input_grads: tuple[np.ndarray | None, ...], name: Names,
            latex: Names) -> tuple[Local, ...]:
    """∂node/∂input for each input that received a gradient (constants get none)."""
    node = tensor._node
    prim = node.prim
    _, derivatives, _, latex_derivatives = _writing(tensor)
    out = []
    for slot, (parent, g) in enumerate(zip(node.inputs, input_grads)):
        if not parent.requires_grad:
            continue
        k = 0 if prim.variadic else slot
        expression = _formula(derivatives[k], latex_derivatives[k], tensor, name, latex)
        symbol = partial(name[id(tensor)], latex[id(tensor)], name[id(parent)],
                         latex[id(parent)])
        if tensor.data.size == 1 and parent.data.size == 1:
            value = _local_value(tensor, slot)
            out.append(Local(name[id(parent)], slot, "derivative", symbol, expression, value))
        else:
            out.append(Local(name[id(parent)], slot, "vjp", symbol, expression,
                             None if g is None else np.array(g)))
    return tuple(out)


def _local_value(tensor: Tensor, slot: int) -> np.ndarray:
    """∂out/∂input as a number: the table's rule for that input with upstream 1 (a rule is
    linear in its upstream, so this is the one-element Jacobian itself)."""
    node = tensor._node
    out = tensor.data
    rule = node.prim.rule(slot)
    with np.errstate(all="ignore"):  # the engine has already run it; its numbers stand
        value = rule(np.ones_like(out), out, *[t.data for t in node.inputs], **node.params)
    return np.asarray(np.sum(value), dtype=float)
