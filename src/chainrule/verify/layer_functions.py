"""Someone's CS231n-style layer functions, run in the sandbox and judged against the engine.

``check_layer_function("affine_backward", "layers.py:affine_backward")`` calls the function
(in the same sandbox as ``--impl``, docs/security.md) on random inputs with a random upstream
gradient ``dout`` (never all ones, which would hide a transposed or permuted gradient), and
compares each output with chainrule's engine on the same inputs: exact, close (1e-6
relative, :data:`~chainrule.verify.impl.IMPL_TOLERANCE`), max |diff|, shape; a wrong output
is named with the layer mistake (:data:`LAYER_FUNCTIONS`' own) whose numbers it has.

The functions, as the CS231n assignments (``cs231n/layers.py``) write them:

* ``affine_forward(x, w, b) -> (out, cache)``: x of shape (N, d₁, …, d_k) is read as (N, D);
* ``affine_backward(dout, cache) -> (dx, dw, db)`` with ``cache = (x, w, b)``;
* ``relu_forward(x) -> (out, cache)``, ``relu_backward(dout, cache) -> dx`` with ``cache = x``;
* ``softmax_loss(x, y) -> (loss, dx)`` and ``svm_loss(x, y) -> (loss, dx)``: scores x of
  shape (N, C), y the classes (integers), the loss the mean over the N examples.

Every truth is the engine's: a forward built from Tensor operations and ``backward(dout)``, so
the numbers come from the op table's vjps, as an explanation's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from chainrule.errors import ChainruleError
from chainrule.verify.impl import IMPL_TOLERANCE, ImplError, call_sandboxed, parse_target
from chainrule.verify.layer_function_types import LayerFunction, LayerMistake, tensor
from chainrule.verify.layer_functions_cnn import CNN_FUNCTIONS
from chainrule.verify.sandbox import DESCRIPTIONS, Limits
from chainrule.verify.tensors import compared, shape_text, yes

N, DIMS, CLASSES = 4, (2, 3), 5  # examples, an example's shape (D = 6), outputs or classes
SEED = 0


def _affine(x, w, b, dout):
    X, W, B = tensor(x), tensor(w), tensor(b)
    out = X.reshape(len(x), -1) @ W + B
    out.backward(dout)
    return {"out": out.data, "dx": X.grad, "dw": W.grad, "db": B.grad}


def _relu(x, dout):
    X = tensor(x)
    out = X.relu()
    out.backward(dout)
    return {"out": out.data, "dx": X.grad}


def _softmax(x, y):
    from chainrule.nn.losses import cross_entropy

    X = tensor(x)
    loss = cross_entropy(X, y)
    loss.backward()
    return {"loss": loss.data, "dx": X.grad}


def _svm(x, y):
    X = tensor(x)
    correct = X.gather(1, y.reshape(-1, 1))
    others = 1.0 - np.eye(x.shape[1])[y]  # the margins of the other classes only
    margins = (X - correct + 1.0).relu() * others
    loss = margins.sum() / len(x)
    loss.backward()
    return {"loss": loss.data, "dx": X.grad}


def _scale(factor: float, key: str) -> Callable:
    return lambda truth, inputs: truth[key] * factor


LAYER_FUNCTIONS: dict[str, LayerFunction] = {**{f.name: f for f in (
    LayerFunction("affine_forward", ("x", "w", "b"), (), ("out",),
                  lambda i: _affine(i["x"], i["w"], i["b"], i["dout"]),
                  (LayerMistake("bias_left_out", "b not added", "out",
                                lambda t, i: t["out"] - i["b"]),)),
    LayerFunction("affine_backward", ("dout", "cache"), ("x", "w", "b"), ("dx", "dw", "db"),
                  lambda i: _affine(i["x"], i["w"], i["b"], i["dout"]),
                  (LayerMistake("db_summed_over_outputs", "db summed over axis 1, not 0", "db",
                                lambda t, i: i["dout"].sum(axis=1)),
                   LayerMistake("db_mean_over_examples", "db averaged over the examples", "db",
                                _scale(1 / N, "db")),
                   LayerMistake("dw_averaged_again", "dw divided by N again", "dw",
                                _scale(1 / N, "dw")))),
    LayerFunction("relu_forward", ("x",), (), ("out",),
                  lambda i: _relu(i["x"], i["dout"]), scores=True),
    LayerFunction("relu_backward", ("dout", "cache"), ("x",), ("dx",),
                  lambda i: _relu(i["x"], i["dout"]), scores=True, mistakes=
                  (LayerMistake("relu_mask_without_upstream", "the mask (x > 0) alone, not "
                                "dout times it", "dx",
                                lambda t, i: (i["x"] > 0).astype(float)),
                   LayerMistake("relu_upstream_unmasked", "dout passed through unmasked", "dx",
                                lambda t, i: i["dout"]))),
    LayerFunction("softmax_loss", ("x", "y"), (), ("loss", "dx"),
                  lambda i: _softmax(i["x"], i["y"]),
                  (LayerMistake("dx_not_averaged", "dx without the 1/N of the mean loss", "dx",
                                _scale(N, "dx")),), scores=True),
    LayerFunction("svm_loss", ("x", "y"), (), ("loss", "dx"),
                  lambda i: _svm(i["x"], i["y"]),
                  (LayerMistake("dx_not_averaged", "dx without the 1/N of the mean loss", "dx",
                                _scale(N, "dx")),), scores=True),
)}, **CNN_FUNCTIONS}


def layer_inputs(seed: int = SEED) -> dict[str, Any]:
    """Random inputs every function is called on (the same for a seed), no ties in relu or
    the margins: |x| ≥ 0.05 everywhere."""
    rng = np.random.default_rng(seed)

    def away_from_zero(shape):
        values = rng.uniform(0.05, 1.0, shape)
        return values * rng.choice([-1.0, 1.0], shape)

    d = int(np.prod(DIMS))
    return {"x": away_from_zero((N, *DIMS)), "scores": away_from_zero((N, CLASSES)),
            "w": rng.normal(0, 0.5, (d, CLASSES)),
            "b": rng.normal(0, 0.5, CLASSES), "dout": rng.normal(0, 1.0, (N, CLASSES)),
            "y": rng.integers(0, CLASSES, N)}


@dataclass
class OutputRow:
    name: str
    shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    exact: bool
    close: bool
    max_diff: float | None
    mistake: LayerMistake | None
    note: str = ""  # one line on how it was judged (dropout: the fraction it kept)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape),
                "expected_shape": list(self.expected_shape), "exact": self.exact,
                "close": self.close, "max_diff": self.max_diff,
                "mistake": None if self.mistake is None else
                {"id": self.mistake.id, "title": self.mistake.title},
                **({"note": self.note} if self.note else {})}


@dataclass
class LayerReport:
    function: str
    target: str
    rows: list[OutputRow]
    sandbox: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(row.close for row in self.rows)

    def __str__(self) -> str:
        header = ("output", "shape", "exact", "close", "max |diff|", "known mistake")
        lines = [(r.name, shape_text(r.shape, r.expected_shape), yes(r.exact), yes(r.close),
                  "—" if r.max_diff is None else f"{r.max_diff:.3g}",
                  "" if r.mistake is None else f"{r.mistake.id}: {r.mistake.title}")
                 for r in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
        out = [f"{self.target} as {self.function} (random inputs and upstream gradient, to "
               f"{IMPL_TOLERANCE.rel:g} relative)", f"sandbox: {self.sandbox['description']}"]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                for line in [header, *lines]]
        out += [f"  {r.name}: {r.note}" for r in self.rows if r.note]
        wrong = [r for r in self.rows if not r.close]
        out.append("")
        out.append(f"All {len(self.rows)} outputs agree with the engine's." if not wrong else
                   f"First off: {wrong[0].name}" + (
                       f", which is the known mistake {wrong[0].mistake.id} "
                       f"({wrong[0].mistake.title})." if wrong[0].mistake else
                       ": no known mistake of this function gives its numbers."))
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "target": self.target, "ok": self.ok,
                "outputs": [row.to_dict() for row in self.rows], "sandbox": self.sandbox}


def check_layer_function(function: str, target: str | Path, timeout: float = 10.0,
                         sandbox: str = "auto", limits: Limits = Limits(),
                         seed: int = SEED) -> LayerReport:
    """Run ``target`` (``file.py:name``; ``file.py`` alone means the function named
    ``function``) as the layer function ``function`` and judge its outputs."""
    if function not in LAYER_FUNCTIONS:
        raise ChainruleError(f"layer function {function!r}: expected one of "
                             f"{', '.join(LAYER_FUNCTIONS)}")
    layer = LAYER_FUNCTIONS[function]
    text = str(target)
    if ":" not in text.rpartition("/")[2]:
        text += f":{function}"
    path, name = parse_target(text)
    drawn = layer.draw(np.random.default_rng(seed)) if layer.draw else layer_inputs(seed)
    inputs = layer.inputs(drawn)
    args = []
    for argument in layer.arguments:
        if argument == "cache":
            args.append({"tuple": [_encoded(inputs[k]) for k in layer.cache]}
                        if len(layer.cache) > 1 else _encoded(inputs[layer.cache[0]]))
        else:
            args.append(_encoded(inputs[argument]))
    request = {"function": name, "call": "layer", "args": args, "returns": list(layer.returns)}
    if layer.forward:  # a backward pass, given its own forward pass's cache
        forward, names = layer.forward
        request["forward"] = {"function": forward, "args": [_encoded(inputs[k]) for k in names]}
    returned, level = call_sandboxed(request, path, text, timeout, sandbox, limits)
    got = {}
    for output in layer.returns + (("forward.out",) if layer.forward else ()):
        item = returned.get(output, {})
        if "array" not in item:
            raise ImplError(f"{text}: {layer.forward[0] if output == 'forward.out' else name}() "
                            f"returned no array for {output.split('.')[-1]}")
        encoded = item["array"]
        got[output] = np.array(encoded["values"], dtype=float).reshape(encoded["shape"])
    inputs["returned"] = got
    inputs["forward_out"] = got.get("forward.out")
    truth = layer.truth(inputs)
    rows = [_row(output, got[output], np.asarray(truth[output], dtype=float), layer, truth,
                 inputs) for output in layer.returns]
    for row in rows:
        row.note = truth.get(f"note.{row.name}", "")
    return LayerReport(function, text, rows, {"level": level,
                                              "description": DESCRIPTIONS[level]})


def _row(output: str, got: np.ndarray, expected: np.ndarray, layer: LayerFunction,
         truth: dict, inputs: dict) -> OutputRow:
    got, exact, close, diff = compared(got, expected)
    mistake = None
    if not close:
        for m in layer.mistakes:
            if m.output != output:
                continue
            with np.errstate(all="ignore"):
                theirs = np.asarray(m.compute(truth, inputs), dtype=float)
            if compared(got, theirs)[2]:
                mistake = m
                break
    return OutputRow(output, tuple(got.shape), tuple(expected.shape), exact, close, diff,
                     mistake)


def _encoded(value: Any) -> dict[str, Any]:
    """An argument as the runner decodes it: an array, a dict of them (conv_param), or a
    plain int, float or str (a stride, a mode)."""
    if isinstance(value, dict):
        return {"dict": {key: _encoded(item) for key, item in value.items()}}
    if isinstance(value, (bool, int, float, str)):
        return {"scalar": value}
    array = np.asarray(value)
    return {"array": array.tolist(), "integer": array.dtype.kind in "iu"}
