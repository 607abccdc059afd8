"""Attention against PyTorch: scaled_dot_product_attention (boolean, float and causal masks,
a scale) and nn.MultiheadAttention (names, shapes, masks, batch_first), each with random
cotangents on the output and on the weights; central differences through the softmax."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.verify.gradcheck import gradcheck

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("mask, causal, scale", [
    (None, False, None), (np.array([[True, False, True, True]] * 3), False, None),
    (None, True, 0.3), (RNG.normal(size=(3, 4)), False, None)])
def test_scaled_dot_product_attention_against_torch(mask, causal, scale):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    length = 4 if causal else 3
    q, k, v = rng.normal(size=(2, length, 5)), rng.normal(size=(2, 4, 5)), \
        rng.normal(size=(2, 4, 3))
    tensors = [cr.Tensor(a) for a in (q, k, v)]
    out = cr.nn.scaled_dot_product_attention(*tensors, attn_mask=mask, is_causal=causal,
                                             scale=scale)
    g = rng.normal(size=out.shape)
    (out * cr.Tensor(g, requires_grad=False)).sum().backward()
    twins = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch.nn.functional.scaled_dot_product_attention(
        *twins, attn_mask=None if mask is None else torch.tensor(mask), is_causal=causal,
        scale=scale)
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, twin in zip(tensors, twins):
        np.testing.assert_allclose(mine.grad, twin.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_gradients_agree_with_central_differences():
    """∂Q, ∂K, ∂V through the softmax's full Jacobian (not its diagonal)."""
    rng = np.random.default_rng(1)
    q, k, v = (cr.Tensor(rng.normal(size=s)) for s in ((3, 2), (4, 2), (4, 2)))
    report = gradcheck(lambda q, k, v: cr.nn.scaled_dot_product_attention(q, k, v),
                       {"q": q, "k": k, "v": v})
    assert report.ok, report.summary()


@pytest.mark.parametrize("batch_first, causal, padded", [
    (False, False, False), (True, True, False), (False, False, True), (True, False, True)])
def test_multihead_attention_against_torch(batch_first, causal, padded):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    mha = cr.nn.MultiheadAttention(4, 2, batch_first=batch_first, generator=0)
    mha.in_proj_bias.data[:] = rng.normal(size=12)
    mha.out_proj.bias.data[:] = rng.normal(size=4)
    assert [(n, p.shape) for n, p in mha.named_parameters()] == [
        ("in_proj_weight", (12, 4)), ("in_proj_bias", (12,)), ("out_proj.weight", (4, 4)),
        ("out_proj.bias", (4,))]
    query = rng.normal(size=(2, 3, 4) if batch_first else (3, 2, 4))
    memory = query if causal else rng.normal(size=(2, 5, 4) if batch_first else (5, 2, 4))
    source = memory.shape[1] if batch_first else memory.shape[0]
    pad = np.array([[False] * (source - 2) + [True, False], [False] * source]) if padded \
        else None
    blocked = ~np.tril(np.ones((3, 3), dtype=bool)) if causal else None
    x, m = cr.Tensor(query), cr.Tensor(memory)
    out, weights = mha(x, m, m, key_padding_mask=pad, attn_mask=blocked, is_causal=causal)
    g_out, g_w = rng.normal(size=out.shape), rng.normal(size=weights.shape)
    ((out * cr.Tensor(g_out, requires_grad=False)).sum()
     + (weights * cr.Tensor(g_w, requires_grad=False)).sum()).backward()

    twin = torch.nn.MultiheadAttention(4, 2, batch_first=batch_first).double()
    params = dict(mha.named_parameters())
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.tensor(params[name].data))
    tx, tm = torch.tensor(query, requires_grad=True), torch.tensor(memory)
    t_out, t_w = twin(tx, tm, tm, key_padding_mask=None if pad is None else torch.tensor(pad),
                      attn_mask=None if blocked is None else torch.tensor(blocked),
                      is_causal=causal)
    ((t_out * torch.tensor(g_out)).sum() + (t_w * torch.tensor(g_w)).sum()).backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weights.data, t_w.detach().numpy(), rtol=1e-12, atol=1e-12)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(params[name].grad, p.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    if causal:  # the query is the key and value too: its gradient has all three paths
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_errors_are_one_line():
    with pytest.raises(ShapeError, match="^MultiheadAttention: embed_dim 5 must be a positive "
                                         "multiple of num_heads 2$"):
        cr.nn.MultiheadAttention(5, 2)
    with pytest.raises(ShapeError, match=r"^MultiheadAttention: query has 3 features, "
                                         r"embed_dim is 4$"):
        cr.nn.MultiheadAttention(4, 2)(np.zeros((2, 1, 3)))
    with pytest.raises(ShapeError, match=r"^scaled_dot_product_attention: a mask of shape "
                                         r"\(2, 2\) does not broadcast"):
        cr.nn.scaled_dot_product_attention(np.zeros((3, 2)), np.zeros((4, 2)),
                                           np.zeros((4, 2)), attn_mask=np.ones((2, 2), bool))


@pytest.mark.parametrize("norm_first, batch_first, causal", [
    (True, False, False), (True, True, True), (False, True, False)])
def test_the_encoder_block_is_pytorchs(norm_first, batch_first, causal):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    block = cr.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, batch_first=batch_first,
                                          norm_first=norm_first, generator=3)
    params = dict(block.named_parameters())
    for name in ("norm1.weight", "norm2.weight", "norm1.bias", "norm2.bias",
                 "self_attn.in_proj_bias"):
        params[name].data[:] = rng.normal(size=params[name].shape)
    twin = torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0,
                                            batch_first=batch_first,
                                            norm_first=norm_first).double()
    assert sorted(params) == sorted(n for n, _ in twin.named_parameters())
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.tensor(params[name].data))
    x = rng.normal(size=(2, 3, 4) if batch_first else (3, 2, 4))
    mask = ~np.tril(np.ones((3, 3), dtype=bool)) if causal else None
    cx = cr.Tensor(x)
    out = block(cx, src_mask=mask, is_causal=causal)
    g = rng.normal(size=out.shape)
    (out * cr.Tensor(g, requires_grad=False)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    t_out = twin(tx, src_mask=None if mask is None else torch.tensor(mask), is_causal=causal)
    (t_out * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(params[name].grad, p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_sinusoidal_positions_are_the_papers():
    pe = cr.nn.sinusoidal_positions(5, 6)
    assert pe.shape == (5, 6)
    np.testing.assert_array_equal(pe[0], [0, 1, 0, 1, 0, 1])
    p, i = 3, 1  # PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...)
    assert pe[p, 2 * i] == pytest.approx(np.sin(p / 10000 ** (2 * i / 6)), rel=1e-15)
    assert pe[p, 2 * i + 1] == pytest.approx(np.cos(p / 10000 ** (2 * i / 6)), rel=1e-15)
    assert cr.nn.sinusoidal_positions(2, 5).shape == (2, 5)  # an odd width
