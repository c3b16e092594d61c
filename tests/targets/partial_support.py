"""Good: an engine that handles some parameters only, and says so in ``supported_params``.

Its ``sum`` has no ``keepdims``, its ``softmax`` works over the last axis only
and its ``mean`` over all axes only; each is right on what it handles. With
the declaration, gradcheck checks each op on those values and every check passes.
"""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine


def _sum(x, axis=None):
    return REFERENCE_OPS["sum"](x, axis)


def _softmax(x, axis=-1):
    if axis != -1:
        raise NotImplementedError("softmax works over the last axis only")
    return REFERENCE_OPS["softmax"](x, axis)


def _mean(x, axis=None, keepdims=False):
    if axis is not None:
        raise NotImplementedError("mean averages over all axes only")
    return REFERENCE_OPS["mean"](x, None, keepdims)


engine = make_engine(name="partial support", overrides={"sum": _sum, "softmax": _softmax, "mean": _mean})
engine.supported_params = {"sum": {"keepdims": [False]}, "softmax": {"axis": [-1]}, "mean": {"axis": [None]}}
