"""Throughput benchmark: how close the hand-written float32 VAE gets to the machine's sgemm rate.

    python benchmarks/throughput.py [--quick] [--threads 1 2] [--json out.json]
    numpyvae bench [--quick]                     (the same, through the CLI)

Every measurement runs in a child process whose BLAS thread count is fixed *before* NumPy is
imported (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS), and compares against the
sgemm rate measured in that same child.  Times are medians of repeated runs after a warm-up.

The printout starts with the machine (machine.py: the CPU, the SIMD extensions NumPy dispatches
to, the machine kind AVX-512 / AVX2 / other, the BLAS), and for batch 128, H = 400 it compares,
in interleaved rounds in the same child (step_compare.py): the step against its own 11 matrix
products, PyTorch eager on the same model (when PyTorch is importable: the optional
``numpyvae[bench]`` extra), and at 2 threads the step split into half-batches on two threads.

Model FLOPs of one training step (forward + backward matrix products of the 784-H-k-H-784 VAE
at batch B; the first layer's data gradient is not needed and not counted or computed):
    forward   2B (784 H + H 2k + k H + H 784)
    backward  2B (784 H + H 2k + k H + H 784)   weight gradients
            + 2B (H 2k + k H + H 784)           input gradients of all but the first layer
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time

X_DIM, Z_DIM = 784, 20
TARGETS = {"step_over_products": 1.25, "torch_over_step": 1.5, "torch_goal": 2.0,
           "epoch_over_steps": 1.10, "loglik_over_sgemm": 0.5}


def _sibling(name):
    """benchmarks/<name>.py, imported by path (this file is itself loaded by path)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"numpyvae_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


machine = _sibling("machine")
step_compare = _sibling("step_compare")


def step_flops(batch, hidden, x_dim=X_DIM, z_dim=Z_DIM):
    """FLOPs of the step's matrix products (step_compare.step_products: 11 of them)."""
    return sum(2 * m * k * n for _, m, k, n in step_compare.step_products(batch, hidden, x_dim,
                                                                          z_dim))


def sample_flops(hidden, x_dim=X_DIM, z_dim=Z_DIM):
    """FLOPs of the decoder for one importance sample (the encoder runs once per image)."""
    return 2 * (z_dim * hidden + hidden * x_dim)


# ----------------------------------------------------------------- measurements (child side)

def _median_time(fn, repeats, warmup=3):
    return step_compare.median_time(fn, repeats, warmup)


def sgemm_rate(n=1024, repeats=15):
    """GFLOP/s of a float32 n x n x n matrix product (the machine's practical sgemm peak)."""
    import numpy as np
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    c = np.empty((n, n), np.float32)
    t = _median_time(lambda: np.matmul(a, b, out=c), repeats)
    return 2 * n ** 3 / t / 1e9


def model_shapes_rate(batch, hidden, repeats=20):
    """GFLOP/s of the step's own 11 matrix products alone (same shapes and operand layouts as
    the step's, nothing else: step_compare.products_runner)."""
    import numpy as np
    run = step_compare.products_runner(batch, hidden, np.random.default_rng(0))
    return step_flops(batch, hidden) / _median_time(run, repeats) / 1e9


KERNELS = "numpy"        # Adam's path in the child's tables (--kernels; set by child_main)


def _step_setup(batch, hidden):
    """(model, Adam, binary minibatch x, rng) for timing steps of the 784-H-20-H-784 VAE."""
    return step_compare.setup(batch, hidden, kernels=KERNELS)


def train_step_time(batch, hidden, repeats=30):
    """Median seconds of one Adam training step (loss, backward, update) at this size."""
    import numpy as np
    model, opt, x, rng = _step_setup(batch, hidden)

    def step():
        eps = rng.standard_normal((1, batch, Z_DIM), dtype=np.float32)
        model.forward_backward(x, eps)
        opt.step(model.params, model.grads)
    return _median_time(step, repeats, warmup=5)


def step_breakdown(batch=128, hidden=400, repeats=40, rounds=5):
    """Median ms of the step's parts at this size: forward+backward, the Adam update, and the
    11 matrix products alone (``step_compare.products_runner``), timed in interleaved rounds so
    that a change of the machine's speed reaches all three alike (medians over the rounds);
    the rest of forward+backward is activations, the loss, bias terms and Python."""
    import numpy as np
    model, opt, x, rng = _step_setup(batch, hidden)
    eps = rng.standard_normal((1, batch, Z_DIM), dtype=np.float32)
    parts = step_compare.interleaved(
        {"fb": lambda: model.forward_backward(x, eps),
         "adam": lambda: opt.step(model.params, model.grads),
         "products": step_compare.products_runner(batch, hidden, rng)},
        rounds=rounds, reps=max(1, repeats // rounds), pause=0.05)
    ms = {k: statistics.median(v) * 1e3 for k, v in parts.items()}
    return {"forward_backward_ms": ms["fb"], "adam_ms": ms["adam"], "products_ms": ms["products"]}


def epoch_time(batch=128, hidden=400, n=60_000):
    """Seconds of one full epoch through the real training loop on MNIST-sized data (the batches,
    the noise, the logged loss and the end-of-epoch test ELBO), and of the training steps inside
    it (forward+backward and Adam, timed where the loop calls them).  Their ratio is the epoch's
    overhead, measured in the same seconds, so a change of the machine's speed does not move it.
    Two epochs are run; the second one is the steady-state figure.  -> (epoch s, its steps' s,
    first epoch s)."""
    import numpy as np

    import numpyvae as nv
    from numpyvae import train as T
    rng = np.random.default_rng(0)
    x = (rng.random((n, X_DIM), dtype=np.float32) < 0.13).astype(np.float32)
    x_test = x[:1000].copy()
    model = nv.VAE(X_DIM, [hidden], Z_DIM, rng=rng)
    opt = nv.optim.Adam(1e-3, kernels=KERNELS)
    inside = [0.0]

    def timed(fn):
        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if kwargs.get("need_grad", True):       # not the test ELBO's forward passes
                    inside[0] += time.perf_counter() - t
        return call
    model.forward_backward, opt.step = timed(model.forward_backward), timed(opt.step)
    at_epoch = {}

    def on_step(state):
        at_epoch.setdefault(state.epoch, inside[0])     # the first step of each epoch
    state = T.train(model, opt, x, x_test, T.TrainConfig(epochs=2, batch_size=batch), rng,
                    on_step=on_step)
    first, second = state.history[0]["seconds"], state.history[1]["seconds"]
    # the second epoch's steps, timed from the end of its first step (that one step is counted
    # as the mean of the others)
    steps = math.ceil(n / batch)
    second_steps = (inside[0] - at_epoch[1]) * steps / (steps - 1)
    return second - first, second_steps, first


def loglik_rate(n_images=20, k=5000, hidden=400):
    """Importance-sampled log-likelihood: decoder GFLOP/s and peak memory (MiB)."""
    import resource

    import numpy as np

    import numpyvae as nv
    from numpyvae import evaluate as E
    rng = np.random.default_rng(0)
    model = nv.VAE(X_DIM, [hidden], Z_DIM, rng=rng)
    x = (rng.random((n_images, X_DIM), dtype=np.float32) < 0.13).astype(np.float32)
    E.log_likelihood(model, x[:2], k=200, rng=rng)                     # warm-up
    t = time.perf_counter()
    E.log_likelihood(model, x, k=k, rng=rng)
    seconds = time.perf_counter() - t
    flops = n_images * k * (sample_flops(hidden) + 2 * X_DIM * hidden / k)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"k": k, "seconds": seconds, "gflops": flops / seconds / 1e9, "peak_mib": peak_mib,
            "images_per_s_at_k": n_images / seconds,
            "extrapolated_10k_test_s": seconds * 10_000 / n_images}


def classroom_time():
    import numpy as np

    from numpyvae import estimators as est
    t = time.perf_counter()
    est.classroom_experiment(rng=np.random.default_rng(0))
    return time.perf_counter() - t


def child_main(spec):
    """Run the measurements named in ``spec`` in this process; print one JSON line."""
    global KERNELS
    import numpy as np

    from numpyvae import _threads, fused
    # as `numpyvae train --threads N` does for its own process (the environment already holds
    # N for the BLAS; this also sets whatever else numpyvae splits over N threads)
    _threads.set_blas_threads(spec["threads"])
    KERNELS = fused.resolve(spec.get("kernels", "auto"))
    fused.use(KERNELS)                    # the model's elementwise passes too, as `train` does
    if KERNELS == "fused":
        fused.prepare("adam", np.float32)
        fused.prepare_model(np.float32)
    out = {"threads": spec["threads"], "cpus": spec.get("cpus"), "machine": machine.describe(),
           "sgemm_gflops": sgemm_rate(), "kernels": KERNELS,
           "kernels_detail": fused.describe() if KERNELS == "fused" else fused.why_numpy()}
    if spec.get("only_compare"):
        spec = {**spec, "grid": [], "epoch": False, "loglik": False, "classroom": False}
    rows = []
    for batch, hidden in spec["grid"]:
        t = train_step_time(batch, hidden, repeats=spec["repeats"])
        fl = step_flops(batch, hidden)
        rows.append({"batch": batch, "hidden": hidden, "ms_per_step": t * 1e3,
                     "samples_per_s": batch / t, "model_gflops": fl / t / 1e9,
                     "shapes_gflops": model_shapes_rate(batch, hidden)})
    out["steps"] = rows
    if spec.get("epoch"):
        out["epoch_s"], out["epoch_steps_s"], out["first_epoch_s"] = epoch_time(n=spec["epoch_n"])
        out["epoch_n"] = spec["epoch_n"]
        out["step128_ms"] = train_step_time(128, 400, repeats=spec["repeats"]) * 1e3
        out["breakdown"] = step_breakdown(repeats=spec["repeats"])
    if spec.get("loglik"):
        out["loglik"] = loglik_rate(n_images=spec["loglik_images"], k=spec["loglik_k"])
    if spec.get("classroom"):
        out["classroom_s"] = classroom_time()
    if spec.get("compare"):
        # last: it imports PyTorch and JAX (their libraries stay loaded in this process)
        for batch in spec.get("compare_batches", [128]):
            c = step_compare.compare(spec["threads"], batch=batch, **spec["compare"],
                                     with_split=batch == 128)
            out.setdefault("compares", []).append(c)
            if batch == 128:
                out["compare"] = c                   # the section printed in full
    out["sgemm_gflops_end"] = sgemm_rate()
    print(json.dumps(out))


# ----------------------------------------------------------------- parent side

def cpus_for(threads):
    """The CPUs a child measuring at ``threads`` threads is confined to: ``threads`` of the CPUs
    this process may run on, or None (no confinement) when there are no more than that or the
    platform cannot confine.  A thread count alone does not bind every library: XLA keeps a
    thread pool of its own whatever XLA_FLAGS says (measured: JAX's "one-thread" step kept 1.9
    cores busy on a 2-core machine), so every contender in the child gets the same cores."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:                          # macOS, Windows: no affinity call
        return None
    return allowed[:threads] if threads < len(allowed) else None


def confine(spec):
    """In the child, first of all (before NumPy, PyTorch or JAX start threads, which inherit
    the mask): run on ``spec["cpus"]`` only."""
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])


def run_child(spec):
    spec = {**spec, "cpus": cpus_for(spec["threads"])}
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(spec["threads"])
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rng(d, digits=2):
    return f"{d['lo']:.{digits}f}-{d['hi']:.{digits}f}"


def compare_lines(c, threads):
    """The interleaved comparison at batch 128, H = 400, for one thread count."""
    ms, t = c["ms"], TARGETS
    vs_torch = " vs PyTorch eager" if "torch_step" in ms else ""
    lines = [(f"step vs its products{vs_torch}, batch {c['batch']}, H = {c['hidden']}, "
              f"{threads} thread(s): {c['rounds']} interleaved rounds x {c['reps']} calls, "
              "median (range over rounds)")]
    w = 48
    lines.append(f"  {'numpyvae step (noise, forward, backward, Adam)':<{w}}"
                 f"{ms['step']['ms']:7.2f} ms ({_rng(ms['step'])})")
    label = f"its {c['products']} matrix products alone"
    lines.append(f"  {label:<{w}}"
                 f"{ms['products']['ms']:7.2f} ms ({_rng(ms['products'])})")
    r = c["step_over_products"]
    lines.append(f"  step ÷ products {r['ratio']:.2f} (rounds {_rng(r)})   "
                 f"target ≤ {t['step_over_products']:.2f}")
    if "torch_step" in ms:
        r = c["torch_over_step"]
        lines.append(f"  {'PyTorch eager step (same model, weights, data)':<{w}}"
                     f"{ms['torch_step']['ms']:7.2f} ms ({_rng(ms['torch_step'])}); its products "
                     f"alone {ms['torch_products']['ms']:.2f} ms ({_rng(ms['torch_products'])}); "
                     f"torch.mm 1024^3 {c['torch_sgemm_gflops']:.1f} GFLOP/s; torch threads "
                     f"{c['torch']['threads']} (+{c['torch']['interop_threads']} inter-op)")
        lines.append(f"  PyTorch ms ÷ numpyvae ms {r['ratio']:.2f} (rounds {_rng(r)})   "
                     f"target ≥ {t['torch_over_step']:.1f}, goal {t['torch_goal']:.0f}")
        same = c["torch_same_function"]
        lines.append(f"  (the same function: for one shared noise draw the losses ({same['loss']:.2f}"
                     f" nats) differ by {same['loss_rel_diff']:.1e} of the loss, the gradients by "
                     f"{same['grad_rel_diff']:.1e} of max |g|; PyTorch's GEMM is its own, see "
                     "the PyTorch line at the top)")
    if "split" in ms:
        lines.append(f"  split: {c['split_parts']} parts of {c['batch'] // c['split_parts']} on "
                     f"{c['split_parts']} Python threads, BLAS {c['split_blas_threads']} thread "
                     f"each; averaged gradient vs full-batch: max |diff| / max |g| = "
                     f"{c['split_grad_error']:.1e} before, {c['split_grad_error_after']:.1e} "
                     f"after the timed steps (asserted < {step_compare.SPLIT_TOLERANCE:.0e})")
        for name, label in (("split", "split, Adam on one thread"),
                            ("split_adam", "split, Adam split over the threads too")):
            r = c[f"step_over_{name}"]
            lines.append(f"  {label:<{w}}{ms[name]['ms']:7.2f} ms ({_rng(ms[name])}); "
                         f"full-batch step (BLAS {threads} threads) ÷ this {r['ratio']:.2f} "
                         f"(rounds {_rng(r)})")
    return lines


FRAMEWORK_COLUMNS = (("step", "numpyvae, NumPy path"), ("fused", "numpyvae, fused kernels"),
                     ("products", "its 11 products"), ("torch_step", "PyTorch eager"),
                     ("torch_fused", "PyTorch Adam(fused=True)"),
                     ("torch_compiled", "torch.compile"), ("jax_step", "JAX jit"))


def frameworks_table(results):
    """Issue 27's table: ms/step of every contender, per thread count and batch (one child per
    thread count, interleaved rounds), and the ratios that the targets are stated in."""
    rows = [(r["threads"], c) for r in results for c in r.get("compares", [])]
    if not rows:
        return []
    present = [(k, label) for k, label in FRAMEWORK_COLUMNS
               if any(k in c["ms"] for _, c in rows)]
    head = ("| threads | batch | " + " | ".join(label for _, label in present) +
            " | fused ÷ products | NumPy path ÷ fused | eager ÷ fused | fused ÷ JAX |")
    lines = ["", "ms per step (median of interleaved rounds; the ratios are round by round):",
             head, "|" + "---|" * (head.count("|") - 1)]

    def ratio(c, key, invert=False):
        if key not in c:
            return "-"
        r = c[key]
        if invert:                     # fused ÷ JAX from JAX ÷ fused
            return f"{1 / r['ratio']:.2f} ({1 / r['hi']:.2f}-{1 / r['lo']:.2f})"
        return f"{r['ratio']:.2f} ({r['lo']:.2f}-{r['hi']:.2f})"
    for threads, c in sorted(rows, key=lambda tc: (tc[0], tc[1]["batch"])):
        cells = [str(threads), str(c["batch"])]
        cells += [f"{c['ms'][k]['ms']:.2f}" if k in c["ms"] else "-" for k, _ in present]
        cells += [ratio(c, "fused_over_products"), ratio(c, "step_over_fused"),
                  ratio(c, "torch_step_over_fused"), ratio(c, "jax_step_over_fused", True)]
        lines.append("| " + " | ".join(cells) + " |")
    busy = [(threads, c) for threads, c in rows if "cores" in c]
    if busy:
        lines.append("cores kept busy (CPU time ÷ wall time over each timed block, median; "
                     "a library that starts threads of its own shows more than its thread count):")
        for threads, c in sorted(busy, key=lambda tc: (tc[0], tc[1]["batch"])):
            lines.append(f"  {threads} thread(s), batch {c['batch']}: " + ", ".join(
                f"{label} {c['cores'][k]:.2f}" for k, label in present if k in c["cores"]))
    first = rows[0][1]
    notes = []
    if "fused_compile_s" in first:
        notes.append("fused kernels (Adam, Bernoulli likelihood, ReLU, Tanh's backward, the "
                     "posterior's sample and KL): "
                     + first["fused_numba"])
    if "torch_compile_s" in first:
        notes.append(f"torch.compile: {first['torch_compile_s']:.1f} s to compile (first two calls)")
    if "torch_compile_error" in first:
        notes.append(f"torch.compile failed: {first['torch_compile_error']}")
    if "jax_compile_s" in first:
        notes.append(f"JAX {first['jax']['version']}: {first['jax_compile_s']:.1f} s to trace and "
                     f"compile; loss at a shared noise draw differs from numpyvae's by "
                     f"{first['jax_same_function']['loss_rel_diff']:.1e} of it")
    return lines + [f"  {n}" for n in notes]


def summary_table(results):
    """Issue 15's table: threads | numpyvae | PyTorch eager | ratio | products | step ÷ products."""
    rows = [r for r in results if "compare" in r]
    if not rows:
        return []
    torch = any("torch_step" in r["compare"]["ms"] for r in rows)
    head = "| threads | numpyvae | " + ("PyTorch eager | ratio | " if torch else "") + \
        "its 11 matrix products alone | step ÷ products |"
    lines = ["", head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        c = r["compare"]
        ms = c["ms"]
        cells = [str(r["threads"]), f"{ms['step']['ms']:.2f} ms"]
        if torch:
            if "torch_step" in ms:
                cells += [f"{ms['torch_step']['ms']:.2f} ms", f"{c['torch_over_step']['ratio']:.2f}x"]
            else:
                cells += ["-", "-"]
        cells += [f"{ms['products']['ms']:.2f} ms", f"{c['step_over_products']['ratio']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def format_results(results):
    lines = []
    if results:
        first = results[0]
        torch_info = first.get("compare", {}).get("torch")
        lines += machine.format_machine(first["machine"], torch_info)
        if any(r["machine"]["kind"] != first["machine"]["kind"] for r in results):
            lines.append("(the children did not agree on the machine kind: "
                         + ", ".join(r["machine"]["kind"] for r in results) + ")")
        if "kernels" in first:
            lines.append(f"kernels (Adam in the tables below): {first['kernels']} "
                         f"({first['kernels_detail']})")
    for r in results:
        rate = r["sgemm_gflops"]
        cpus = r.get("cpus")
        where = (f"   confined to CPU(s) {','.join(map(str, cpus))} (every contender)" if cpus
                 else "")
        lines.append(f"\nBLAS threads: {r['threads']}   sgemm 1024^3: {rate:.1f} GFLOP/s "
                     f"(at end: {r['sgemm_gflops_end']:.1f}){where}")
        if r["steps"]:
            lines.append(f"{'batch':>6} {'hidden':>6} {'ms/step':>9} {'samples/s':>10} "
                         f"{'model GF/s':>10} {'ratio':>6} {'matmul-only GF/s':>17}")
        for s in r["steps"]:
            lines.append(f"{s['batch']:>6} {s['hidden']:>6} {s['ms_per_step']:>9.2f} "
                         f"{s['samples_per_s']:>10.0f} {s['model_gflops']:>10.1f} "
                         f"{s['model_gflops'] / rate:>6.2f} {s['shapes_gflops']:>17.1f}")
        if "epoch_s" in r:
            target = TARGETS["epoch_over_steps"]
            steps = math.ceil(r["epoch_n"] / 128)
            lines.append(f"epoch of {r['epoch_n']} (batch 128, hidden 400): {r['epoch_s']:.2f} s "
                         f"(first epoch {r['first_epoch_s']:.2f} s); its {steps} steps (forward, "
                         f"backward, Adam) took {r['epoch_steps_s']:.2f} s of it: "
                         f"{r['epoch_s'] / r['epoch_steps_s']:.2f} x the steps (target ≤ {target:.2f}); "
                         f"{r['epoch_s'] / (steps * r['step128_ms'] / 1e3):.2f} x {steps} steps "
                         f"timed alone after it ({r['step128_ms']:.2f} ms each)")
        if "breakdown" in r:
            b = r["breakdown"]
            rest = b["forward_backward_ms"] - b["products_ms"]
            lines.append(f"step at batch 128, hidden 400, in parts: matrix products "
                         f"{b['products_ms']:.2f} ms (alone), the rest of forward+backward "
                         f"{rest:.2f} ms (activations, loss, biases, Python), Adam "
                         f"{b['adam_ms']:.2f} ms")
        if "loglik" in r:
            ll = r["loglik"]
            k = ll.get("k", 5000)                 # results saved before "k" was kept had 5000
            lines.append(f"log-likelihood k={k}: {ll['gflops']:.1f} GFLOP/s "
                         f"({ll['gflops'] / rate:.2f} x sgemm; target ≥ "
                         f"{TARGETS['loglik_over_sgemm']:.2f}), peak RSS {ll['peak_mib']:.0f} MiB, "
                         f"10k test images at k={k} ~ {ll['extrapolated_10k_test_s']:.0f} s")
        if "classroom_s" in r:
            lines.append(f"classroom estimator experiment (N up to 1e5, 100 reps): "
                         f"{r['classroom_s']:.3f} s")
        if "compare" in r:
            lines += compare_lines(r["compare"], r["threads"])
    lines += scaling_lines(results)
    lines += summary_table(results)
    lines += frameworks_table(results)
    return "\n".join(lines)


def scaling_lines(results, batch=128, hidden=400, target=0.70):
    """What a ``target`` ratio on more threads asks of the step, measured against 1 thread.

    A step that runs at ratio r1 on one thread reaches ``target`` on T threads only if the whole
    step runs ``target * sgemm_T / (r1 * sgemm_1)`` times faster than on one thread: the matrix
    products scale with BLAS, but the activations, the loss, Adam and Python run on one core
    unless the step itself is split."""
    by_threads = {r["threads"]: r for r in results}
    if 1 not in by_threads:
        return []
    def row(r):
        return next((s for s in r["steps"] if (s["batch"], s["hidden"]) == (batch, hidden)), None)
    one = by_threads[1]
    s1 = row(one)
    if s1 is None:
        return []
    flops = step_flops(batch, hidden)
    mm1 = flops / s1["shapes_gflops"] / 1e6           # ms of the matrix products alone
    out = []
    for t, r in sorted(by_threads.items()):
        st = row(r)
        if t == 1 or st is None:
            continue
        needed = target * r["sgemm_gflops"] / s1["model_gflops"]
        mm_t = flops / st["shapes_gflops"] / 1e6
        rest_t = st["ms_per_step"] - mm_t
        rest = (f"{(s1['ms_per_step'] - mm1) / rest_t:.2f}x" if rest_t > 0 else
                "not measurable: the products alone took longer than the whole step, the "
                "machine was busy")
        out.append(f"\n{t} threads, batch {batch}, hidden {hidden}: a ratio of {target:.2f} needs "
                   f"the whole step {needed:.2f}x faster than on 1 thread; it is "
                   f"{s1['ms_per_step'] / st['ms_per_step']:.2f}x faster (the matrix products "
                   f"{mm1 / mm_t:.2f}x, the rest {rest})")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small grid, for tests (seconds)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--json", help="also write the raw results to this file")
    from numpyvae.commands.bench import add_options     # the options' one owner
    add_options(p)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    if any(t < 1 for t in args.threads):
        p.error("--threads must be positive")
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be positive")
    from numpyvae import fused
    kernels = fused.resolve(args.kernels or "auto")     # a clear error before any child runs
    if args.quick:
        spec = {"grid": [(32, 200), (128, 400)], "repeats": 5, "epoch": True, "epoch_n": 2048,
                "loglik": True, "loglik_images": 2, "loglik_k": 500, "classroom": True,
                "compare": {"rounds": 2, "reps": 3, "pause": 0.0}}
    else:
        spec = {"grid": [(b, h) for h in (200, 400, 1000) for b in (32, 128, 512)],
                "repeats": 40, "epoch": True, "epoch_n": 60_000, "loglik": True,
                "loglik_images": 20, "loglik_k": 5000, "classroom": True,
                "compare": {"rounds": 7, "reps": 20, "pause": 0.2}}
    spec["kernels"], spec["only_compare"] = kernels, args.only_compare
    spec["compare_batches"] = [20, 128]
    spec["compare"]["with_compile"] = not (args.no_compile or args.quick)
    spec["compare"]["with_jax"] = not args.no_jax
    if args.rounds:
        spec["compare"]["rounds"] = args.rounds
    if args.no_torch:
        spec["compare"]["with_torch"] = False
    results = []
    for threads in args.threads:
        results.append(run_child({**spec, "threads": threads}))
    print(time.strftime("numpyvae benchmark, %Y-%m-%d %H:%M") + (" (quick)" if args.quick else ""))
    print(format_results(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        confine(json.loads(sys.argv[sys.argv.index("--child") + 1]))
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if os.path.isdir(os.path.join(root, "numpyvae")):     # a checkout: its own package
            sys.path.insert(0, root)
        import numpyvae
        numpyvae.tune_process()   # first, as in every numpyvae command: see _threads, _memory
    sys.exit(main())
