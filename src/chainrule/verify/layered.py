"""``chainrule verify`` of a network of typed layers: the engine's step beside three
independent computations of it.

* **finite differences** of the loss, element by element, with the step's dropout masks
  replayed and batch norm in training mode (its batch statistics move with the perturbed
  input, as they must); a network with more than :data:`MAX_DIFFERENCED` parameter elements
  is checked on a seeded sample of them, every tensor represented, and the report says so;
* **the reference**: the textbook step in plain NumPy (:mod:`chainrule.verify.reference_layers`,
  loops over positions, no engine), every quantity compared: each layer's output and ∂E/∂ it,
  every gradient, the input's gradient, the running statistics after the step, the loss;
* **PyTorch**: the same network built of ``torch.nn`` layers (:mod:`chainrule.verify.torch_layers`),
  the same comparisons. It runs by default here, since sympy has no closed form of a
  convolutional network; a missing PyTorch is named and does not count as a disagreement.

The report is :class:`chainrule.verify.report.VerifyReport`, so text and JSON read as an MLP's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import engine
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ChainruleError, MissingDependency
from chainrule.explain.lens.layers import forward_layers, loss_head
from chainrule.explain.notation import element_key
from chainrule.nn.losses import output_loss
from chainrule.spec.layered import module_path
from chainrule.verify.report import TOLERANCES, ElementRow, VerifyReport, _agrees

MAX_DIFFERENCED = 2_000  # parameter elements checked by finite differences (a sample beyond)
SAMPLE_SEED = 0
FD_BUDGET = 160_000_000  # layer values computed by finite differences, about 15 s of them
FD_TOLERANCES = (1e-6, 1e-5, 1e-3)  # eps, atol, rtol: gradcheck's (verify/gradcheck.py)
SYMBOLIC_NOT_RUN = ("not run: sympy writes an MLP's loss in closed form; a network of typed "
                    "layers is checked by the other three")


class EngineStep:
    """The engine's training step of a layered spec: every quantity by the reference's names,
    the state before it, the dropout masks it drew, and the model to perturb."""

    def __init__(self, spec, command: str = "verify") -> None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._run(spec)
        self._check(command)

    def _check(self, command: str) -> None:
        """Stop at the step's first inf or NaN, named, before any method compares it."""
        from chainrule.explain.lens.layers import FINITE_HINTS, check_finite_statistics
        from chainrule.finite import NonFiniteError, element, first_non_finite, what_happened

        check_finite_statistics({k[len("buffers."):]: v for k, v in self.values.items()
                                 if k.startswith("buffers.")}, command=command)
        def forward(name: str) -> bool:  # the attention weights and a cell are forward values
            return name.startswith(("forward.", "loss")) or name.endswith((".weights", ".c"))

        ordered = sorted(self.values, key=lambda name: not forward(name))  # stable: in order
        for name in ordered:
            found = first_non_finite(self.values[name])
            if found is not None:
                index, bad = found
                phase = "forward pass" if forward(name) else "backward pass"
                raise NonFiniteError(f"{command}: {element(name, index)} {what_happened(bad)} "
                                     f"in the {phase} ({FINITE_HINTS[phase]})", quantity=name,
                                     index=index, value=bad)

    def _run(self, spec) -> None:
        self.spec = spec
        self.model = spec.build_model()
        self.model.train()
        self.params = dict(self.model.named_parameters())
        self.before = {name: p.data.copy() for name, p in self.params.items()}
        self.buffers = {name: np.array(b) for name, b in self.model.named_buffers()}
        x_all = spec.inputs if spec.batched else spec.inputs[None]
        self.targets = spec.targets if spec.batched else spec.targets[None]
        indices = spec.layers[0].type == "Embedding"  # token indices have no gradient
        self.x = Tensor(np.array(x_all, dtype=float), name="x", requires_grad=not indices)
        records: list = []
        self.masks: dict[str, np.ndarray] = {}
        final = forward_layers(self.model.modules, spec.layers, self.x, records, self.masks,
                               None)
        loss = output_loss(spec.loss, *loss_head(spec, records, final), self.targets)
        seen: list[engine.BackwardStep] = []
        engine.backward(loss, observer=seen.append)
        upstream = {id(s.tensor): s.upstream for s in seen}
        values: dict[str, np.ndarray] = {}
        for layer, _, _, output, _ in records:
            name = module_path(layer.path)
            values[f"forward.{name}"] = np.array(output.data)
            if id(output) in upstream:
                values[f"backward.{name}"] = np.array(upstream[id(output)])
        for layer, _, _, _, extra in records:
            if "record" in extra:
                values.update(inside(layer, extra["record"], upstream))
        values["loss"] = np.array(loss.data)
        if not indices:
            values["gradients.input"] = np.array(self.x.grad)
        for name, p in self.params.items():
            values[f"gradients.{name}"] = (p.grad.copy() if p.grad is not None
                                           else np.zeros_like(p.data))
        for name, b in self.model.named_buffers():
            if not name.endswith("num_batches_tracked"):
                values[f"buffers.{name}"] = np.array(b)
        self.values = values

    def loss(self) -> float:
        """The loss at the parameters' current values, the same masks, no graph."""
        with engine.no_grad(), np.errstate(all="ignore"):
            records: list = []
            final = forward_layers(self.model.modules, self.spec.layers,
                                   Tensor(np.array(self.x.data)), records, {}, self.masks)
            return float(output_loss(self.spec.loss, *loss_head(self.spec, records, final),
                                     self.targets).data)


def inside(layer, record: dict, upstream: dict) -> dict[str, np.ndarray]:
    """``inside.{layer}.{what}`` of a recurrent or attention layer, from its recorded steps:
    ``dh`` ∂E/∂h_t at every step (the direct and recurrent shares together; (N, L, H)),
    ``c`` and ``dc`` the LSTM's cell and ∂E/∂c_t, ``weights`` the attention weights A
    (N, heads, L, S), ``dscores`` ∂E/∂S and ``dv`` ∂E/∂V (N, heads, S, d). A recurrent
    layer's are of its last layer (the one its output is)."""
    def grad(tensor) -> np.ndarray:
        g = upstream.get(id(tensor))
        return np.zeros(tensor.shape) if g is None else np.asarray(g)

    name = module_path(layer.path)
    if layer.type == "MultiheadAttention":
        return {f"inside.{name}.weights": np.array(record["weights"].data),
                f"inside.{name}.dscores": grad(record["logits"]),
                f"inside.{name}.dv": grad(record["v"])}
    last = -1
    out = {f"inside.{name}.dh": np.stack([grad(t) for t in record["h"][last]], axis=1)}
    if layer.type == "LSTM":
        out[f"inside.{name}.c"] = np.stack([np.array(t.data) for t in record["c"][last]], 1)
        out[f"inside.{name}.dc"] = np.stack([grad(t) for t in record["c"][last]], axis=1)
    return out


def verify_layered(spec, torch: bool = True) -> VerifyReport:
    """Check a layered spec's first step: finite differences, the NumPy reference and (unless
    ``torch`` is False) PyTorch."""
    from chainrule.explain.lens.layers import MAX_EXPLAINED_VALUES
    from chainrule.spec.layered import flat_layers
    from chainrule.verify.reference_layers import layered_step

    examples = len(spec.inputs) if spec.batched else 1
    size = examples * sum(int(np.prod(layer.shape)) for layer in flat_layers(spec.layers))
    if size > MAX_EXPLAINED_VALUES:
        raise ChainruleError(f"verify: {spec.name!r} has {size:,} layer values for its "
                             f"{examples} example(s); at most {MAX_EXPLAINED_VALUES:,}, as "
                             "explain (a smaller batch or network)")
    step = EngineStep(spec)
    methods: dict[str, str] = {}
    values: dict[str, dict[str, float]] = {m: {} for m in ("finite_differences", "reference",
                                                          "torch")}
    details: dict[str, Any] = {}
    fd_ok, kinks = _finite_differences(step, values["finite_differences"], details, methods)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        reference = layered_step(spec, step.before, step.buffers, step.masks)
    methods["reference"] = "ran (NumPy, the textbook backward pass of each layer)"
    details["reference_ok"] = _compared("reference", step.values, reference,
                                        values["reference"], details)
    methods["symbolic"] = SYMBOLIC_NOT_RUN
    if torch:
        try:
            from chainrule.verify.torch_layers import torch_layered_step

            theirs, version = torch_layered_step(spec, step.before, step.buffers, step.masks)
            methods["torch"] = f"ran (PyTorch {version}, torch.nn layers)"
            details["torch_ok"] = _compared("torch", step.values, theirs, values["torch"],
                                            details)
        except MissingDependency as missing:
            methods["torch"] = f"not run: {missing}"
    else:
        methods["torch"] = "not run: not asked for"
    rows = []
    for name in step.params:
        grad = step.values[f"gradients.{name}"]
        for index in np.ndindex(grad.shape):
            key = element_key(name, index)
            analytic = float(grad[index])
            found = {m: values[m][key] for m in values if key in values[m]}
            agrees = {m: (fd_ok[key] if m == "finite_differences" else _agrees(m, analytic, v,
                                                                               True))
                      for m, v in found.items() if np.isfinite(v)}
            rows.append(ElementRow(key, analytic, found, agrees, key in kinks))
    order = ("finite_differences", "reference", "symbolic", "torch")
    return VerifyReport(spec, rows, {m: methods[m] for m in order}, details)


def _finite_differences(step: EngineStep, values: dict[str, float], details: dict[str, Any],
                        methods: dict[str, str]) -> tuple[dict[str, bool], set[str]]:
    from chainrule.verify.gradcheck_numeric import check_element

    eps, atol, rtol = FD_TOLERANCES
    truncated = _truncated(step.spec)
    if truncated:
        methods["finite_differences"] = (
            f"not run: {truncated} backpropagates through a truncated number of steps, and "
            f"truncated BPTT's gradient is by design not the loss's derivative (the reference "
            f"and PyTorch truncate the same way and are compared)")
        details["finite_differences"] = {"summary": "not run: truncated BPTT"}
        return {}, set()
    untrained = _untrained(step.spec)
    # each element costs two to four forward passes: fewer of them in a larger network
    cost = sum(int(np.prod(np.shape(v))) for k, v in step.values.items()
               if k.startswith("forward."))
    chosen = sample(step.params, min(MAX_DIFFERENCED, max(50, FD_BUDGET // max(cost, 1))),
                    SAMPLE_SEED)
    base = step.loss()
    fd_ok, kinks = {}, set()
    total = sum(p.data.size for p in step.params.values())
    for name, indices in chosen.items():
        p = step.params[name]
        p.data[...] = step.before[name]
        grad = step.values[f"gradients.{name}"]
        for index in indices:
            if (name, index[0]) in untrained:
                continue  # a padding row: no gradient by design, a derivative all the same
            row = check_element(step.loss, base, name, p.data, index, float(grad[index]),
                                eps, atol, rtol)
            values[row.label] = row.numeric
            fd_ok[row.label] = row.status != "fail"
            if row.status == "kink":
                kinks.add(row.label)
    checked = len(fd_ok)
    sampled = sum(len(i) for i in chosen.values())
    which = "every element" if sampled == total else \
        f"{checked:,} of {total:,} elements, a seeded sample (seed {SAMPLE_SEED})"
    if untrained:
        rows = ", ".join(f"{name}[{row}]" for name, row in sorted(untrained))
        which += (f" but the padding row {rows}, which padding_idx keeps untrained "
                  f"(gradient 0, as PyTorch)")
    methods["finite_differences"] = f"ran (central differences, {which})"
    failed = [k for k, ok in fd_ok.items() if not ok]
    details["finite_differences"] = {
        "summary": f"{checked - len(failed)} of {checked} elements agree, {len(kinks)} at a "
                   "kink", "eps": eps, "atol": atol, "rtol": rtol, "checked": checked,
        "elements": total}
    return fd_ok, kinks


def _truncated(spec) -> str:
    """The first recurrent layer whose truncation cuts its sequence, described, or ''."""
    from chainrule.spec.layered import flat_layers

    for layer in flat_layers(spec.layers):
        k = layer.options.get("truncate") if layer.type in ("RNN", "LSTM", "GRU") else None
        if k and k < layer.in_shape[0]:
            return f"layer {module_path(layer.path)} ({layer.type}, truncate {k})"
    return ""


def _untrained(spec) -> set[tuple[str, int]]:
    """(parameter, row) of an Embedding's padding row."""
    first = spec.layers[0]
    if first.type != "Embedding" or first.options["padding_idx"] is None:
        return set()
    o = first.options
    return {(f"{module_path(first.path)}.weight", o["padding_idx"] % o["num_embeddings"])}


def sample(params: dict[str, Any], limit: int, seed: int) -> dict[str, list[tuple[int, ...]]]:
    """The elements finite differences check: all of them up to ``limit``; beyond, each
    tensor's share of ``limit`` (at least one element), drawn without replacement."""
    total = sum(p.data.size for p in params.values())
    rng = np.random.default_rng(seed)
    out = {}
    for name, p in params.items():
        every = list(np.ndindex(p.data.shape))
        if total <= limit:
            out[name] = every
            continue
        share = max(1, int(limit * p.data.size / total))
        picked = np.sort(rng.choice(len(every), size=min(share, len(every)), replace=False))
        out[name] = [every[i] for i in picked]
    return out


def _compared(method: str, ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray],
              values: dict[str, float], details: dict[str, Any]) -> bool:
    """Every quantity both computed, compared whole; their gradients by element into
    ``values``. A quantity one has and the other lacks is a disagreement."""
    from chainrule.verify.torch_check import compare

    atol, rtol = TOLERANCES[method]
    comparisons, missing = [], []
    for name, mine in ours.items():
        if name not in theirs:
            if not (name.startswith("inside.") and method == "torch"):  # PyTorch's are hidden
                missing.append(name)
            continue
        comparisons.append(compare(name, mine, theirs[name], rtol, atol))
        if name.startswith("gradients.") and name != "gradients.input" \
                and np.shape(theirs[name]) == np.shape(mine):
            grad = np.asarray(theirs[name], dtype=float)
            for index in np.ndindex(grad.shape):
                values[element_key(name.split(".", 1)[1], index)] = float(grad[index])
    failures = [c.detail(TITLE[method]) for c in comparisons if not c.ok]
    failures += [f"{name}: computed by chainrule, not by {TITLE[method]}" for name in missing]
    details[method] = {"summary": f"{len(comparisons) + len(missing) - len(failures)} of "
                                  f"{len(comparisons) + len(missing)} quantities agree",
                       "failures": failures}
    return not failures


TITLE = {"reference": "reference", "torch": "PyTorch"}
