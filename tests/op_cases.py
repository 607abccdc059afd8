"""How to draw valid inputs for every primitive of the table, shared by the tests.

One case per primitive says how to draw its inputs (away from kinks, ties and poles) and its
parameters: ``CASES[name](draw) -> (inputs, params)``. tests/test_ops.py checks every vjp
against central differences with them, tests/test_ops_against_torch.py every primitive
against PyTorch. A primitive added to the table without a case here fails
``test_every_primitive_has_a_case``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOATS = st.floats(-2.0, 2.0, allow_nan=False, width=64)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def arrays(draw, shape, elements=FLOATS):
    return draw(hnp.arrays(np.float64, shape, elements=elements))


def away_from_zero(draw, shape, low=0.5, high=2.0):
    magnitude = arrays(draw, shape, st.floats(low, high))
    signs = arrays(draw, shape, st.sampled_from([-1.0, 1.0]))
    return magnitude * signs


def broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    return shapes.input_shapes


def binary(draw):
    first, second = broadcast_pair(draw)
    return [arrays(draw, first), arrays(draw, second)], {}


def unary(draw, elements=FLOATS):
    return [arrays(draw, draw(SHAPES), elements)], {}


def with_axis(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
    dims = max(x.ndim, 1)  # a 0-d tensor has the one axis 0 (or -1), as in PyTorch
    return [x], {"axis": draw(st.integers(-dims, dims - 1))}


def kinked(draw):
    # relu and leaky_relu: inputs at least 1e-3 from the kink, far beyond the step 1e-6
    return [away_from_zero(draw, draw(SHAPES), 1e-3, 2.0)], {}


def leaky(draw):
    x, _ = kinked(draw)
    return x, {"slope": draw(st.floats(0.0, 0.5))}


def division(draw):
    first, second = broadcast_pair(draw)
    return [arrays(draw, first), away_from_zero(draw, second)], {}


def power(draw):
    first, second = broadcast_pair(draw)
    return [arrays(draw, first, st.floats(0.5, 2.0)), arrays(draw, second)], {}


def maximum(draw):
    # x on a grid of quarters, y on the grid shifted by an eighth: never a tie (a kink)
    first, second = broadcast_pair(draw)
    x = arrays(draw, first, st.integers(-8, 8).map(lambda k: k / 4))
    y = arrays(draw, second, st.integers(-8, 8).map(lambda k: k / 4 + 1 / 8))
    return [x, y], {}


def matmul(draw):
    n, k, m, b = (draw(st.integers(1, 4)) for _ in range(4))
    left = draw(st.sampled_from([(n,), (k, n), (b, k, n)]))
    right = draw(st.sampled_from([(n,), (n, m), (b, n, m), (1, n, m)]))
    return [arrays(draw, left), arrays(draw, right)], {}


def summation(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
    return [x], {"axis": axes(draw, x.ndim), "keepdims": draw(st.booleans())}


def reshape(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    return [x], {"shape": (x.size,) if draw(st.booleans()) else (1, -1)}


def transpose(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    order = draw(st.permutations(range(x.ndim)))
    # negative axes too: (-1, 0) once came back with a transposed gradient (issue 11)
    signs = draw(st.lists(st.booleans(), min_size=x.ndim, max_size=x.ndim))
    axes = tuple(a - x.ndim if negative else a for a, negative in zip(order, signs))
    return [x], {"axes": draw(st.just(axes) | st.none())}


def getitem(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=4)))
    basic = draw(st.sampled_from([0, slice(None, None, 2), (Ellipsis, -1), slice(1, None)]))
    fancy = np.array(draw(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, max_size=5)))
    return [x], {"index": draw(st.sampled_from([basic, fancy]))}


def linear(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    x = arrays(draw, draw(st.sampled_from([(n,), (k, n), (2, k, n)])))
    bias = arrays(draw, draw(st.sampled_from([(m,), (1,), ()])))
    return [x, arrays(draw, (n, m)), bias], {}


def dense(draw):
    x, w, b = linear(draw)[0]
    activation = draw(st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu"]))
    if activation in ("relu", "leaky_relu"):  # z at least 1e-3 from the kink, as for relu
        assume(np.all(np.abs(x @ w + b) > 1e-3))
    params = {"activation": activation}
    if activation == "leaky_relu":
        params["slope"] = draw(st.floats(0.0, 0.5))
    return [x, w, b], params


def loss_pair(draw):
    shape = draw(st.sampled_from([(3,), (2, 3), (4, 1), (2, 2, 3)]))
    return arrays(draw, shape), arrays(draw, shape), draw(st.sampled_from(["mean", "sum", "none"]))


def squared_error(draw):
    y, t, reduction = loss_pair(draw)
    kind = draw(st.sampled_from(["sse", "half_sse", "mse"]))
    return [y, t], {"kind": kind, "reduction": reduction}


def nll(draw):
    log_probs, t, reduction = loss_pair(draw)  # any reals: the rule holds for all
    return [log_probs, t], {"reduction": reduction}


def softmax_bce(draw):
    # at least two units (one unit has p = 1 and ln(1 − p) = −∞); the loss is linear in t,
    # so the rule holds for any real targets, as for nll
    shape = draw(st.sampled_from([(2,), (3,), (2, 3), (4, 2), (2, 2, 3)]))
    z, t = arrays(draw, shape, st.floats(-30.0, 30.0)), arrays(draw, shape)
    return [z, t], {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def distinct(draw, shape, scale=0.25):
    """Values no two of which are equal (no ties for max, min, argmax; std > 0)."""
    size = int(np.prod(shape))
    order = draw(st.permutations(range(size))) if size else []
    return (np.array(order, dtype=np.float64) - size / 2).reshape(shape) * scale


def with_shape(draw, min_dims=1, max_dims=3, min_side=1, max_side=4):
    return draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                 max_side=max_side))


def axes(draw, ndim, allow_none=True, allow_tuple=True):
    """None (every axis), one axis (maybe negative) or a tuple of distinct axes."""
    options = st.integers(-max(ndim, 1), max(ndim, 1) - 1)
    if allow_none:
        options = options | st.none()
    if allow_tuple and ndim:
        options = options | st.lists(st.integers(0, ndim - 1), min_size=1,
                                     unique=True).map(tuple)
    return draw(options)


def clamped(draw):
    # x on a grid of quarters shifted by an eighth, bounds on the quarters: never at a bound
    x = arrays(draw, draw(SHAPES), st.integers(-8, 8).map(lambda k: k / 4 + 1 / 8))
    bound = st.none() | st.integers(-6, 6).map(lambda k: k / 4)
    low, high = draw(bound), draw(bound)
    assume(low is not None or high is not None)
    return [x], {"min": low, "max": high}


def choosing(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    condition_shape, x_shape, y_shape = shapes.input_shapes
    condition = draw(hnp.arrays(np.bool_, condition_shape))
    return [arrays(draw, x_shape), arrays(draw, y_shape)], {"condition": condition}


def comparison(draw):
    # small integers: equal pairs are common, so == and != see both answers
    first, second = broadcast_pair(draw)
    grid = st.integers(-2, 2).map(float)
    return [arrays(draw, first, grid), arrays(draw, second, grid)], {}


def extreme(draw):
    x = distinct(draw, with_shape(draw, min_dims=0))
    return [x], {"axis": axes(draw, x.ndim), "keepdims": draw(st.booleans())}


def arg_extreme(draw):
    x = distinct(draw, with_shape(draw, min_dims=0))
    return [x], {"axis": axes(draw, x.ndim, allow_tuple=False),
                 "keepdims": draw(st.booleans())}


def spread(draw):
    x = distinct(draw, with_shape(draw, min_side=2))
    axis = axes(draw, x.ndim)
    correction = draw(st.sampled_from([0, 1, 0.5]))
    return [x], {"axis": axis, "correction": correction, "keepdims": draw(st.booleans())}


def log_sum_exp(draw):
    x = arrays(draw, with_shape(draw, min_dims=0), st.floats(-3.0, 3.0))
    return [x], {"axis": axes(draw, x.ndim), "keepdims": draw(st.booleans())}


def running_sum(draw):
    x = arrays(draw, with_shape(draw, min_dims=0))
    return [x], {"axis": axes(draw, x.ndim, allow_none=False, allow_tuple=False)}


def padding(draw):
    x = arrays(draw, with_shape(draw))
    pairs = draw(st.integers(0, x.ndim))
    widths = tuple(draw(st.lists(st.integers(0, 2), min_size=2 * pairs, max_size=2 * pairs)))
    return [x], {"pad": widths, "value": draw(st.sampled_from([0.0, -1.5]))}


def flipping(draw):
    x = arrays(draw, with_shape(draw, min_dims=0))
    dims = draw(st.lists(st.integers(0, max(x.ndim - 1, 0)), unique=True, max_size=x.ndim))
    return [x], {"axis": tuple(dims)}


def repeating(draw):
    x = arrays(draw, with_shape(draw, min_dims=0, max_dims=2, max_side=3))
    count = x.ndim + draw(st.integers(0, 1))
    sizes = tuple(draw(st.lists(st.integers(1, 3), min_size=count, max_size=count)))
    return [x], {"sizes": sizes}


def expanding(draw):
    x = arrays(draw, with_shape(draw, min_dims=0, max_side=3))
    sizes = [draw(st.integers(1, 3)) if n == 1 else draw(st.sampled_from([n, -1]))
             for n in x.shape]
    new = draw(st.lists(st.integers(1, 3), max_size=2))
    return [x], {"shape": tuple(new + sizes)}


def gathering(draw):
    x = arrays(draw, with_shape(draw))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    shape = [draw(st.integers(1, 4)) if d == axis % x.ndim else draw(st.integers(1, n))
             for d, n in enumerate(x.shape)]
    index = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, x.shape[axis] - 1)))
    return [x], {"index": index, "axis": axis}


def concatenation(draw):
    shape = list(with_shape(draw, max_side=3))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    inputs = []
    for _ in range(draw(st.integers(1, 3))):
        shape[axis] = draw(st.integers(1, 3))
        inputs.append(arrays(draw, tuple(shape)))
    return inputs, {"axis": axis}


def stacking(draw):
    shape = with_shape(draw, min_dims=0, max_side=3)
    inputs = [arrays(draw, shape) for _ in range(draw(st.integers(1, 3)))]
    return inputs, {"axis": draw(st.integers(-len(shape) - 1, len(shape)))}


def _conv_geometry(draw, d):
    """(kernel, stride, padding, dilation, sizes) with at least one output position."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(d))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
    sizes = tuple(max(draw(st.integers(2, 6)), dl * (k - 1) + 1 - 2 * p)
                  for k, p, dl in zip(kernel, padding, dilation))
    return kernel, stride, padding, dilation, sizes


def convolution(draw):
    d = draw(st.sampled_from([1, 2]))
    kernel, stride, padding, dilation, sizes = _conv_geometry(draw, d)
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    x = arrays(draw, (n, c_in) + sizes)
    w = arrays(draw, (c_out, c_in // groups) + kernel)
    as_given = (lambda v: v[0]) if d == 1 and draw(st.booleans()) else (lambda v: v)
    return [x, w], {"stride": as_given(stride), "padding": as_given(padding),
                    "dilation": as_given(dilation), "groups": groups}


def pooling(draw, distinct_values=False):
    d = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    sizes = tuple(draw(st.integers(max(1, k - 2 * p), 6)) for k, p in zip(kernel, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + sizes
    # max pooling: no two values equal, so no tie sits within a finite difference's step
    x = distinct(draw, shape) if distinct_values else arrays(draw, shape)
    return [x], {"kernel_size": kernel, "stride": draw(st.sampled_from([stride, None])),
                 "padding": padding}


def batch_normalised(draw):
    shape = draw(st.sampled_from([(4, 3), (2, 2, 3), (2, 3, 2, 2), (3, 1, 4)]))
    x = arrays(draw, shape)
    assume(np.all(x.var(axis=(0,) + tuple(range(2, x.ndim))) > 0.05))  # σ away from √ε
    weight, bias = arrays(draw, (shape[1],)), arrays(draw, (shape[1],))
    return [x, weight, bias], {"eps": draw(st.sampled_from([1e-5, 1e-3, 0.1]))}


def dropped(draw):
    x = arrays(draw, draw(SHAPES))
    mask = arrays(draw, x.shape, st.sampled_from([0.0, 1.0]))
    return [x, mask], {"p": draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))}


def embedded(draw):
    rows, width = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    table = arrays(draw, (rows, width))
    shape = draw(st.sampled_from([(3,), (2, 3), (4, 1), (2, 2, 2)]))
    index = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, rows - 1)))
    # (padding_idx's row gets no gradient by convention, not by calculus: that is tested
    # against PyTorch in tests/test_sequence_ops.py, not against central differences)
    return [table], {"index": index, "padding_idx": None}


def layer_normalised(draw):
    shape = draw(st.sampled_from([(4, 3), (2, 2, 3), (2, 3, 2, 2), (5,), (3, 1, 4)]))
    ndim = draw(st.integers(1, len(shape)))
    x = arrays(draw, shape)
    axes = tuple(range(len(shape) - ndim, len(shape)))
    assume(int(np.prod(shape[len(shape) - ndim:])) >= 2)
    assume(np.all(x.var(axis=axes) > 0.05))  # σ away from √ε
    normalised = shape[len(shape) - ndim:]
    weight, bias = arrays(draw, normalised), arrays(draw, normalised)
    return [x, weight, bias], {"ndim": ndim, "eps": draw(st.sampled_from([1e-5, 1e-3, 0.1]))}


CASES = {
    "add": binary, "sub": binary, "mul": binary, "div": division, "pow": power,
    "neg": unary, "exp": unary, "tanh": unary, "sigmoid": unary, "softplus": unary,
    "log": lambda draw: unary(draw, st.floats(0.2, 3.0)),
    "sqrt": lambda draw: unary(draw, st.floats(0.2, 3.0)),
    "relu": kinked, "leaky_relu": leaky, "abs": kinked, "clamp": clamped,
    "maximum": maximum, "minimum": maximum, "where": choosing,
    "lt": comparison, "le": comparison, "gt": comparison, "ge": comparison,
    "eq": comparison, "ne": comparison,
    "softmax": with_axis, "log_softmax": with_axis, "matmul": matmul, "sum": summation,
    "max": extreme, "min": extreme, "argmax": arg_extreme, "argmin": arg_extreme,
    "var": spread, "std": spread, "logsumexp": log_sum_exp, "cumsum": running_sum,
    "reshape": reshape, "transpose": transpose, "getitem": getitem,
    "pad": padding, "flip": flipping, "repeat": repeating, "expand": expanding,
    "gather": gathering, "cat": concatenation, "stack": stacking,
    "linear": linear, "dense": dense, "squared_error": squared_error, "nll": nll,
    "softmax_bce": softmax_bce,
    "conv": convolution, "max_pool": lambda draw: pooling(draw, distinct_values=True),
    "avg_pool": pooling, "batch_norm": batch_normalised, "dropout": dropped,
    "embedding": embedded, "layer_norm": layer_normalised,
}

# The primitives whose vjps the gradient tests check (comparisons and argmax have none).
NON_DIFFERENTIABLE = {"lt", "le", "gt", "ge", "eq", "ne", "argmax", "argmin"}
DIFFERENTIABLE = sorted(set(CASES) - NON_DIFFERENTIABLE)
