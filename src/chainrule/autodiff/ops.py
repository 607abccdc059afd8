"""The primitive table: every differentiable operation, declared once.

An entry holds the forward computation, one vector-Jacobian product (vjp) per input and the
local derivatives as formulas (plain text and LaTeX). The engine, the tests, the explanations
and the exercise generator all read this table, so they cannot drift apart.

Conventions for a rule, all pure functions of NumPy arrays:

* ``forward(*inputs, **params) -> out``
* ``vjps[i](g, out, *inputs, **params) -> grad`` for input ``i``, given the upstream gradient
  ``g`` (shape of ``out``). A rule may return its gradient in the *broadcast* shape of the
  output; the engine sums it back to the input's shape (``engine.unbroadcast``), so no rule
  reduces over broadcast axes itself. A rule is only called for inputs that need a gradient,
  which keeps, say, ``log(x)`` of a constant exponent out of ``x ** 2``.
* ``vjp(g, out, wanted, *inputs, **params) -> (grad or None, ...)``, optional: all the
  inputs at once, ``wanted[i]`` saying which need one, for a primitive whose inputs share
  work (a layer's delta, a loss's error). The engine calls ``vjp_all``: this rule, or the
  per-input rules in turn. tests/test_ops.py checks that it returns the per-input rules'
  numbers, bit for bit.
* A gradient must be the input's shape or one the input broadcasts to: anything else (a
  transposed or flattened gradient, say) raises GradError naming the primitive.

Subgradients at kinks match PyTorch: relu'(0) = 0, leaky_relu'(0) = slope, and ``maximum``
splits the gradient equally between tied operands; ∂(x^y)/∂x is 0 where y = 0.

The entry type and the dictionary live in :mod:`chainrule.autodiff.op_table`; each module of
primitives imports only that (and, for the fused ones, the basic rules they reuse), and this
module assembles the table by importing them all, so no import runs back up:
:mod:`chainrule.autodiff.ops_basic` (arithmetic, activations, matmul, sum, reshape,
transpose, getitem), :mod:`chainrule.autodiff.ops_elementwise` (sqrt, abs, clamp,
minimum, where, the comparisons), :mod:`chainrule.autodiff.ops_reduce` (max, min, argmax, argmin,
var, std, logsumexp, cumsum), :mod:`chainrule.autodiff.ops_shape` (pad, flip, repeat, expand,
gather, cat, stack), :mod:`chainrule.autodiff.fused` (linear, dense, squared_error, nll) and
:mod:`chainrule.autodiff.ops_conv` (conv), ``ops_pool`` (max_pool, avg_pool) and ``ops_norm``
(batch_norm, dropout), ``ops_sequence`` (embedding, layer_norm). The
rules that make big arrays (matrix products, relu) write them into reused arrays from
:mod:`chainrule.autodiff.buffers`.
"""

from __future__ import annotations

# In this order, the table's order since it was one file (isort: off)
from chainrule.autodiff import ops_basic as _basic  # noqa: F401
from chainrule.autodiff import ops_elementwise as _elementwise  # noqa: F401
from chainrule.autodiff import ops_reduce as _reduce  # noqa: F401
from chainrule.autodiff import ops_shape as _shape  # noqa: F401
from chainrule.autodiff import fused as _fused  # noqa: F401
from chainrule.autodiff import ops_conv as _conv  # noqa: F401
from chainrule.autodiff import ops_pool as _pool  # noqa: F401
from chainrule.autodiff import ops_norm as _norm  # noqa: F401
from chainrule.autodiff import ops_sequence as _sequence  # noqa: F401
# (isort: on)
from chainrule.autodiff.op_table import PRIMITIVES, Array, Primitive, Vjp, axes_of, no_gradient
from chainrule.autodiff.ops_basic import matmul, stable_sigmoid

__all__ = ["PRIMITIVES", "Array", "Primitive", "Vjp", "axes_of", "matmul", "no_gradient",
           "stable_sigmoid"]
