"""Random computation graphs: any DAG of primitives, any order of operands.

A node reached along several paths must get every path's share before it passes its own
gradient on; this draws graphs where later nodes reuse earlier ones freely (either operand
order), and checks the whole gradient against central differences.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.autodiff.engine import topological_order
from tests.gradcheck_helpers import assert_grad_close, numeric_grad

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply}
UNARY = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
         "softplus": lambda v: np.logaddexp(0, v)}

STEP = st.one_of(
    st.tuples(st.sampled_from(sorted(BINARY)), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.sampled_from(sorted(UNARY)), st.integers(0, 99)),
)


def evaluate(leaves, steps, tensor_mode: bool):
    """Run the drawn program; operand k refers to the (k mod count)-th value made so far."""
    values = list(leaves)
    for op, *operands in steps:
        args = [values[k % len(values)] for k in operands]
        if op in BINARY:
            values.append(getattr(args[0], f"__{op}__")(args[1]) if tensor_mode
                          else BINARY[op](*args))
        else:
            values.append(getattr(args[0], op)() if tensor_mode else UNARY[op](args[0]))
    return values


@given(leaves=st.lists(st.floats(-1.5, 1.5), min_size=1, max_size=3),
       steps=st.lists(STEP, min_size=1, max_size=10))
def test_random_dag_gradients(leaves, steps):
    tensors = [cr.Tensor(v) for v in leaves]
    values = evaluate(tensors, steps, tensor_mode=True)
    root = values[-1] if values[-1].requires_grad else values[-1] + tensors[0]
    order = topological_order(root)
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:  # every input comes before the node that uses it
        for parent in (t._node.inputs if t._node else ()):
            assert position[id(parent)] < position[id(t)]
    root.backward()

    for i, tensor in enumerate(tensors):
        def f(x, i=i):
            args = [float(x) if j == i else v for j, v in enumerate(leaves)]
            out = evaluate(args, steps, tensor_mode=False)
            return out[-1] if values[-1].requires_grad else out[-1] + args[0]

        numeric = numeric_grad(f, np.array(leaves[i]))
        analytic = tensor.grad if tensor.grad is not None else np.zeros(())
        assert_grad_close(analytic, numeric, f"leaf {i} of {steps}")
