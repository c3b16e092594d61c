"""The backward pass walks breadth first and sweeps each node the first time it is dequeued.

Like the question's tape, it does not wait for a node's gradient to be
complete: a node reached by a short path and a longer one passes on only what
the short path brought. No single op shows the bug; a program with paths of
different lengths to one node does, e.g. ``u = sin(x); multiply(u, exp(u))``.
"""

from gradcheck.examples.numpy_engine import accumulate, make_engine

OP = None  # shows only in programs
CATEGORY = "mismatch"


def breadth_first_sweep(y, seed):
    y.grad = seed
    working = [y]
    swept = set()
    while working:
        current = working.pop(0)
        if id(current) in swept or current._backward is None:
            continue
        swept.add(id(current))
        for parent, contribution in zip(current._parents, current._backward(current.grad)):
            if contribution is not None:
                parent.grad = accumulate(parent.grad, contribution)
                working.append(parent)


engine = make_engine(name="planted: traversal_breadth_first", backward_pass=breadth_first_sweep)
