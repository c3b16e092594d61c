"""One conversion for everything user code hands back: engine values, gradients, function outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array"]


def as_array(result: Any) -> np.ndarray:
    """Return an engine's value (NumPy, tf.Tensor, torch.Tensor, list) as a NumPy array."""
    # tf.Tensor and torch.Tensor convert most reliably through .numpy();
    # np.asarray on them can build an object array or fail on a GPU tensor.
    if not isinstance(result, np.ndarray) and callable(getattr(result, "numpy", None)):
        result = result.numpy()
    return np.asarray(result)
