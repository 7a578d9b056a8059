"""The training step against its own matrix products, PyTorch eager, and a split over two threads.

Issue 15's model: the 784-400-20 VAE, ReLU, Bernoulli decoder, Adam (lr 1e-3), batch 128, float32;
one step = noise + forward + backward + Adam.  Every contender is timed in the same process, in
*interleaved rounds*: each round times every contender (``reps`` calls each, after two untimed
calls, median per call), the order rotating from round to round, with a short pause between
blocks so that the spinning worker threads of one library (OpenBLAS's, OpenMP's) have gone to
sleep before the next one starts.  Load drift on a shared machine then reaches all contenders
alike; the ratios are taken round by round, and printed as the median with the range over rounds.

The split step (``threads >= 2``): the minibatch is cut into ``T`` equal parts, each part's
forward and backward runs on its own Python thread (NumPy's ufuncs and OpenBLAS release the GIL)
with BLAS at one thread, on ``T`` VAE objects that share one parameter vector but own their
gradients; the part gradients are means over their parts, so the full-batch gradient is their
average.  Then one Adam step, on one thread ("split"), or cut into ``T`` slices of the flat vector
updated on the ``T`` threads ("split, Adam too": Adam is elementwise, so ``T`` optimizers over
``T`` slices are the same update).
"""
from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

X_DIM, Z_DIM = 784, 20


# ----------------------------------------------------------------- the products of one step

def layer_dims(hidden, x_dim=X_DIM, z_dim=Z_DIM):
    """(D_in, D_out) of the four Dense layers: encoder 784-H-2k, decoder k-H-784."""
    return [(x_dim, hidden), (hidden, 2 * z_dim), (z_dim, hidden), (hidden, x_dim)]


def step_products(batch, hidden, x_dim=X_DIM, z_dim=Z_DIM):
    """The matrix products of one training step, as (what, m, k, n) for an (m, k) @ (k, n):

        forward   y  = x @ W          (N, D_in) @ (D_in, D_out)     every layer
        backward  dW = x.T @ dy       (D_in, N) @ (N, D_out)        every layer
                  dx = dy @ W.T       (N, D_out) @ (D_out, D_in)    all but the first layer
                                      (the data needs no gradient: 4 + 4 + 3 = 11 products)
    """
    out = []
    for i, (din, dout) in enumerate(layer_dims(hidden, x_dim, z_dim)):
        out.append(("y", batch, din, dout))
        out.append(("dW", din, batch, dout))
        if i > 0:
            out.append(("dx", batch, dout, din))
    return out


def products_runner(batch, hidden, rng):
    """A function that computes the step's products alone, with the operands laid out as
    functional.dense_forward / dense_backward lay them out (x.T and W.T are transposed views,
    dW is written into a preallocated block)."""
    import numpy as np

    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float32)
    ops = []
    for i, (din, dout) in enumerate(layer_dims(hidden)):
        x, W, dy = rand(batch, din), rand(din, dout), rand(batch, dout)
        ops.append((x, W, dy, np.empty((din, dout), np.float32), i > 0))

    def run():
        for x, W, dy, dW, need_dx in ops:
            x @ W
            np.matmul(x.T, dy, out=dW)
            if need_dx:
                dy @ W.T
    return run


# ----------------------------------------------------------------- timing

def median_time(fn, reps, warmup=2):
    """Median seconds of ``reps`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)



def interleaved(fns, rounds, reps, pause=0.2, before=None, cores=None):
    """{name: [seconds per call, one median per round]} for the callables ``fns`` ({name: fn}),
    timed in ``rounds`` rounds of ``reps`` calls each, the order rotating.  ``before[name]()`` (if
    given) runs before that name's block, untimed (e.g. to set the BLAS thread count).
    ``cores`` (a dict, if given) receives {name: [CPU time / wall time of each block]}: how many
    cores the callable kept busy (1.0 = one; a library that starts threads of its own shows
    more than the thread count it was given)."""
    names = list(fns)
    out = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if before and name in before:
                before[name]()
            if pause:
                time.sleep(pause)
            cpu, wall = time.process_time(), time.perf_counter()
            out[name].append(median_time(fns[name], reps))
            if cores is not None:
                cores.setdefault(name, []).append(
                    (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9))
    return out


def summary(times):
    """Per-round seconds -> {"ms": median, "lo": min, "hi": max} in ms."""
    ms = [t * 1e3 for t in times]
    return {"ms": statistics.median(ms), "lo": min(ms), "hi": max(ms)}


def ratio_summary(num, den):
    """Round-by-round ratio num/den -> {"ratio": median, "lo": min, "hi": max}."""
    rs = [a / b for a, b in zip(num, den)]
    return {"ratio": statistics.median(rs), "lo": min(rs), "hi": max(rs)}


# ----------------------------------------------------------------- numpyvae

def setup(batch=128, hidden=400, seed=0, kernels="numpy"):
    """(model, Adam, binary minibatch x, rng): the benchmark's 784-H-20 VAE; ``kernels`` is
    Adam's path (numpy or fused, optim.py)."""
    import numpy as np

    import numpyvae as nv
    rng = np.random.default_rng(seed)
    model = nv.VAE(X_DIM, [hidden], Z_DIM, rng=rng)
    x = (rng.random((batch, X_DIM), dtype=np.float32) < 0.13).astype(np.float32)
    return model, nv.optim.Adam(1e-3, kernels=kernels), x, rng


def numpyvae_step(model, opt, x, rng, kernels=None):
    """One training step; ``kernels`` ("numpy" or "fused") is the path of the model's elementwise
    passes during it (``fused.using``), None: the process's current one."""
    import contextlib

    import numpy as np

    from numpyvae import fused

    def step():
        with fused.using(kernels) if kernels else contextlib.nullcontext():
            eps = rng.standard_normal((1, x.shape[0], Z_DIM), dtype=np.float32)
            model.forward_backward(x, eps)
            opt.step(model.params, model.grads)
    return step


def twin(model):
    """A second VAE computing with the *same* parameter memory as ``model`` and its own gradients.

    Built through the public API: a VAE of the same config, whose leaf layers' ``params`` dicts
    are then pointed at ``model``'s (views into ``model.params``); ``Sequential.rebind`` refreshes
    the name -> view dicts.  An optimizer step on ``model.params`` moves both."""
    import numpy as np

    import numpyvae as nv
    other = nv.VAE(**model.config, rng=np.random.default_rng(0))
    mine = model.encoder.leaves() + model.decoder.leaves()
    theirs = other.encoder.leaves() + other.decoder.leaves()
    for a, b in zip(mine, theirs):
        b.params, b.flat_params = a.params, a.flat_params
    other.encoder.rebind()
    other.decoder.rebind()
    other.params = model.params
    for name, view in other.named_params().items():
        assert np.shares_memory(view, model.params), name
    return other


class SplitStep:
    """One training step over ``len(models)`` equal parts of the minibatch on as many threads.

    models : VAEs sharing one parameter vector (``twin``), models[0] the owner;  x : (N, D)
    adam_split : False -> one Adam over the whole vector on the calling thread; True -> one Adam
    per slice of the vector, each on its thread (the same update: Adam is elementwise).
    The calling thread takes part 0; a pool of ``T - 1`` threads the others."""

    def __init__(self, models, x, rng, lr=1e-3, adam_split=False):
        import numpyvae as nv
        self.models, self.x, self.rng, self.adam_split = models, x, rng, adam_split
        t, n = len(models), x.shape[0]
        if n % t:
            raise ValueError(f"batch {n} does not split into {t} equal parts")
        self.bounds = [(i * n // t, (i + 1) * n // t) for i in range(t)]
        p = models[0].params.size
        self.slices = [slice(i * p // t, (i + 1) * p // t) for i in range(t)]
        self.opts = [nv.optim.Adam(lr) for _ in (self.slices if adam_split else [0])]
        self.pool = ThreadPoolExecutor(max_workers=t - 1) if t > 1 else None

    def gradient(self, eps):
        """Forward + backward of every part; the average gradient in models[0].grads."""
        def part(i):
            lo, hi = self.bounds[i]
            return self.models[i].forward_backward(self.x[lo:hi], eps[:, lo:hi])
        futures = [self.pool.submit(part, i) for i in range(1, len(self.models))]
        part(0)
        for f in futures:
            f.result()
        if not self.adam_split:
            self._average(slice(None))

    def _average(self, s):
        # Each part's gradient is a mean over its n/T examples: the full-batch mean is their
        # average (equal parts).
        g = self.models[0].grads[s]
        for m in self.models[1:]:
            g += m.grads[s]
        g *= 1.0 / len(self.models)

    def _update(self, i):
        s = self.slices[i]
        self._average(s)
        self.opts[i].step(self.models[0].params[s], self.models[0].grads[s])

    def __call__(self):
        eps = self.rng.standard_normal((1, self.x.shape[0], Z_DIM), dtype=self.models[0].dtype)
        self.gradient(eps)
        if self.adam_split:
            futures = [self.pool.submit(self._update, i) for i in range(1, len(self.slices))]
            self._update(0)
            for f in futures:
                f.result()
        else:
            self.opts[0].step(self.models[0].params, self.models[0].grads)

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


def split_gradient_error(models, x, rng):
    """max |split - full| / max |full| of the gradient, for one fixed noise draw: the
    average of the part gradients against the full-batch gradient of models[0] (float32
    rounding is about 1e-7 of the sums' terms)."""
    eps = rng.standard_normal((1, x.shape[0], Z_DIM)).astype(models[0].dtype)
    models[0].forward_backward(x, eps)
    full = models[0].grads.copy()
    step = SplitStep(models, x, rng)
    try:
        step.gradient(eps)
    finally:
        step.close()
    split = models[0].grads
    return float(abs(split - full).max() / abs(full).max())


SPLIT_TOLERANCE = 1e-5      # float32 eps is 1.2e-7; the sums over 64 vs 128 rows round apart


def _jax():
    """benchmarks/jax_step.py (imported by path, as this file is)."""
    import importlib.util
    import os
    import sys
    name = "numpyvae_bench_jax_step"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jax_step.py")
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


# ----------------------------------------------------------------- PyTorch eager

def torch_info(threads):
    """Import PyTorch if it is there and fix its thread counts; a dict for the printout."""
    try:
        import torch
    except ImportError:
        return {"available": False}
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:                 # already set, or parallel work already started
        pass
    config = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in config.replace(",", " ").split()
                 if part.startswith("BLAS_INFO=")), "?")
    return {"available": True, "version": torch.__version__,
            "capability": torch.backends.cpu.get_cpu_capability(),
            "blas": blas, "mkl": bool(torch.backends.mkl.is_available()),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}


def torch_model(model):
    """The same VAE in PyTorch (nn.Linear 784-400, ReLU, 400-40 = [mu | logvar]; 20-400, ReLU,
    400-784 logits), starting from ``model``'s weights (nn.Linear's weight is our W.T)."""
    import torch
    from torch import nn

    named = model.named_params()
    h, k = model.hidden_dims[0], model.z_dim

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.enc2 = nn.Linear(X_DIM, h), nn.Linear(h, 2 * k)
            self.dec1, self.dec2 = nn.Linear(k, h), nn.Linear(h, X_DIM)

        def forward(self, x, eps=None):
            """x : (N, 784) -> loss: BCE-with-logits summed over pixels + analytic KL, mean
            over the batch (= our -ELBO in nats per example)."""
            mu, logvar = self.enc2(torch.relu(self.enc1(x))).chunk(2, dim=1)
            std = torch.exp(0.5 * logvar)
            z = mu + std * (torch.randn_like(std) if eps is None else eps)
            logits = self.dec2(torch.relu(self.dec1(z)))
            rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
            kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(dim=1)
            return (rec.sum(dim=1) + kl).mean()

    net = TorchVAE()
    with torch.no_grad():
        for layer, prefix in ((net.enc1, "encoder.0"), (net.enc2, "encoder.2"),
                              (net.dec1, "decoder.0"), (net.dec2, "decoder.2")):
            layer.weight.copy_(torch.from_numpy(named[f"{prefix}.W"].T.copy()))
            layer.bias.copy_(torch.from_numpy(named[f"{prefix}.b"].copy()))
    return net


def torch_step(net, x, fused=False):
    """PyTorch's step: eager, with its default Adam (``fused=False``: the for-each
    implementation) or ``Adam(fused=True)``."""
    import torch
    xt = torch.from_numpy(x)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = net(xt)
        loss.backward()
        opt.step()
    return step


def torch_compiled_step(net, x):
    """``torch.compile`` on the model (forward and, through AOTAutograd, backward) with the
    fused Adam -> (step, seconds the first two calls took: the compilation)."""
    import torch
    compiled = torch.compile(net)
    step = torch_step(compiled, x, fused=True)
    t = time.perf_counter()
    step()
    step()
    return step, time.perf_counter() - t


def torch_products_runner(batch, hidden):
    """The step's 11 products alone in PyTorch (torch.mm on its own GEMM)."""
    import torch
    g = torch.Generator().manual_seed(0)
    ops = []
    for i, (din, dout) in enumerate(layer_dims(hidden)):
        x, W = torch.randn(batch, din, generator=g), torch.randn(din, dout, generator=g)
        ops.append((x, W, torch.randn(batch, dout, generator=g), i > 0))

    def run():
        with torch.no_grad():
            for x, W, dy, need_dx in ops:
                torch.mm(x, W)
                torch.mm(x.t(), dy)
                if need_dx:
                    torch.mm(dy, W.t())
    return run


def torch_sgemm_rate(n=1024, repeats=10):
    import torch
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    c = torch.empty(n, n)
    t = median_time(lambda: torch.mm(a, b, out=c), repeats)
    return 2 * n ** 3 / t / 1e9


def same_function(model, net, x, rng):
    """For one shared noise draw: the relative difference of the two losses and
    max |g_torch - g_ours| / max |g_ours| over the gradients (the two models compute the same
    function; float32 rounding is about 1e-7).  Leaves ``model.grads`` and the torch grads set."""
    import numpy as np
    import torch
    eps = rng.standard_normal((1, x.shape[0], Z_DIM), dtype=np.float32)
    ours = model.forward_backward(x, eps)["loss"]
    net.zero_grad(set_to_none=True)
    loss = net(torch.from_numpy(x), torch.from_numpy(eps[0]))
    loss.backward()
    named = model.named_grads()
    err = scale = 0.0
    for layer, prefix in ((net.enc1, "encoder.0"), (net.enc2, "encoder.2"),
                          (net.dec1, "decoder.0"), (net.dec2, "decoder.2")):
        for theirs, mine in ((layer.weight.grad.numpy().T, named[f"{prefix}.W"]),
                             (layer.bias.grad.numpy(), named[f"{prefix}.b"])):
            err = max(err, float(np.max(np.abs(theirs - mine))))
            scale = max(scale, float(np.max(np.abs(mine))))
    net.zero_grad(set_to_none=True)
    return {"loss": ours, "loss_rel_diff": abs(loss.item() - ours) / abs(ours),
            "grad_rel_diff": err / scale}


# ----------------------------------------------------------------- the whole comparison

def compare(threads, batch=128, hidden=400, rounds=7, reps=20, pause=0.2, with_torch=True,
            with_compile=True, with_jax=True, with_split=True):
    """Interleaved rounds of: the numpyvae step (Adam on the NumPy path), the same step with the
    fused kernels (``--kernels fused``: Adam and the model's elementwise passes, when numba
    imports), its products alone, and (when
    importable) PyTorch eager with its default and its fused Adam, ``torch.compile`` (unless
    ``with_compile`` is False: it compiles for ~20 s), PyTorch's products, and JAX's whole step
    under ``jit``; at ``threads >= 2`` also the split step (``with_split``).
    Returns a JSON-able dict (ms with ranges over rounds, round-by-round ratios)."""
    import copy

    import numpy as np

    from numpyvae import _threads, fused
    info = torch_info(threads) if with_torch else {"available": False}
    jax_info = _jax().info(threads) if with_jax else {"available": False}
    model, opt, x, rng = setup(batch, hidden)
    out = {"batch": batch, "hidden": hidden, "rounds": rounds, "reps": reps,
           "products": len(step_products(batch, hidden)), "torch": info, "jax": jax_info}
    fns = {"step": numpyvae_step(model, opt, x, rng, "numpy"),
           "products": products_runner(batch, hidden, rng)}
    if fused.available():
        fmodel, fopt, _, frng = setup(batch, hidden, kernels="fused")
        out["fused_compile_s"] = fused.prepare("adam", np.float32) + fused.prepare_model(np.float32)
        fns["fused"] = numpyvae_step(fmodel, fopt, x, frng, "fused")
        out["fused_numba"] = fused.describe()
    before = {}
    if info["available"]:
        import torch
        net = torch_model(model)                  # the same weights as the numpyvae model
        out["torch_same_function"] = same_function(model, net, x, np.random.default_rng(1))
        out["torch_sgemm_gflops"] = torch_sgemm_rate()
        fns["torch_step"] = torch_step(net, x)
        fns["torch_fused"] = torch_step(copy.deepcopy(net), x, fused=True)
        if with_compile:
            try:
                fns["torch_compiled"], out["torch_compile_s"] = torch_compiled_step(
                    copy.deepcopy(net), x)
            except Exception as e:                # no C compiler, an unsupported platform, ...
                out["torch_compile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
                torch._dynamo.reset()
        fns["torch_products"] = torch_products_runner(batch, hidden)
    if jax_info["available"]:
        jx = _jax()
        e = np.random.default_rng(2).standard_normal((1, batch, Z_DIM), dtype=np.float32)
        ours = model.forward_backward(x, e)["loss"]
        out["jax_same_function"] = {"loss": ours,
                                    "loss_rel_diff": abs(jx.loss_at(model, x, e[0]) - ours) / abs(ours)}
        fns["jax_step"], out["jax_compile_s"] = jx.make_step(model, x)
    steps = {}
    if threads >= 2 and with_split:
        smodel, _, _, srng = setup(batch, hidden)
        parts = [smodel] + [twin(smodel) for _ in range(threads - 1)]
        out["split_parts"] = threads
        _threads.set_blas_threads(1)
        out["split_grad_error"] = split_gradient_error(parts, x, srng)
        _threads.set_blas_threads(threads)
        assert out["split_grad_error"] < SPLIT_TOLERANCE, out["split_grad_error"]
        for name, adam_split in (("split", False), ("split_adam", True)):
            steps[name] = SplitStep(parts, x, srng, adam_split=adam_split)
            fns[name] = steps[name]
            before[name] = lambda: _threads.set_blas_threads(1)
        for name in fns:
            before.setdefault(name, lambda: _threads.set_blas_threads(threads))
    try:
        cores = {}
        times = interleaved(fns, rounds, reps, pause=pause, before=before, cores=cores)
    finally:
        for s in steps.values():
            s.close()
        _threads.set_blas_threads(threads)
    if steps:
        # the parameters have moved on many Adam steps: the twins still compute with them
        _threads.set_blas_threads(1)
        out["split_grad_error_after"] = split_gradient_error(parts, x, srng)
        _threads.set_blas_threads(threads)
        assert out["split_grad_error_after"] < SPLIT_TOLERANCE, out["split_grad_error_after"]
        out["split_blas_threads"] = 1
    out["ms"] = {name: summary(ts) for name, ts in times.items()}
    out["cores"] = {name: statistics.median(c) for name, c in cores.items()}
    out["step_over_products"] = ratio_summary(times["step"], times["products"])
    if info["available"]:
        out["torch_over_step"] = ratio_summary(times["torch_step"], times["step"])
        out["torch_step_over_products"] = ratio_summary(times["torch_step"],
                                                        times["torch_products"])
    if "fused" in times:
        out["fused_over_products"] = ratio_summary(times["fused"], times["products"])
        out["step_over_fused"] = ratio_summary(times["step"], times["fused"])
        for name in ("torch_step", "torch_fused", "torch_compiled", "jax_step"):
            if name in times:               # > 1: numpyvae with the fused kernels is faster
                out[f"{name}_over_fused"] = ratio_summary(times[name], times["fused"])
    for name in steps:
        out[f"step_over_{name}"] = ratio_summary(times["step"], times[name])
    return out
