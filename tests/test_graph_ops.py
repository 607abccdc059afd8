"""Every differentiable primitive of the table, explained: ``(op(x, …) * W).sum()`` with W
fixed and random, on the random inputs of tests/op_cases.py, and every node's value and
gradient — the inputs, the op's output, the product, the sum — against PyTorch autograd."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.autodiff.tensor import apply
from tests.op_cases import CASES, DIFFERENTIABLE

torch = pytest.importorskip("torch")
from tests.test_ops_against_torch import TORCH  # noqa: E402

TOLERANCE = dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_every_primitive_explained_matches_torch(name, data):
    inputs, params = CASES[name](data.draw)
    tensors = [cr.Tensor(x, f"x{i}") for i, x in enumerate(inputs)]
    out = apply(cr.PRIMITIVES[name], *tensors, **params)
    out.name = "out"
    weights = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).normal(
        size=out.shape)
    product = out * weights
    product.name = "product"
    total = product.sum()
    total.name = "total"
    trace = cr.explain_graph(total)

    twins = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    twin_out = TORCH[name](*twins, **params)
    twin_out.retain_grad()
    twin_product = twin_out * torch.tensor(weights)
    twin_product.retain_grad()
    twin_total = twin_product.sum()
    twin_total.backward()

    pairs = [(f"x{i}", t) for i, t in enumerate(twins)]
    pairs += [("out", twin_out), ("product", twin_product), ("total", twin_total)]
    for node_name, twin in pairs:
        node = trace[node_name]
        np.testing.assert_allclose(node.value, twin.detach().numpy(), **TOLERANCE,
                                   err_msg=f"{name}: value of {node_name}")
        expected = (np.ones(()) if twin is twin_total else
                    np.zeros(twin.shape) if twin.grad is None else twin.grad.numpy())
        np.testing.assert_allclose(node.grad, expected, **TOLERANCE,
                                   err_msg=f"{name}: gradient of {node_name}, {params}")
    assert trace["c1"].kind == "constant"
    np.testing.assert_array_equal(trace["c1"].value, weights)
    for node in trace.nodes:
        for local in node.local:  # the table's derivative, bound to the node's names
            assert local.kind == ("derivative" if node.scalar and trace[local.input].scalar
                                  else "vjp")
            text = local.text(4)
            assert text.startswith(f"∂{node.name}/∂{local.input} = ")
            assert "\n" not in text
