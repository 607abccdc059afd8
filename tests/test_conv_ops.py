"""The convolutional primitives (chainrule.autodiff.ops_conv, ops_pool, ops_norm) against what they are defined as:
CS231n's published test cases, a loop-by-loop convolution written here independently of the
im2col one, PyTorch's tie rule for max pooling, and one-line errors for shapes that cannot
be convolved. (Every primitive is also checked against central differences and against PyTorch
on random shapes, strides and paddings: tests/test_ops.py, tests/test_ops_against_torch.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.autodiff.ops import PRIMITIVES
from chainrule.errors import ShapeError

CONV, MAX_POOL, AVG_POOL = PRIMITIVES["conv"], PRIMITIVES["max_pool"], PRIMITIVES["avg_pool"]


def test_cs231n_conv_forward_naive_case():
    # assignment 2, ConvolutionalNetworks: conv_forward_naive's check, stride 2, pad 1
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    out = CONV.forward(x, w, stride=2, padding=1) + b[None, :, None, None]
    correct = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                         [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                         [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                        [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                         [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                         [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    np.testing.assert_allclose(out, correct, atol=5e-9)


def test_cs231n_max_pool_forward_naive_case():
    x = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    correct = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                         [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                         [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                        [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                         [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                         [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
    np.testing.assert_allclose(MAX_POOL.forward(x, kernel_size=2, stride=2), correct,
                               atol=5e-9)


def naive_conv(x, w, stride, padding, dilation, groups):
    """The definition, one output element at a time (2-D)."""
    n, c_in, height, width = x.shape
    c_out, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    oh = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c_out, oh, ow))
    for b in range(n):
        for o in range(c_out):
            group = o // (c_out // groups)
            for i in range(oh):
                for j in range(ow):
                    for c in range(per_group):
                        for p in range(kh):
                            for q in range(kw):
                                out[b, o, i, j] += w[o, c, p, q] * xp[
                                    b, group * per_group + c, i * sh + p * dh, j * sw + q * dw]
    return out


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 1), 1), ((1, 2), (1, 0), (2, 1), 2),
    ((3, 2), (2, 1), (1, 2), 2)])
def test_conv_and_its_gradients_are_the_loops_of_the_definition(stride, padding, dilation,
                                                                groups):
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 4, 7, 6)), rng.normal(size=(6, 4 // groups, 3, 2))
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out = CONV.forward(x, w, **params)
    np.testing.assert_allclose(out, naive_conv(x, w, stride, padding, dilation, groups),
                               rtol=1e-12, atol=1e-12)
    # the gradients of (out · G).sum() for a random G, from the definition being linear:
    # ∂/∂x[i] is the loop convolution of the unit input e_i, dotted with G
    cotangent = rng.normal(size=out.shape)
    dx, dw = CONV.vjp_all(cotangent, out, (True, True), x, w, **params)
    assert dx.shape == x.shape and dw.shape == w.shape
    for index in [(0, 0, 0, 0), (1, 3, 6, 5), (0, 2, 3, 1), (1, 1, 4, 2)]:
        unit = np.zeros_like(x)
        unit[index] = 1.0
        expected = np.sum(naive_conv(unit, w, stride, padding, dilation, groups) * cotangent)
        assert dx[index] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    for index in [(0, 0, 0, 0), (5, 1, 2, 1), (3, 0, 1, 0)]:
        unit = np.zeros_like(w)
        unit[index] = 1.0
        expected = np.sum(naive_conv(x, unit, stride, padding, dilation, groups) * cotangent)
        assert dw[index] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_a_window_of_tied_maxima_sends_the_gradient_to_the_first_as_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [0.0, 2.0, 2.0]]]])
    g = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    out = MAX_POOL.forward(x, kernel_size=2, stride=1)
    (dx,) = MAX_POOL.vjp_all(g, out, (True,), x, kernel_size=2, stride=1)
    twin = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(twin, 2, 1).backward(torch.tensor(g))
    np.testing.assert_array_equal(dx, twin.grad.numpy())
    # the first window's four tied 1s: all of g to its top-left; overlapping windows add
    assert dx[0, 0, 0, 0] == 1.0 and dx[0, 0, 1, 2] == 10.0 + 1000.0


def test_avg_pool_counts_the_padding_as_torch_does():
    x = np.ones((1, 1, 2, 2))
    out = AVG_POOL.forward(x, kernel_size=2, stride=1, padding=1)
    # the corner window holds one input and three zeros of padding: 1/4
    assert out[0, 0, 0, 0] == 0.25 and out[0, 0, 1, 1] == 1.0


@pytest.mark.parametrize("call, message", [
    (lambda: CONV.forward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))),
     r"conv2d: the kernel is 3 but the padded input is 2 \(size 2, padding 0\)"),
    (lambda: CONV.forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), dilation=4),
     r"conv2d: the kernel spans 5 \(dilated\) but the padded input is 4"),
    (lambda: CONV.forward(np.ones((1, 3, 4, 4)), np.ones((2, 2, 3, 3))),
     r"conv2d: the input has 3 channels and the weight \(2, 2, 3, 3\) expects 2 × 1 group"),
    (lambda: CONV.forward(np.ones((1, 4, 4, 4)), np.ones((3, 2, 3, 3)), groups=2),
     r"C_out 3 must divide by the groups"),
    (lambda: CONV.forward(np.ones((4, 4)), np.ones((1, 1, 2, 2))),
     r"conv: expected an input \(N, C, L\) or \(N, C, H, W\), got shape \(4, 4\)"),
    (lambda: CONV.forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2))),
     r"conv2d: expected a weight \(C_out, C_in/groups, k, k\), got shape \(1, 1, 2\)"),
    (lambda: CONV.forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=0),
     r"conv2d: stride must be an integer ≥ 1 or 2 of them, got 0"),
    (lambda: MAX_POOL.forward(np.ones((1, 1, 4, 4)), kernel_size=2, padding=2),
     r"max_pool2d: padding \(2, 2\) must be at most half the kernel \(2, 2\)"),
    (lambda: PRIMITIVES["batch_norm"].forward(np.ones((1, 2)), np.ones(2), np.zeros(2)),
     r"batch_norm: expected more than one value per channel in training mode"),
    (lambda: PRIMITIVES["batch_norm"].forward(np.ones((3, 2)), np.ones(3), np.zeros(2)),
     r"batch_norm: expected weight of shape \(2,\) for 2 channels, got \(3,\)"),
    (lambda: PRIMITIVES["dropout"].forward(np.ones((3, 2)), np.ones((2,)), p=0.5),
     r"dropout: expected a mask of the input's shape \(3, 2\), got \(2,\)"),
])
def test_shapes_that_cannot_be_convolved_are_one_line(call, message):
    with pytest.raises(ShapeError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_dropout_with_p_one_drops_everything():
    x, mask = np.ones((2, 2)), np.ones((2, 2))
    assert not PRIMITIVES["dropout"].forward(x, mask, p=1.0).any()


@pytest.mark.parametrize("values, kernel, stride, padding", [
    ([1.0, np.nan, 0.5, 2.0], 4, 4, 0),  # a NaN wins, as in PyTorch
    ([1.0, np.nan, np.nan, 0.5, 2.0], 5, 5, 0),  # and of two NaNs, the last
    ([-np.inf, -np.inf, -np.inf], 2, 2, 1),  # all −∞: the first real input, not the padding
    ([-3.0, -1.0, -2.0, -5.0, -4.0], 3, 2, 1),  # negative borders beside the padding
])
def test_max_pool_takes_the_maximum_as_torch_does_with_nan_and_infinities(values, kernel,
                                                                          stride, padding):
    torch = pytest.importorskip("torch")
    x = np.array([[values]])
    out = MAX_POOL.forward(x, kernel_size=kernel, stride=stride, padding=padding)
    g = np.arange(1.0, out.size + 1).reshape(out.shape)
    (dx,) = MAX_POOL.vjp_all(g, out, (True,), x, kernel_size=kernel, stride=stride,
                             padding=padding)
    twin = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.max_pool1d(twin, kernel, stride, padding)
    expected.backward(torch.tensor(g))
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_array_equal(dx, twin.grad.numpy())
