"""Engines that ship with gradcheck, each an engine target (docs/contract.md, section 1).

* ``gradcheck.examples.numpy_engine``: a correct NumPy reverse-mode engine with
  every op (float64 at module level; ``engine32``/``engine64``; ``make_engine``
  builds variants with one rule replaced).
* ``gradcheck.examples.question_tape``: the TensorFlow tape from the question
  that started gradcheck, bug included (``tf.transpose`` over every axis in
  matmul's gradient).
* ``gradcheck.examples.question_tape_fixed``: the same tape with the accepted
  answer's fix.

Nothing is imported here: the tapes import TensorFlow, which should be paid for
only when one of them is loaded.
"""
