"""Adapters: a framework's own autodiff, as an engine gradcheck can check (docs/contract.md, section 1).

One module per framework, each an engine target on its own (the float64
engine) with ``engine32``, ``engine64`` and ``make_engine(dtype="float64",
ops=None, name=None)``; ``ops={"matmul": my_matmul}`` puts your own
framework function (one with a custom gradient, say) in place of an op::

    gradcheck check gradcheck.adapters.tensorflow          # core: TensorFlow
    gradcheck check gradcheck.adapters.jax:engine32        # pip install "gradcheck[jax]"
    gradcheck check gradcheck.adapters.torch               # pip install "gradcheck[torch]"
    gradcheck check gradcheck.adapters.autograd            # pip install "gradcheck[autograd]"

Ops run eagerly in the framework and are recorded; ``grad`` replays them as a
function of the inputs under the framework's own VJP (``_recording``);
``grad(..., create_graph=True)`` returns nodes differentiable again (order 2),
and the TensorFlow, JAX and PyTorch engines have ``jvp`` (forward mode).
Importing this package imports no framework; importing an adapter module
imports its framework, and raises ``gradcheck.errors.MissingFrameworkError``
(a ``ModuleNotFoundError``) naming the pip extra when it is not installed. The JAX
adapter turns on ``jax_enable_x64`` the first time its float64 engine makes
a tensor: JAX computes in float32 otherwise. See ``docs/adapters.md``.
"""

from __future__ import annotations

__all__ = ["ADAPTERS"]

#: Framework name -> adapter module, in the order reports list them.
ADAPTERS: dict[str, str] = {
    "tensorflow": "gradcheck.adapters.tensorflow",
    "jax": "gradcheck.adapters.jax",
    "torch": "gradcheck.adapters.torch",
    "autograd": "gradcheck.adapters.autograd",
}
