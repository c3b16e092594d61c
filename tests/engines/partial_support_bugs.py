"""An engine that declares partial support, with two real bugs on what it supports.

Like ``tests/targets/partial_support.py`` it declares ``sum`` without
``keepdims``, ``softmax`` over the last axis only and ``mean`` over all axes
only (``supported_params``); ``mean`` is right. But its ``sum`` rejects
negative axes (``axis=-1`` raises ValueError: an exception on a supported
parameter), and its ``softmax`` backward keeps only the Jacobian's diagonal,
``g * s * (1 - s)`` (a mismatch on the supported axis). Both must still be
reported; neither may hide behind the declared limits.
"""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine, node

# Several ops: this module is imported by path in tests, not listed in _OP_BUGS.
OP = "sum"
CATEGORY = "exception"


def _sum(x, axis=None):
    axes = () if axis is None else axis if isinstance(axis, tuple) else (axis,)
    for each in axes:
        if not 0 <= each < x.ndim:
            raise ValueError(f"axis {each} is out of range for {x.ndim} dimensions")
    return REFERENCE_OPS["sum"](x, axis)


def _softmax(x, axis=-1):
    if axis != -1:
        raise NotImplementedError("softmax works over the last axis only")
    out = REFERENCE_OPS["softmax"](x, axis)
    return node(out.data, (x,), lambda g: (g * out.data * (1 - out.data),))


def _mean(x, axis=None, keepdims=False):
    if axis is not None:
        raise NotImplementedError("mean averages over all axes only")
    return REFERENCE_OPS["mean"](x, axis, keepdims)


engine = make_engine(name="planted: partial_support_bugs", overrides={"sum": _sum, "softmax": _softmax, "mean": _mean})
engine.supported_params = {"sum": {"keepdims": [False]}, "softmax": {"axis": [-1]}, "mean": {"axis": [None]}}
