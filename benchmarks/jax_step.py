"""The benchmark's VAE step in JAX, the whole step (noise, forward, backward, Adam) under one ``jit``.

The model is numpyvae's 784-H-20-H-784 VAE (ReLU, Bernoulli decoder, diagonal Gaussian q(z|x)),
starting from the numpyvae model's weights; the loss is the negative ELBO with the analytic KL,
mean over the batch, as ``VAE.forward_backward`` computes it; Adam is written out (textbook
bias-corrected form, lr 1e-3, betas 0.9/0.999, eps 1e-8), so no optax is needed.  Only for the
``numpyvae bench`` column "JAX jit" (``pip install "numpyvae[bench]"``); never imported by numpyvae.

XLA reads its CPU thread count when JAX starts: :func:`info` sets ``XLA_FLAGS`` for one thread
before importing JAX (2 threads = XLA's default on a 2-core machine).
"""
from __future__ import annotations

import os
import time

Z_DIM = 20


def info(threads):
    """Import JAX if it is there (on CPU, ``threads`` intra-op threads); a dict for the printout."""
    if threads == 1 and "jax" not in __import__("sys").modules:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax
    except ImportError:
        return {"available": False}
    return {"available": True, "version": jax.__version__,
            "devices": [str(d) for d in jax.devices()], "xla_flags": os.environ.get("XLA_FLAGS", "")}


def _params(model):
    import jax.numpy as jnp
    named = model.named_params()
    return {k: jnp.asarray(named[f"{p}.{w}"]) for p in ("encoder.0", "encoder.2", "decoder.0",
                                                        "decoder.2") for w in ("W", "b")
            for k in [f"{p}.{w}"]}


def _loss(params, x, eps):
    """-ELBO per example, mean over the batch.  x : (N, 784), eps : (N, 20)."""
    import jax
    import jax.numpy as jnp
    h = jax.nn.relu(x @ params["encoder.0.W"] + params["encoder.0.b"])
    out = h @ params["encoder.2.W"] + params["encoder.2.b"]
    mu, logvar = out[:, :Z_DIM], out[:, Z_DIM:]
    z = mu + jnp.exp(0.5 * logvar) * eps
    h = jax.nn.relu(z @ params["decoder.0.W"] + params["decoder.0.b"])
    logits = h @ params["decoder.2.W"] + params["decoder.2.b"]
    # Bernoulli log p(x|z) = x l - softplus(l), summed over pixels
    rec = jnp.sum(jax.nn.softplus(logits) - x * logits, axis=1)
    kl = -0.5 * jnp.sum(1 + logvar - mu * mu - jnp.exp(logvar), axis=1)
    return jnp.mean(rec + kl)


def loss_at(model, x, eps):
    """The JAX loss at ``model``'s weights for the noise ``eps`` (N, 20): to check that it is the
    same function as numpyvae's."""
    import jax.numpy as jnp
    return float(_loss(_params(model), jnp.asarray(x), jnp.asarray(eps)))


def make_step(model, x, seed=0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """A callable running one jitted step (and waiting for it) -> (step, compile seconds)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def step(params, m, v, t, key, x):
        key, sub = jax.random.split(key)
        noise = jax.random.normal(sub, (x.shape[0], Z_DIM), x.dtype)
        loss, g = jax.value_and_grad(_loss)(params, x, noise)
        t = t + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        params = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps),
                              params, m, v)
        return params, m, v, t, key, loss

    params = _params(model)
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = [params, zeros, zeros, jnp.float32(0), jax.random.PRNGKey(seed)]
    xj = jnp.asarray(x)

    def run():
        out = step(*state, xj)
        state[:] = out[:5]
        out[5].block_until_ready()
    t = time.perf_counter()
    run()
    return run, time.perf_counter() - t
