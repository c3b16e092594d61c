"""sum's backward converts the INCOMING gradient to NumPy, spreads it and wraps it as a constant.

sum is linear: its second derivative is zero, so it has no order-2 check of
its own, and its first derivative is right. What breaks is the gradient that
flows *through* it: when a nonlinear step comes after the sum in the forward,
e.g. ``tanh(sum(x))`` or ``sum(x) * sum(x)``, the incoming gradient depends on
``x`` and the copy cuts that dependence, so those programs' second
derivatives lose their term ``(d2 tanh) (sum u) (sum v)``. Before the sum
(``sum(tanh(x))``) the incoming gradient is the constant cotangent and nothing
shows. Only ``programs (order 2)`` can find it.
"""

import numpy as np
from _higher import higher

OP = "sum"
CATEGORY = "mismatch"
ORDER = 2


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the contract's op name
    axes = higher.reduced_axes(axis, x.ndim)
    kept = tuple(1 if i in axes else size for i, size in enumerate(x.shape))
    out = np.sum(x.data, axis=tuple(axes), keepdims=keepdims)
    # the bug: g.data is a NumPy copy of the incoming gradient; `broadcast_to(reshape(g, kept), x.shape)` was meant
    return higher.node(out, (x,),
                       lambda g: (higher.constant(np.broadcast_to(g.data.reshape(kept), x.shape), out.dtype),),
                       lambda t: np.sum(t, axis=axes, keepdims=keepdims))


engine = higher.make_engine(name="planted: order2_sum_numpy_backward", overrides={OP: sum})
