"""A hostile engine: each op misbehaves in its own way; grad and the rest are correct.

exp: os._exit; sin: loops forever; cos: segfaults; tanh: prints a flood;
negative: raises SystemExit; log: allocates without bound; sqrt: monkeypatches
NumPy for the whole process; sigmoid: returns a string.
"""

import ctypes
import os

import numpy as np

from gradcheck.examples.numpy_engine import make_engine

_base = make_engine()
variable, value, grad = _base.variable, _base.value, _base.grad
dtype = "float64"
name = "hostile"


def exp(x):
    os._exit(7)


def sin(x):
    while True:
        pass


def cos(x):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def tanh(x):
    print("flood " * 200_000)
    return _base.tanh(x)


def negative(x):
    raise SystemExit(3)


def log(x):
    hoard = []
    while True:
        hoard.append(np.ones(1 << 24))  # 128 MiB at a time


def sqrt(x):
    np.sqrt = lambda v: v  # patches NumPy for everyone in this process
    return _base.sqrt(x)


def sigmoid(x):
    return "not a tensor"
