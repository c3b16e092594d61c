"""Convolution and pooling: the geometry strategies reach every feature, and a failure's parameters travel.

The rows themselves are checked like every row (tests/test_op_coverage.py,
tests/test_examples.py, tests/test_planted_sanity.py, tests/test_diagnosis.py);
here is what is particular to the family: drawn geometries are always valid
and make each feature a backward rule gets wrong common, and int-or-pair
parameters survive the JSON report with their diagnosis.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from gradcheck.diagnosis import diagnose
from gradcheck.engine import load_engine
from gradcheck.examples.numpy_engine import conv_windows, make_engine, scatter_windows, spatial_pairs, with_backward
from gradcheck.ops import OPS
from gradcheck.results import Failure
from gradcheck.runner import check_op
from gradcheck.strategies import op_cases
from gradcheck.tolerances import DEFAULT_TOLERANCES
from tests.engines import PLANTED
from tests.test_diagnosis import _case_of

#: The least share of drawn cases showing each feature.
COMMON = 0.2


def _pairs(value, count=2):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * count


def _drawn(op, examples=200):
    """Return ``examples`` cases of ``op`` as the search draws them (derandomized: the same every run)."""
    cases = []

    @settings(max_examples=examples, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(op_cases(op))
    def collect(case):
        cases.append(case)

    collect()
    return cases


def _conv_features(case):
    (n, c, *sizes), (o, _, *kernel) = case.shapes
    spatial = len(sizes)
    stride, padding, dilation = (_pairs(case.params[name], spatial) for name in ("stride", "padding", "dilation"))
    return {
        "stride > 1": max(stride) > 1,
        "padding > 0": max(padding) > 0,
        "dilation > 1 on a kernel of 2 taps or more": any(d > 1 and k > 1 for d, k in zip(dilation, kernel)),
        "C_in != C_out": c != o,
        "batch 1": n == 1,
        "batch > 1": n > 1,
        **({"kernel not square": kernel[0] != kernel[1], "a (height, width) pair": any(
            isinstance(case.params[name], tuple) for name in case.params)} if spatial == 2 else {}),
    }


def _pool_features(case):
    _, _, height, width = case.shapes[0]
    kernel = _pairs(case.params["kernel_size"])
    stride = kernel if case.params["stride"] is None else _pairs(case.params["stride"])
    tiles = (height - kernel[0]) % stride[0] == 0 and (width - kernel[1]) % stride[1] == 0
    return {
        "windows tile exactly": tiles,
        "windows leave a remainder": not tiles,
        "stride=None (the kernel size)": case.params["stride"] is None,
        "windows overlap": stride[0] < kernel[0] or stride[1] < kernel[1],
        "window not square": kernel[0] != kernel[1],
    }


FEATURES = {"conv1d": _conv_features, "conv2d": _conv_features,
            "max_pool2d": _pool_features, "avg_pool2d": _pool_features}


@pytest.mark.parametrize("op", sorted(FEATURES))
def test_drawn_geometries_are_valid_and_make_every_feature_common(op):
    cases = _drawn(op)
    for case in cases:
        output = OPS[op].reference(*case.inputs, **case.params)
        assert output.size >= 1 and output.shape == case.cotangent.shape
    shares = {feature: np.mean([FEATURES[op](case)[feature] for case in cases]) for feature in FEATURES[op](cases[0])}
    rare = {feature: share for feature, share in shares.items() if share < COMMON}
    assert not rare, f"{op}: features in fewer than {COMMON:.0%} of {len(cases)} drawn cases: {rare}"


def test_max_pool2d_windows_have_no_ties():
    for case in _drawn("max_pool2d", 100):
        (x,) = case.inputs
        gaps = np.diff(np.sort(x, axis=None))
        assert gaps.min(initial=np.inf) >= 0.5


def test_a_failure_with_pair_parameters_survives_the_json_report_with_its_diagnosis():
    planted = next(entry for entry in PLANTED if entry.id == "conv2d_stride_ignored")
    params = {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}
    result = check_op(load_engine(planted.engine), "conv2d", max_examples=5, seed=0,
                      shapes=((1, 2, 5, 6), (3, 2, 2, 2)), params=params)
    failure = result.failures[0]
    read_back = Failure.from_dict(json.loads(json.dumps(failure.to_dict())))
    assert read_back.params == params
    case = _case_of(read_back, "conv2d")
    # The engine's call as a reproducer writes it: the pairs as tuples.
    assert OPS["conv2d"].call_text(["x", "w"], case.params) == (
        "conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2))"
    )
    sentence = diagnose(case, read_back, DEFAULT_TOLERANCES["float64"])
    assert sentence is not None and "stride is ignored" in sentence, sentence


def test_a_padded_gradient_returned_uncropped_is_diagnosed_as_such():
    # The other half of "padding not cropped": a shape failure, diagnosed by the same row's slips.
    def backward(out, x, w, stride=1, padding=0, dilation=1):
        s, p, d = (spatial_pairs(value, 2) for value in (stride, padding, dilation))
        padded = np.pad(x.data, [(0, 0), (0, 0), *((q, q) for q in p)])
        windows = conv_windows(padded, w.shape[2:], s, d)
        return lambda g: (scatter_windows(np.einsum("noHW,ocij->ncHWij", g, w.data), padded.shape, s, d),
                          np.einsum("noHW,ncHWij->ocij", g, windows))

    engine = make_engine(name="test: conv2d_not_cropped", overrides={"conv2d": with_backward("conv2d", backward)})
    result = check_op(load_engine(engine), "conv2d", max_examples=3, seed=0,
                      shapes=((1, 2, 3, 4), (2, 2, 2, 2)), params={"padding": 1})
    failure = result.failures[0]
    assert failure.category == "shape"
    assert "not cropped" in failure.diagnosis and "drop `padding` entries" in failure.diagnosis, failure.diagnosis
