"""chainrule against PyTorch autograd, number for number (float64 unless said otherwise).

Every network here is built twice from the same NumPy arrays — once as a ``cr.nn.MLP``, once
as a hand-written PyTorch twin computing ``z = a @ W + b`` — and every forward value, the
loss, every parameter gradient and every ∂loss/∂z must agree to float64 rounding.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import chainrule as cr  # noqa: E402

torch.set_num_threads(1)
F64 = torch.float64
TIGHT = dict(rtol=1e-10, atol=1e-12)  # gradients
EXACTISH = dict(rtol=1e-12, atol=1e-14)  # forward values

TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "softmax": lambda z: torch.softmax(z, -1),
    "identity": lambda z: z,
}


def close(actual, expected, **tolerance):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    np.testing.assert_allclose(np.asarray(actual), expected, **{**TIGHT, **tolerance})


# --- 1. MLPs ------------------------------------------------------------------------------


class Case(NamedTuple):
    layers: list[int]
    activations: list[str]
    loss: str
    target: str  # real | prob | onehot | index
    seed: int
    direct: bool = False  # call the loss on the output itself rather than through output_loss
    bias_mode: str = "per_unit"

    @property
    def id(self) -> str:
        how = "-direct" if self.direct else ""
        bias = "" if self.bias_mode == "per_unit" else f"|bias={self.bias_mode}"
        return (f"{'-'.join(map(str, self.layers))}|{'+'.join(self.activations)}"
                f"|{self.loss}-{self.target}{how}{bias}")


CASES = [
    Case([3, 4, 2], ["sigmoid"] * 2, "sse", "real", 1),
    Case([3, 4, 2], ["tanh"] * 2, "half_sse", "real", 2),
    Case([2, 5, 4, 3], ["relu", "relu", "identity"], "mse", "real", 3),
    Case([2, 5, 4, 3], ["leaky_relu"] * 3, "sse", "real", 4),
    Case([4, 3, 3, 3, 2], ["softmax"] * 4, "half_sse", "real", 5),
    Case([3, 4, 2], ["identity"] * 2, "mse", "real", 6),
    Case([4, 3, 3, 3, 2], ["sigmoid"] * 4, "bce", "prob", 7),
    Case([3, 4, 2], ["tanh", "sigmoid"], "bce", "prob", 8, direct=True),
    Case([2, 5, 4, 3], ["tanh", "relu", "softmax"], "cross_entropy", "onehot", 9),
    Case([4, 3, 3, 3, 2], ["leaky_relu", "tanh", "sigmoid", "softmax"], "cross_entropy",
         "index", 10),
    Case([3, 4, 2], ["relu", "identity"], "cross_entropy", "index", 11),
    Case([2, 5, 4, 3], ["sigmoid", "leaky_relu", "identity"], "cross_entropy", "onehot", 12,
         direct=True),
    Case([2, 5, 4, 3], ["tanh", "sigmoid", "tanh"], "cross_entropy", "onehot", 13),
    Case([3, 4, 2], ["tanh", "sigmoid"], "sse", "real", 14, bias_mode="shared_per_layer"),
    Case([2, 5, 4, 3], ["relu", "tanh", "softmax"], "cross_entropy", "index", 15,
         bias_mode="none"),
]


def random_network(case: Case, rng: np.random.Generator):
    weights = [rng.normal(0.0, 0.9, size=(n, m)) for n, m in zip(case.layers, case.layers[1:])]
    if case.bias_mode == "none":
        return weights, None
    shared = case.bias_mode == "shared_per_layer"
    return weights, [rng.normal(0.0, 0.5, size=1 if shared else m) for m in case.layers[1:]]


def random_target(kind: str, out_shape: tuple[int, ...], rng: np.random.Generator):
    classes = out_shape[-1]
    if kind == "real":
        return rng.normal(size=out_shape), None
    if kind == "prob":
        return rng.uniform(0.05, 0.95, size=out_shape), None
    labels = np.asarray(rng.integers(classes, size=out_shape[:-1]))
    if kind == "index":
        return labels, torch.tensor(labels, dtype=torch.long)
    return np.eye(classes)[labels], None


def torch_twin(weights, biases, activations, x, dtype=F64):
    """The same network in PyTorch: z = a @ W + b. Returns ({name: leaf}, [(z, a), ...])."""
    params, steps = {}, []
    a = torch.tensor(x, dtype=dtype)
    for i, (act, W) in enumerate(zip(activations, weights), 1):
        params[f"W{i}"] = torch.tensor(W, dtype=dtype, requires_grad=True)
        z = a @ params[f"W{i}"]
        if biases is not None:
            params[f"b{i}"] = torch.tensor(biases[i - 1], dtype=dtype, requires_grad=True)
            z = z + params[f"b{i}"]
        z.retain_grad()
        a = TORCH_ACTIVATIONS[act](z)
        steps.append((z, a))
    return params, steps


def torch_loss(name: str, z, a, act: str | None, target):
    """Each documented formula, written independently with PyTorch's own loss functions."""
    if name == "cross_entropy":  # softmax + cross_entropy means: from the logits z
        return F.cross_entropy(z if act == "softmax" else a, target)
    if name == "bce":
        per_unit = (F.binary_cross_entropy_with_logits(z, target, reduction="none")
                    if act == "sigmoid" else F.binary_cross_entropy(a, target, reduction="none"))
        return per_unit.mean(-1).mean()
    squares = (a - target) ** 2
    per_example = {"sse": squares.sum(-1), "half_sse": 0.5 * squares.sum(-1),
                   "mse": squares.mean(-1)}[name]
    return per_example.mean()


def run_both(case: Case, batch: int | None, dtype=None):
    """Forward and backward in chainrule and in the torch twin, on the same numbers."""
    rng = np.random.default_rng(case.seed)
    weights, biases = random_network(case, rng)
    x = rng.normal(size=(case.layers[0],) if batch is None else (batch, case.layers[0]))
    out_shape = x.shape[:-1] + (case.layers[-1],)
    target, torch_target = random_target(case.target, out_shape, rng)
    tdtype = torch.float32 if dtype == "float32" else F64
    if torch_target is None:
        torch_target = torch.tensor(target, dtype=tdtype)

    model = cr.nn.MLP(case.layers, list(case.activations), weights=weights, biases=biases,
                      bias_mode=case.bias_mode, dtype=dtype)
    steps = model.forward_steps(x)
    for step in steps:
        step.z.retain_grad()
    last = case.activations[-1]
    if case.direct:
        loss = getattr(cr.nn, case.loss)(steps[-1].a, target)
    else:
        loss = cr.nn.output_loss(case.loss, steps[-1].z, steps[-1].a, last, target)
    loss.backward()

    params, torch_steps = torch_twin(weights, biases, case.activations, x, tdtype)
    torch_l = torch_loss(case.loss, *torch_steps[-1], None if case.direct else last,
                         torch_target)
    torch_l.backward()
    return model, steps, loss, params, torch_steps, torch_l


@pytest.mark.parametrize("batch", [None, 5], ids=["single", "batch5"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mlp_matches_torch(case: Case, batch):
    model, steps, loss, params, torch_steps, torch_l = run_both(case, batch)

    close(loss.item(), torch_l.item(), **EXACTISH)
    for index, (step, (z, a)) in enumerate(zip(steps, torch_steps), 1):
        assert step.z.shape == tuple(z.shape), f"z{index}"
        close(step.z.data, z, **EXACTISH)
        close(step.a.data, a, **EXACTISH)
        close(step.z.grad, z.grad, err_msg=f"dL/dz{index}", **TIGHT)
    names = [name for name, _ in model.named_parameters()]
    assert names == list(params)
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == tuple(params[name].shape), name
        close(p.grad, params[name].grad, err_msg=name, **TIGHT)


# --- 6. float32 -----------------------------------------------------------------------------

FLOAT32_CASES = [
    Case([3, 4, 2], ["tanh"] * 2, "mse", "real", 21),
    Case([2, 5, 4, 3], ["relu", "leaky_relu", "softmax"], "cross_entropy", "index", 22),
    Case([4, 3, 2], ["sigmoid", "sigmoid"], "bce", "prob", 23),
]


@pytest.mark.parametrize("case", FLOAT32_CASES, ids=[c.id for c in FLOAT32_CASES])
def test_float32_mlp_stays_float32_and_matches_torch(case: Case):
    model, steps, loss, params, torch_steps, torch_l = run_both(case, 4, dtype="float32")
    loose = dict(rtol=1e-5, atol=1e-6)
    assert loss.dtype == np.float32
    close(loss.item(), torch_l.item(), **loose)
    for step, (z, a) in zip(steps, torch_steps):
        assert step.z.dtype == step.a.dtype == step.z.grad.dtype == np.float32
        close(step.z.data, z, **loose)
        close(step.a.data, a, **loose)
    for name, p in model.named_parameters():
        assert p.dtype == p.grad.dtype == np.float32, name
        close(p.grad, params[name].grad, err_msg=name, **loose)


# --- 2. expressions -------------------------------------------------------------------------


def micrograd_expr(a, b):
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def test_micrograd_more_ops():
    a, b = cr.Tensor(-4.0), cr.Tensor(2.0)
    g = micrograd_expr(a, b)
    g.backward()
    ta, tb = (torch.tensor(v, dtype=F64, requires_grad=True) for v in (-4.0, 2.0))
    tg = micrograd_expr(ta, tb)
    tg.backward()
    close(g.item(), tg.item(), **EXACTISH)
    close(g.item(), 24.70408163265306, **EXACTISH)  # micrograd's own numbers
    close(a.grad, ta.grad, **TIGHT)
    close(b.grad, tb.grad, **TIGHT)


def vector_expr(x, y, M, s):
    """Many ops on small tensors; every line works unchanged on chainrule and torch."""
    permuted = s.permute(2, 0, 1) if isinstance(s, torch.Tensor) else s.transpose(2, 0, 1)
    u = x * y + y / x  # (3,1) with (4,): broadcasting; division by a tensor
    v = x ** y.sigmoid() + (2.0 ** y) / (1.0 + u * u)  # tensor exponent, rpow, rdiv
    h = (u.tanh() + v.log()) * u  # u reused
    q = h @ M  # (3,4) @ (4,3)
    r = q.softmax(-1) * q.log_softmax(0)
    k = r[[0, 0, 2]]  # repeated fancy index
    m = k.sum(0, True) + k.mean(1, True) - k[1:, ::2].mean() - r[0].sum(0, False)
    w = (y @ M) * (M @ x.reshape(3)).sum()  # 1-D matmuls both ways
    p = permuted.reshape(4, 6)
    out = (m.T @ m).exp().mean() + (w * w.sigmoid()).sum() + (p.T @ y).tanh().sum()
    out = out - 0.01 * u.exp().mean(0).sum() + (-(k * k).sum(1)).mean() / x.sum()
    return out * out


def test_vector_expression_matches_torch():
    rng = np.random.default_rng(7)
    values = {"x": rng.uniform(0.5, 1.5, size=(3, 1)), "y": rng.normal(size=4),
              "M": rng.normal(size=(4, 3)), "s": rng.normal(size=(2, 3, 4))}
    mine = {name: cr.Tensor(v) for name, v in values.items()}
    theirs = {name: torch.tensor(v, dtype=F64, requires_grad=True) for name, v in values.items()}
    out, torch_out = vector_expr(**mine), vector_expr(**theirs)
    out.backward()
    torch_out.backward()
    close(out.item(), torch_out.item(), **EXACTISH)
    for name in values:
        close(mine[name].grad, theirs[name].grad, err_msg=name, **TIGHT)


def test_shared_subexpression_reached_by_two_paths():
    # r = a + b with b = 3a: dr/da = 4. The smallest graph where a leaf is reached both
    # directly and through another node listed after it.
    a = cr.Tensor(2.0)
    (a + a * 3).backward()
    assert a.grad == 4.0


# --- 3. maximum -----------------------------------------------------------------------------


def test_maximum_matches_torch_including_ties():
    a_values = np.array([[1.0, 2.0, 3.0, -1.0], [0.5, -2.0, 4.0, 0.0]])
    b_values = np.array([[3.0, 2.0, 1.0, -1.0], [0.5, 1.0, -4.0, 0.0]])  # 4 ties
    upstream = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    a, b = cr.Tensor(a_values), cr.Tensor(b_values)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a_values, b_values))
    out, torch_out = cr.maximum(a, b), torch.maximum(ta, tb)
    out.backward(upstream)
    torch_out.backward(torch.tensor(upstream))
    close(out.data, torch_out, rtol=0, atol=0)
    close(a.grad, ta.grad, rtol=0, atol=0)
    close(b.grad, tb.grad, rtol=0, atol=0)
    assert a.grad[0, 1] == b.grad[0, 1] == 1.0  # the tie at upstream 2: half each

    # broadcasting (3,1) against (4,), with ties, and a Python number
    c, d = cr.Tensor([[0.0], [1.0], [2.0]]), cr.Tensor([1.0, 1.0, 3.0, -1.0])
    tc, td = torch.tensor(c.data, requires_grad=True), torch.tensor(d.data, requires_grad=True)
    (cr.maximum(c, d) * 2.0 + cr.maximum(d, 1.0)).sum().backward()
    (torch.maximum(tc, td) * 2.0 + torch.maximum(td, torch.tensor(1.0, dtype=F64))).sum() \
        .backward()
    close(c.grad, tc.grad, rtol=0, atol=0)
    close(d.grad, td.grad, rtol=0, atol=0)


# --- 4. stability ---------------------------------------------------------------------------

EXTREME = np.array([[-1e4, 0.0, 1e4], [1e4, -1e4, 0.0]])
UPSTREAM = np.array([[0.3, -1.2, 0.7], [2.0, 0.5, -0.4]])

STABLE_OPS = {
    "sigmoid": (lambda t: t.sigmoid(), torch.sigmoid),
    "softmax": (lambda t: t.softmax(-1), lambda t: t.softmax(-1)),
    "softmax-axis0": (lambda t: t.softmax(0), lambda t: t.softmax(0)),
    "log_softmax": (lambda t: t.log_softmax(-1), lambda t: t.log_softmax(-1)),
    "softplus": (lambda t: t.softplus(), F.softplus),
    "tanh": (lambda t: t.tanh(), torch.tanh),
}


@pytest.mark.parametrize("op", list(STABLE_OPS))
def test_extreme_inputs_stay_finite_and_match_torch(op):
    mine, theirs = STABLE_OPS[op]
    x, tx = cr.Tensor(EXTREME), torch.tensor(EXTREME, requires_grad=True)
    out, torch_out = mine(x), theirs(tx)
    out.backward(UPSTREAM)
    torch_out.backward(torch.tensor(UPSTREAM))
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad))
    close(out.data, torch_out, **EXACTISH)
    close(x.grad, tx.grad, **TIGHT)


@pytest.mark.parametrize("target", ["index", "onehot"])
def test_extreme_logits_losses_match_torch(target):
    labels = np.array([0, 1])  # the worst classes: logit −1e4 in each row
    t = labels if target == "index" else np.eye(3)[labels]
    tt = torch.tensor(t) if target == "onehot" else torch.tensor(labels, dtype=torch.long)
    z, tz = cr.Tensor(EXTREME), torch.tensor(EXTREME, requires_grad=True)
    loss, torch_l = cr.nn.cross_entropy(z, t), F.cross_entropy(tz, tt)
    loss.backward()
    torch_l.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad))
    close(loss.item(), torch_l.item(), **EXACTISH)
    close(z.grad, tz.grad, **TIGHT)


def test_extreme_logits_bce_matches_torch():
    probs = np.array([[0.0, 0.5, 1.0], [1.0, 0.0, 0.25]])
    z, tz = cr.Tensor(EXTREME), torch.tensor(EXTREME, requires_grad=True)
    loss = cr.nn.output_loss("bce", z, z.sigmoid(), "sigmoid", probs)
    torch_l = F.binary_cross_entropy_with_logits(tz, torch.tensor(probs))
    loss.backward()
    torch_l.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad))
    close(loss.item(), torch_l.item(), **EXACTISH)
    close(z.grad, tz.grad, **TIGHT)


# --- 5. SGD ---------------------------------------------------------------------------------

SGD_CONFIGS = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.1, momentum=0.9),
    "momentum+dampening": dict(lr=0.1, momentum=0.9, dampening=0.3),
    "nesterov": dict(lr=0.1, momentum=0.9, nesterov=True),
    "weight_decay": dict(lr=0.1, weight_decay=0.01),
    "momentum+weight_decay": dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.1),
    "nesterov+weight_decay": dict(lr=0.2, momentum=0.5, nesterov=True, weight_decay=0.05),
}


@pytest.mark.parametrize("config", list(SGD_CONFIGS))
def test_sgd_matches_torch_optim_sgd(config):
    rng = np.random.default_rng(42)
    start = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    grads = [[rng.normal(size=p.shape) for p in start] for _ in range(5)]
    mine = [cr.Tensor(p) for p in start]
    frozen = cr.nn.Parameter(np.ones(2), frozen=True)
    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    opt = cr.optim.SGD([*mine, frozen], **SGD_CONFIGS[config])
    torch_opt = torch.optim.SGD(theirs, **SGD_CONFIGS[config])

    for step_grads in grads:
        opt.zero_grad()
        torch_opt.zero_grad()
        for p, tp, g in zip(mine, theirs, step_grads):
            p.grad, tp.grad = g.copy(), torch.tensor(g)
        frozen.grad = np.full(2, 3.0)
        opt.step()
        torch_opt.step()
        for p, tp in zip(mine, theirs):
            close(p.data, tp, rtol=1e-12, atol=1e-12)
    assert np.array_equal(frozen.data, np.ones(2))  # frozen: skipped by step()
    assert not np.array_equal(mine[0].data, start[0])  # Tensor() copied the caller's array
