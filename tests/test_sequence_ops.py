"""The sequence primitives' conventions beyond calculus, against PyTorch: an embedding's
repeated index accumulates, its padding row is not trained; layer norm over one or more
trailing axes; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ShapeError

EMBEDDING, LAYER_NORM = cr.PRIMITIVES["embedding"], cr.PRIMITIVES["layer_norm"]


def test_a_repeated_index_accumulates_its_rows_gradient():
    table = np.arange(8.0).reshape(4, 2)
    index = np.array([[1, 3, 1], [1, 0, 3]])
    g = np.arange(12.0).reshape(2, 3, 2) + 1
    out = EMBEDDING.forward(table, index=index)
    np.testing.assert_array_equal(out[0, 0], table[1])
    (grad,) = EMBEDDING.vjp_all(g, out, (True,), table, index=index)
    np.testing.assert_array_equal(grad[1], g[0, 0] + g[0, 2] + g[1, 0])  # three uses
    np.testing.assert_array_equal(grad[2], [0.0, 0.0])  # never used
    np.testing.assert_array_equal(grad[3], g[0, 1] + g[1, 2])


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_against_torch_with_a_padding_row(padding_idx):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    table, index = rng.normal(size=(5, 3)), np.array([[0, 3, 3, 4], [1, 0, 4, 2]])
    g = rng.normal(size=(2, 4, 3))
    out = EMBEDDING.forward(table, index=index, padding_idx=padding_idx)
    (grad,) = EMBEDDING.vjp_all(g, out, (True,), table, index=index, padding_idx=padding_idx)
    twin = torch.tensor(table, requires_grad=True)
    expected = torch.nn.functional.embedding(torch.tensor(index), twin, padding_idx=padding_idx)
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(grad, twin.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, ndim", [((4, 3), 1), ((2, 5, 4), 1), ((2, 5, 4), 2),
                                         ((3, 2, 2, 3), 3)])
def test_layer_norm_against_torch_with_a_random_cotangent(shape, ndim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    normalised = shape[len(shape) - ndim:]
    weight, bias = rng.normal(size=normalised), rng.normal(size=normalised)
    g = rng.normal(size=shape)
    out = LAYER_NORM.forward(x, weight, bias, ndim=ndim, eps=1e-5)
    grads = LAYER_NORM.vjp_all(g, out, (True, True, True), x, weight, bias, ndim=ndim, eps=1e-5)
    twins = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    expected = torch.nn.functional.layer_norm(twins[0], normalised, twins[1], twins[2], 1e-5)
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, twin in zip(grads, twins):
        np.testing.assert_allclose(mine, twin.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: EMBEDDING.forward(np.zeros((3, 2)), index=np.array([0, 3])),
     r"^embedding: indices must be in 0 to 2 \(the table's rows\), got 0 to 3$"),
    (lambda: EMBEDDING.forward(np.zeros((3, 2)), index=np.array([0.0, 1.0])),
     r"^embedding: indices must be integers, got dtype float64$"),
    (lambda: EMBEDDING.forward(np.zeros(3), index=np.array([0])),
     r"^embedding: expected a table \(num_embeddings, embedding_dim\), got shape \(3,\)$"),
    (lambda: LAYER_NORM.forward(np.zeros((2, 3)), np.ones(2), np.zeros(2), ndim=1),
     r"^layer_norm: expected weight of the normalised shape \(3,\), got \(2,\)$"),
    (lambda: LAYER_NORM.forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), ndim=3),
     r"^layer_norm: normalises the last 1 to 2 axes of an input of shape \(2, 3\), got 3$"),
])
def test_bad_calls_are_one_line(call, message):
    with pytest.raises(ShapeError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_the_modules_are_pytorchs_embedding_and_layer_norm():
    """Names, shapes and numbers: an embedding of tokens, layer-normalised over the feature
    axis, judged by a random cotangent against torch.nn's modules holding the same weights."""
    torch = pytest.importorskip("torch")
    tokens = np.array([[3, 1, 4, 1], [5, 9, 2, 6]])
    embed = cr.nn.Embedding(10, 4, padding_idx=1, generator=0)
    norm = cr.nn.LayerNorm(4)
    assert [(n, p.shape) for n, p in embed.named_parameters()] == [("weight", (10, 4))]
    assert [(n, p.shape) for n, p in norm.named_parameters()] == [("weight", (4,)),
                                                                  ("bias", (4,))]
    assert not embed.weight.data[1].any()  # the padding row starts at zero, as PyTorch's
    norm.weight.data[:] = [0.5, 1.0, 1.5, 2.0]
    norm.bias.data[:] = [0.1, -0.2, 0.3, 0.0]
    out = norm(embed(tokens))
    g = np.random.default_rng(2).normal(size=out.shape)
    (out * cr.Tensor(g, requires_grad=False)).sum().backward()

    t_embed = torch.nn.Embedding(10, 4, padding_idx=1).double()
    t_norm = torch.nn.LayerNorm(4).double()
    with torch.no_grad():
        t_embed.weight.copy_(torch.tensor(embed.weight.data))
        t_norm.weight.copy_(torch.tensor(norm.weight.data))
        t_norm.bias.copy_(torch.tensor(norm.bias.data))
    t_out = t_norm(t_embed(torch.tensor(tokens)))
    (t_out * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, theirs in ((embed.weight, t_embed.weight), (norm.weight, t_norm.weight),
                         (norm.bias, t_norm.bias)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert not embed.weight.grad[1].any() and not embed.weight.grad[0].any()  # 0 unused
    assert repr(embed) == "Embedding(10, 4, padding_idx=1)"


def test_module_errors_are_one_line():
    with pytest.raises(ShapeError, match=r"^Embedding: padding_idx must be a row"):
        cr.nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(ShapeError, match=r"^layer_norm: normalized_shape \[3\] is not the last "
                                          r"axes of an input of shape \(2, 4\)$"):
        cr.nn.LayerNorm(3)(np.zeros((2, 4)))
