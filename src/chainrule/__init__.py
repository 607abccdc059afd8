"""chainrule: a backpropagation workbench.

Compute a training step with a reverse-mode autodiff engine on NumPy, and see every number.

>>> import chainrule as cr
>>> x = cr.Tensor([0.5, 0.3])
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([1. , 0.6])
"""

from chainrule.version import __version__

from chainrule import nn, optim
from chainrule.autodiff.engine import enable_grad, is_grad_enabled, no_grad
from chainrule.errors import (
    ChainruleError,
    GradcheckError,
    GradError,
    MissingDependency,
    ShapeError,
    SpecError,
)
from chainrule.finite import NonFiniteError
from chainrule.explain.graph import GraphTrace, explain_function, explain_graph
from chainrule.explain.render import render
from chainrule.autodiff.ops import PRIMITIVES, Primitive
from chainrule.spec.network import Spec, load_spec, parse_spec
from chainrule.autodiff.tensor import Tensor
from chainrule.autodiff.tensor_ops import (
    cat,
    clamp,
    clip,
    concatenate,
    maximum,
    minimum,
    pad,
    stack,
    where,
)
from chainrule.explain.trace import Trace, explain
from chainrule.verify.gradcheck import GradcheckReport, GradcheckWarning, gradcheck, gradcheck_spec

__all__ = [
    "ChainruleError", "GradError", "GradcheckError", "GradcheckReport", "GradcheckWarning",
    "GraphTrace", "MissingDependency", "NonFiniteError", "PRIMITIVES", "Primitive",
    "ShapeError", "Spec", "SpecError", "Tensor", "Trace", "__version__", "cat", "clamp", "clip",
    "concatenate", "enable_grad", "explain", "explain_function", "explain_graph", "gradcheck",
    "gradcheck_spec", "is_grad_enabled", "load_spec", "maximum", "minimum", "nn", "no_grad",
    "optim", "pad", "parse_spec", "render", "stack", "where",
]
