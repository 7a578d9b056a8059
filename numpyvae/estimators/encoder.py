"""The score-function and pathwise estimators on a real model: the ELBO gradient of a VAE encoder.

:mod:`numpyvae.estimators` compares the two estimators on one Gaussian and a cost ``f(z)``.  Here
the Gaussian is the VAE's posterior ``q_φ(z|x)`` (any family of posterior.py: diagonal, full
covariance, ...), the cost is the ELBO's integrand, and the gradient is taken with respect to every
encoder parameter φ.  The objective is the mean ELBO over a fixed minibatch ``x_1 .. x_N``::

    L(φ) = 1/N Σ_n E_{q_φ(z|x_n)}[ f_n(z) ],   f_n(z) = log p(x_n|z) + log p(z) − log q_φ(z|x_n)

**One f for every estimator.**  All four estimators below average S draws per example,
``z_sn = g(φ, ε_sn)`` with the SAME noise ε, and all but the last use this same single-sample
f, so the comparison is apples to apples.  (The VAE trains with the closed-form KL; that is the
fourth estimator, kept to show how much the analytic KL adds.)

``score``        1/(NS) Σ_sn f_sn ∇φ log q_φ(z_sn|x_n), with z held fixed.  From
                 ∇φ E_q[f] = E_q[f ∇φ log q] + E_q[∇φ f]: the second term is −E_q[∇φ log q] = 0
                 (f depends on φ only through −log q), so it is left out.
``score_loo``    the same with ``f_sn − b_sn``, b_sn the mean of f over the other S − 1 draws for
                 the same x_n (needs S ≥ 2).  b_sn does not depend on draw s, so it stays unbiased.
``pathwise``     ∇φ of 1/(NS) Σ_sn f_sn(z(φ, ε_sn)) with ε fixed: the chain rule through the
                 reparameterization node, INCLUDING the direct dependence of −log q on φ (this is
                 the plain total derivative, not the "sticking the landing" variant that drops it).
``pathwise_kl``  ∇φ [1/(NS) Σ_sn log p(x_n|z_sn) − 1/N Σ_n KL(q(z|x_n) || p(z))]: exactly the
                 encoder part of what ``VAE.forward_backward(objective="elbo")`` computes.

All four are unbiased for the same ∇φ L (the tests check it).  They are records of the estimator
table (:mod:`numpyvae.estimators.registry`, study "encoder"), which holds each one's dh function
(below); a fifth is one more function and record there, and the study, its table, its plots and
``numpyvae variance`` take it up.

**Everything about q comes from the family** (``model.posterior``, posterior.py).  With h the
encoder's raw output, each estimator is a gradient dh, and ``model.encoder.backward(dh, cache)``
turns it into the parameter gradient.  The encoder's backward pass is linear in dh and sums over
the batch, so ONE backward pass per estimator gives the whole S-sample, N-example estimate:

    score:        dh = family.score(h, ε, w),   w = f/(NS)  (or (f − b)/(NS))
    pathwise:     dh = family.backward(g/(NS), dlog_q = −1/(NS))      g = ∂/∂z [log p(x|z) + log p(z)]
    pathwise_kl:  dh = family.backward(g'/(NS), dkl = −1/N)           g' = ∂ log p(x|z)/∂z

(``backward`` with ``dlog_q`` differentiates log q at fixed ε, through z and directly: the total
derivative of −log q that "pathwise" keeps.)  g' comes from the decoder's own backward pass.

**Variance.**  An S-sample estimate is one gradient vector; its variance is measured across R
independent repetitions (fresh noise each time, same minibatch, same parameters):
:func:`estimator_moments` and :func:`variance_study`.

Conventions: x (N, D) in the model's dtype; eps (S, N, k); gradients are flat (P_enc,) vectors in
the order of ``model.encoder.flat_params`` and the model's dtype.  They are gradients of the ELBO
(ascent directions), not of the loss; weight decay is not part of them.  Functions that run a
backward pass overwrite ``model.grads``.  A family without ``score`` serves only the pathwise
estimators.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import distributions as D
from .._validate import check_array, check_positive_float, check_positive_int, check_rng
from ..optim import Adam
from ..vae import VAE
from . import registry as R

REFERENCE = "pathwise_kl"     # the estimator pooled into the reference gradient (the VAE's own)
SAMPLE_SIZES = (1, 2, 5, 10, 20, 50, 100)


# --------------------------------------------------------------------------- argument checks


def _check_model(model):
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a numpyvae.VAE, got {type(model).__name__}")
    return model


def _check_eps(model, x, eps):
    check_array(eps, "eps", ndim=3, dtype=model.dtype)
    if eps.shape[1:] != (x.shape[0], model.z_dim) or eps.shape[0] < 1:
        raise ValueError(f"eps must have shape (S >= 1, {x.shape[0]}, {model.z_dim}), "
                         f"got {eps.shape}")
    return eps


def _check_estimators(estimators, n_samples):
    """A tuple of distinct names of the encoder study (None: all of them, registry.names)."""
    known = R.names(R.ENCODER)
    if estimators is None:
        estimators = tuple(n for n in known if R.get(n).min_samples <= n_samples)
    if isinstance(estimators, str):
        estimators = (estimators,)
    try:
        estimators = tuple(estimators)
    except TypeError:
        raise TypeError(f"estimators must be a sequence of names from {known}, "
                        f"got {type(estimators).__name__}") from None
    if not estimators:
        raise ValueError(f"estimators must name at least one of {known}")
    for name in estimators:
        if name not in known:
            raise ValueError(f"estimators must be names from {known}, got {name!r}")
    if len(set(estimators)) != len(estimators):
        raise ValueError(f"estimators must not repeat a name, got {estimators}")
    for name in estimators:
        if n_samples < R.get(name).min_samples:
            raise ValueError(f"estimator {name!r} needs S >= {R.get(name).min_samples} samples "
                             f"per example (its baseline is the mean of the OTHER samples), got "
                             f"S = {n_samples}")
    return estimators


def _check_estimator(name, n_samples):
    """One estimator name (a str from registry.names("encoder"))."""
    if not isinstance(name, str):
        raise TypeError(f"estimator must be one of {R.names(R.ENCODER)}, "
                        f"got {type(name).__name__}")
    return _check_estimators((name,), n_samples)[0]


def _check_repetitions(r):
    r = check_positive_int(r, "repetitions")
    if r < 2:
        raise ValueError(f"repetitions must be >= 2 to estimate a variance, got {r}")
    return r


# --------------------------------------------------------------------------- the passes


class _Draws(NamedTuple):
    """S draws per example from the family's forward: z, eps (S, N, k); log p(x|z), log q(z|x),
    f (S, N); dlogpx_dz = ∂ log p(x|z)/∂z (S, N, k); q_cache for ``family.backward``."""
    eps: np.ndarray
    z: np.ndarray
    log_px: np.ndarray
    log_q: np.ndarray
    f: np.ndarray
    dlogpx_dz: np.ndarray
    q_cache: tuple


def _encode(model, x):
    """The encoder's forward pass: -> (h (N, raw_size), cache)."""
    return model.encoder.forward(x)


def _draws(model, x, h, eps, kl=False):
    """Decode S draws per example and differentiate log p(x|z) with respect to z.

    The decoder part of ``model.grads`` becomes Σ_sn ∇θ log p(x_n|z_sn) (a SUM; loss_gradient
    scales it, the other callers ignore it).  ``kl``: the family's forward also computes the KL
    (for "pathwise_kl", whose backward needs its cache).
    """
    s, n, k = eps.shape
    q, q_cache = model.posterior.forward(h, eps, kl=kl, log_q=True)
    out, dcache = model.decoder.forward(q.z.reshape(s * n, k))
    log_px, px_cache = model.likelihood_forward(x, out.reshape(s, n, -1))
    # ∂ log p(x_n|z_sn)/∂out for each draw: upstream gradient 1 for every (s, n)
    dout = model.likelihood_backward(np.ones((s, n), model.dtype), px_cache).reshape(s * n, -1)
    dz = model.decoder.backward(dout, dcache)
    f = log_px + D.log_std_normal(q.z)
    f -= q.log_q
    return _Draws(eps, q.z, log_px, q.log_q, f, dz.reshape(s, n, k), q_cache)


def _estimator_dh(model, name, h, dr):
    """The upstream gradient dh (N, raw_size) of the ELBO estimate ``name`` (an ascent
    direction): the registry's ``encoder`` function of that estimator."""
    return R.get(name).encoder(model, h, dr)


def _encoder_backward(model, dh, cache):
    """Run the encoder's backward pass; returns a copy of the encoder's flat gradient."""
    model.encoder.backward(dh, cache, need_dx=False)
    return model.encoder.flat_grads.copy()


# --------------------------------------------------------------------------- public functions


def encoder_size(model):
    """Number of encoder parameters P_enc (the length of every gradient returned here)."""
    return _check_model(model).encoder.flat_params.size


def layer_slices(model):
    """{"encoder.0.W": slice, ...}: where each encoder parameter block lies in a (P_enc,) vector."""
    _check_model(model)
    out, start = {}, 0
    # named_params lists the encoder's blocks first, in the order of the flat vector
    for key, view in model.named_params().items():
        if key.startswith("encoder."):
            out[key] = slice(start, start + view.size)
            start += view.size
    return out


def single_sample_f(model, x, eps):
    """``f = log p(x|z) + log p(z) − log q(z|x)`` at ``z = g(φ, ε)``: (S, N), the model's dtype.

    x : (N, D);  eps : (S, N, k).  Its mean over S and N estimates the mean ELBO.
    """
    _check_model(model)
    model.check_x(x)
    _check_eps(model, x, eps)
    h, _ = _encode(model, x)
    return _draws(model, x, h, eps).f


def log_q(model, x, z):
    """``log q_φ(z|x)`` of the model's family at given z.  x : (N, D);  z : (N, k) or (S, N, k)
    -> (N,) or (S, N)."""
    _check_model(model)
    model.check_x(x)
    check_array(z, "z", ndim=(2, 3), dtype=model.dtype)
    if z.shape[-2:] != (x.shape[0], model.z_dim):
        raise ValueError(f"z must have shape ({x.shape[0]}, {model.z_dim}) or "
                         f"(S, {x.shape[0]}, {model.z_dim}), got {z.shape}")
    h, _ = _encode(model, x)
    eps = model.posterior.noise(h, z if z.ndim == 3 else z[None])
    return model.posterior.forward(h, eps, kl=False, log_q=True)[0].log_q.reshape(z.shape[:-1])


def log_q_grad(model, x, z, weights):
    """``∇φ Σ_sn w_sn log q_φ(z_sn|x_n)`` with z held fixed: the score, weighted.  (P_enc,)

    x : (N, D);  z : (S, N, k);  weights : (S, N).  The score-function estimator is this with
    w = f/(NS).  Overwrites the encoder part of ``model.grads``.
    """
    _check_model(model)
    model.check_x(x)
    check_array(z, "z", shape=(None, x.shape[0], model.z_dim), dtype=model.dtype)
    check_array(weights, "weights", shape=z.shape[:2], dtype=model.dtype)
    h, cache = _encode(model, x)
    eps = model.posterior.noise(h, z)
    return _encoder_backward(model, model.posterior.score(h, eps, weights), cache)


def encoder_gradients(model, x, eps, estimators=None):
    """One S-sample estimate of ``∇φ mean_n ELBO(x_n)`` per estimator, all from the same noise.

    x : (N, D);  eps : (S, N, k) standard-normal noise;  estimators : names of the encoder study
    (registry.names("encoder"); None: every one defined for this S).
    -> {name: (P_enc,) gradient of the mean ELBO (ascent direction)}, the model's dtype.
    One encoder forward pass, one decoder forward and input-gradient pass, and one encoder
    backward pass per estimator.  Overwrites the encoder part of ``model.grads``.
    """
    _check_model(model)
    model.check_x(x)
    _check_eps(model, x, eps)
    estimators = _check_estimators(estimators, eps.shape[0])
    return _estimates(model, x, _encode(model, x), eps, estimators)


def _estimates(model, x, encoded, eps, estimators):
    """encoder_gradients with the encoder's forward pass ``encoded`` = (h, cache) already done
    (checked input)."""
    h, cache = encoded
    dr = _draws(model, x, h, eps, kl=any(R.get(e).needs_kl for e in estimators))
    return {name: _encoder_backward(model, _estimator_dh(model, name, h, dr), cache)
            for name in estimators}


def loss_gradient(model, x, eps, estimator="pathwise_kl"):
    """The training gradient with the encoder's part from ``estimator``: -> (loss, model.grads).

    decoder part : ordinary back-propagation, ``−1/(NS) Σ_sn ∇θ log p(x_n|z_sn)`` (the same for
                   every estimator: the decoder never sees the score function)
    encoder part : ``−`` the estimator's ∇φ ELBO (so with "pathwise_kl" the whole gradient is
                   that of ``VAE.forward_backward(objective="elbo")``)
    loss         : ``−mean_n [mean_s log p(x_n|z_sn) − KL_n]`` (+ weight decay), nats per example.
    Weight decay, if the model has it, is added to loss and gradient as forward_backward does.
    """
    _check_model(model)
    model.check_x(x)
    _check_eps(model, x, eps)
    estimator = _check_estimator(estimator, eps.shape[0])
    s, n, _ = eps.shape
    h, cache = _encode(model, x)
    dr = _draws(model, x, h, eps, kl=R.get(estimator).needs_kl)
    model.decoder.flat_grads *= -1.0 / (s * n)
    dh = _estimator_dh(model, estimator, h, dr)
    dh *= -1.0
    model.encoder.backward(dh, cache, need_dx=False)
    elbo = model.elbo(x, None, eps=eps)          # the VAE's one ELBO evaluation (same eps)
    loss = -float(elbo.mean())
    if model.weight_decay:
        loss += 0.5 * model.weight_decay * float(np.dot(model.params, model.params))
        model.grads += model.weight_decay * model.params
    return loss, model.grads


class Moments(NamedTuple):
    """Per-parameter mean and (ddof=1) variance of R repeated estimates, float64 (P_enc,)."""
    mean: np.ndarray
    var: np.ndarray
    repetitions: int


def estimator_moments(model, x, n_samples, repetitions, rng, estimators=None):
    """Mean and variance, per encoder parameter, of the S-sample estimates over R repetitions.

    x : (N, D) fixed minibatch;  n_samples : S;  repetitions : R >= 2;  rng : Generator.
    Every repetition draws fresh noise (S, N, k), shared by all estimators.  The moments are
    accumulated in float64 by Welford's update (no (R, P_enc) array is kept).
    -> {name: Moments(mean (P_enc,), var (P_enc,), R)}
    """
    _check_model(model)
    model.check_x(x)
    s = check_positive_int(n_samples, "n_samples")
    r = _check_repetitions(repetitions)
    check_rng(rng)
    estimators = _check_estimators(estimators, s)
    p = model.encoder.flat_params.size
    mean = {e: np.zeros(p) for e in estimators}
    m2 = {e: np.zeros(p) for e in estimators}
    delta = np.empty(p)
    shape = (s, x.shape[0], model.z_dim)
    encoded = _encode(model, x)          # deterministic: one encoder forward pass for all R
    for i in range(r):
        eps = rng.standard_normal(shape, dtype=model.dtype)
        grads = _estimates(model, x, encoded, eps, estimators)
        for e in estimators:
            np.subtract(grads[e], mean[e], out=delta)          # Welford: δ = g − m_old
            mean[e] += delta * (1.0 / (i + 1))
            m2[e] += delta * (grads[e] - mean[e])             # δ (g − m_new)
    return {e: Moments(mean[e], m2[e] / (r - 1), r) for e in estimators}


def variance_study(model, x, sample_sizes=SAMPLE_SIZES, repetitions=100, *, rng, label=""):
    """Variance and signal-to-noise ratio of every estimator against the number of samples S.

    x : (N, D) fixed minibatch;  sample_sizes : the S values;  repetitions : R per S.
    Returns {"rows": [...], "reference": (P_enc,) float64, "layers": [layer names]}.  One row per
    (S, estimator): every estimator of registry.names("encoder") defined for that S (a
    leave-one-out baseline needs S >= 2), with keys
        model (= label), S, estimator, repetitions, n_examples, n_params,
        var_mean            mean over ALL encoder parameters of the variance across repetitions
                            (parameters the minibatch cannot move, e.g. weights of pixels that are
                            0 in every example, have variance 0 and count as such)
        var_<layer>         the same mean within one block, e.g. var_encoder.0.W
        snr_median, snr_mean  of |∇φ L| / std per parameter, over parameters with variance > 0
        err_ratio           ‖mean − reference‖² / (Σ_p var_p / R): the squared error of the
                            estimator's own mean over what its noise alone explains.  About 1
                            for an unbiased estimator (a bias would make it grow with R); below 1
                            for the pathwise estimators, which share their noise with the
                            reference (pathwise_kl is part of it)
        ref_norm            ‖reference‖₂
    The reference ∇φ L pools the "pathwise_kl" estimates of every S (weights ∝ S, since an S-sample
    mean has variance ∝ 1/S), i.e. R Σ S draws per example.  The SNR uses
    this pooled mean, not each estimator's own mean: with R repetitions, pure noise has
    |own mean|/std ≈ 0.8/√R, which would hide an SNR of the score function below that.
    """
    _check_model(model)
    model.check_x(x)
    sizes = [check_positive_int(s, "sample_sizes[i]") for s in sample_sizes]
    if not sizes:
        raise ValueError("sample_sizes must hold at least one S")
    r = _check_repetitions(repetitions)
    check_rng(rng)
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}")
    moments = {}
    for s in sizes:
        moments[s] = estimator_moments(model, x, s, r, rng)     # every one defined for this S
    reference = sum(s * moments[s][REFERENCE].mean for s in sizes) / sum(sizes)
    slices = layer_slices(model)
    rows = []
    for s in sizes:
        for name, m in moments[s].items():
            std = np.sqrt(m.var)
            live = std > 0
            snr = np.abs(reference[live]) / std[live]
            row = {"model": label, "S": s, "estimator": name, "repetitions": r,
                   "n_examples": x.shape[0], "n_params": m.var.size,
                   "var_mean": float(m.var.mean())}
            for layer, sl in slices.items():
                row[f"var_{layer}"] = float(m.var[sl].mean())
            row.update(snr_median=float(np.median(snr)) if snr.size else float("nan"),
                       snr_mean=float(snr.mean()) if snr.size else float("nan"),
                       err_ratio=float(np.sum((m.mean - reference) ** 2) / (m.var.sum() / r))
                       if m.var.sum() > 0 else float("nan"),
                       ref_norm=float(np.linalg.norm(reference)))
            rows.append(row)
    return {"rows": rows, "reference": reference, "layers": list(slices)}


def format_variance_table(rows):
    """Rows of :func:`variance_study` as a fixed-width text table (str)."""
    width = max([40] + [len(R.label(r["estimator"])) for r in rows])
    head = (f"{'model':<10} {'S':>4}  {'estimator':<{width}} {'var / param':>12} "
            f"{'x ' + REFERENCE:>13} {'SNR median':>10} {'SNR mean':>9}")
    lines = [head, "-" * len(head)]
    base = {(r["model"], r["S"]): r["var_mean"] for r in rows if r["estimator"] == REFERENCE}
    for row in rows:
        b = base.get((row["model"], row["S"]))
        ratio = f"{row['var_mean'] / b:>13.1f}" if b else f"{'':>13}"
        lines.append(f"{row['model']:<10} {row['S']:>4}  {R.label(row['estimator']):<{width}} "
                     f"{row['var_mean']:>12.4e} {ratio} {row['snr_median']:>10.4f} "
                     f"{row['snr_mean']:>9.4f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- training


def mean_elbo(model, x, rng, n_samples=1, batch_size=1000):
    """Mean ELBO over x (closed-form KL, ``n_samples`` draws per example), in batches: float."""
    check_rng(rng)
    batch_size = check_positive_int(batch_size, "batch_size")
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        total += float(model.elbo(x[i:i + batch_size], rng, n_samples).sum(dtype=np.float64))
    return total / x.shape[0]


def train_with_estimator(model, x_train, estimator, *, steps, rng, batch_size=100, n_samples=5,
                         lr=1e-3, x_test=None, eval_every=100, eval_seed=0):
    """Train ``model`` in place with Adam, the encoder's gradient from ``estimator``.

    The decoder always gets its ordinary back-propagated gradient (:func:`loss_gradient`).
    Minibatches are contiguous slices of a fresh permutation every epoch; each step draws
    noise (n_samples, batch_size, k) from ``rng``.
    x_test     : optional (M, D); its mean ELBO is evaluated at step 0, every ``eval_every`` steps
                 and at the end, each time with the same noise (``default_rng(eval_seed)``), so
                 the test curve is free of evaluation noise.
    -> history {"estimator", "step" (T,), "train_elbo" (T,) the minibatch ELBO before each update,
                "eval_step" (E,), "test_elbo" (E,), "diverged_at" (step or None)}.
    A non-finite loss stops training and records the step in "diverged_at".
    """
    _check_model(model)
    model.check_x(x_train, "x_train")
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    n_samples = check_positive_int(n_samples, "n_samples")
    estimator = _check_estimator(estimator, n_samples)
    check_positive_float(lr, "lr")
    eval_every = check_positive_int(eval_every, "eval_every")
    check_rng(rng)
    if batch_size > x_train.shape[0]:
        raise ValueError(f"batch_size must be at most the {x_train.shape[0]} training examples, "
                         f"got {batch_size}")
    if x_test is not None:
        model.check_x(x_test, "x_test")
    opt = Adam(lr)
    n_train = x_train.shape[0]
    per_epoch = n_train // batch_size
    batch = np.empty((batch_size, model.x_dim), model.dtype)
    train_elbo = np.full(steps, np.nan)
    eval_steps, test_elbo = [], []

    def evaluate(step):
        if x_test is not None:
            eval_steps.append(step)
            test_elbo.append(mean_elbo(model, x_test, np.random.default_rng(eval_seed)))

    evaluate(0)
    diverged = None
    perm = None
    for t in range(steps):
        j = t % per_epoch
        if j == 0:
            perm = rng.permutation(n_train)
        np.take(x_train, perm[j * batch_size:(j + 1) * batch_size], axis=0, out=batch)
        eps = rng.standard_normal((n_samples, batch_size, model.z_dim), dtype=model.dtype)
        loss, grad = loss_gradient(model, batch, eps, estimator)
        if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
            diverged = t
            break
        train_elbo[t] = -loss
        opt.step(model.params, grad)
        if (t + 1) % eval_every == 0 and t + 1 < steps:
            evaluate(t + 1)
    if diverged is None:
        evaluate(steps)
    return {"estimator": estimator, "step": np.arange(steps), "train_elbo": train_elbo,
            "eval_step": np.array(eval_steps, dtype=np.int64), "test_elbo": np.array(test_elbo),
            "diverged_at": diverged}


def __getattr__(name):
    """``ESTIMATORS`` and ``LABELS``: the encoder study's names and labels, read from the
    registry at each use (never a copy taken at import)."""
    if name == "ESTIMATORS":
        return R.names(R.ENCODER)
    if name == "LABELS":
        return R.labels(R.ENCODER)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
