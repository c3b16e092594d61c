"""TensorFlow functions with their own gradients: tf.custom_gradient, and a hand-written VJP."""

import numpy as np
import tensorflow as tf


@tf.custom_gradient
def softplus(x):
    def backward(upstream):
        return upstream * tf.sigmoid(x)

    return tf.math.softplus(x), backward


@tf.custom_gradient
def softplus_wrong_backward(x):
    def backward(upstream):
        return upstream * tf.sigmoid(-x)  # the derivative of softplus(-x), not of softplus(x)

    return tf.math.softplus(x), backward


def gelu(x):
    return 0.5 * x * (1.0 + tf.math.erf(x / np.sqrt(2.0)))


def gelu_vjp(x, cotangent):
    x = tf.constant(x)
    cdf = 0.5 * (1.0 + tf.math.erf(x / np.sqrt(2.0)))
    pdf = tf.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return (cotangent * (cdf + x * pdf),)


def gelu_vjp_missing_term(x, cotangent):
    x = tf.constant(x)
    return (cotangent * 0.5 * (1.0 + tf.math.erf(x / np.sqrt(2.0))),)  # forgot x * pdf(x)
