"""A hostile engine: each op misbehaves in its own way; grad and the rest are correct.

exp: os._exit; sin: loops forever; cos: segfaults; tanh: prints a flood;
negative: raises SystemExit; log: allocates without bound; sqrt: monkeypatches
NumPy for the whole process; sigmoid: returns a string; relu: answers
differently each call; abs: writes into the array it was handed.
"""

import ctypes
import os

import numpy as np

from gradcheck.examples.numpy_engine import make_engine

_base = make_engine()
value, grad = _base.value, _base.grad
_handed = []
_calls = [0]


def variable(array):
    _handed.append(array)  # keeps the caller's array: abs writes into it
    return _base.variable(array)
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


def relu(x):
    _calls[0] += 1  # state kept from one call to the next
    return _base.multiply(_base.relu(x), _base.variable(np.array(float(_calls[0]))))


def abs(x):  # noqa: A001 - the contract's name
    _handed[-1][...] = 0.0
    return _base.abs(x)
