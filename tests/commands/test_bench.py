"""The benchmark runs end to end in --quick mode (no test asserts a time)."""
import contextlib
import importlib.util
import io
import json

import pytest

from numpyvae import cli
from numpyvae.commands.bench import load_benchmark

TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `numpyvae bench --quick --threads 1` for the whole module: (stdout, JSON results)."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["bench", "--quick", "--threads", "1", "--json", str(out)]) == 0
    return buf.getvalue(), json.loads(out.read_text())


def test_bench_quick_runs_and_reports_every_section(quick_run):
    text, results = quick_run
    for words in ("ms/step", "sgemm", "epoch of", "in parts", "classroom",
                  "kernels (Adam in the tables below): ",
                  "ms per step (median of interleaved rounds", "| 1 | 20 | ", "| 1 | 128 | ",
                  "log-likelihood k=500:", "10k test images at k=500 "):   # --quick's k, said as such
        assert words in text, words
    r = results[0]
    assert r["threads"] == 1 and r["sgemm_gflops"] > 0
    assert all(s["ms_per_step"] > 0 and s["model_gflops"] > 0 for s in r["steps"])
    assert r["loglik"]["peak_mib"] > 0 and r["loglik"]["k"] == 500 and r["epoch_s"] > 0
    assert all(v > 0 for v in r["breakdown"].values())


def test_flop_count_matches_the_design_figure():
    tp = load_benchmark()
    assert abs(tp.step_flops(128, 400) / 1e9 - 0.42) < 0.01     # BENCHMARKS.md: about 0.42 GFLOP


def test_scaling_line_states_the_speed_up_the_target_needs():
    tp = load_benchmark()
    flops = tp.step_flops(128, 400)

    def result(threads, sgemm, ms, matmul_ms):
        return {"threads": threads, "sgemm_gflops": sgemm, "sgemm_gflops_end": sgemm,
                "steps": [{"batch": 128, "hidden": 400, "ms_per_step": ms, "samples_per_s": 1,
                           "model_gflops": flops / ms / 1e6,
                           "shapes_gflops": flops / matmul_ms / 1e6}]}
    # 1 thread: 4 ms (3 of them matrix products); 2 threads: 2.5 ms (1.5 of them products).
    one, two = result(1, 100.0, 4.0, 3.0), result(2, 200.0, 2.5, 1.5)
    (line,) = tp.scaling_lines([one, two])
    # ratio 0.70 at 200 GFLOP/s needs flops / (0.7 * 200e9) s = 3.0 ms; 4.0 / 3.0 = 1.33x
    needed = 4.0 / (flops / (0.7 * 200e9) * 1e3)
    assert f"{needed:.2f}x faster than on 1 thread" in line
    assert "it is 1.60x faster (the matrix products 2.00x, the rest 1.00x)" in line
    assert tp.scaling_lines([two]) == []


def test_quick_bench_prints_the_machine_kind_and_the_step_over_products(quick_run):
    text, results = quick_run
    r = results[0]
    kind = r["machine"]["kind"]
    assert kind in ("AVX-512", "AVX2", "other")
    assert f"machine kind: {kind} (what NumPy's kernels dispatch to)" in text
    assert "NumPy targets: baseline" in text and "SIMD extensions (run time):" in text
    assert "AVX2" in r["machine"]["numpy_features"] or kind == "other"
    c = r["compare"]
    assert c["products"] == 11 and c["batch"] == 128 and c["hidden"] == 400
    ratio = c["step_over_products"]
    assert f"step ÷ products {ratio['ratio']:.2f} (rounds " in text
    assert "target ≤ 1.25" in text
    # the epoch line: its 2048 / 128 = 16 steps timed inside it, and their ratio as printed
    assert "its 16 steps (forward, backward, Adam) took" in text
    assert f"{r['epoch_s'] / r['epoch_steps_s']:.2f} x the steps (target ≤ 1.10)" in text
    assert 0 < r["epoch_steps_s"] < r["epoch_s"]
    assert "target ≥ 0.50" in text                        # the log-likelihood line


@pytest.mark.skipif(not TORCH, reason="PyTorch is not installed (the optional [bench] extra)")
def test_quick_bench_prints_the_pytorch_line_when_torch_is_importable(quick_run):
    text, results = quick_run
    c = results[0]["compare"]
    assert c["torch"]["available"] and c["torch"]["threads"] == 1
    r = c["torch_over_step"]
    assert f"PyTorch ms ÷ numpyvae ms {r['ratio']:.2f} (rounds" in text
    assert "target ≥ 1.5, goal 2" in text
    assert "PyTorch eager step (same model, weights, data)" in text
    assert f"PyTorch {c['torch']['version']}: CPU capability" in text
    # the same function: loss and gradients agree to float32 rounding
    assert c["torch_same_function"]["loss_rel_diff"] < 1e-5
    assert c["torch_same_function"]["grad_rel_diff"] < 1e-5


def test_without_torch_there_is_no_pytorch_column(quick_run):
    tp = load_benchmark()
    _, results = quick_run
    r = json.loads(json.dumps(results[0]))
    for c in [r["compare"], *r.get("compares", [])]:
        for key in ("torch_step", "torch_products", "torch_fused", "torch_compiled"):
            c["ms"].pop(key, None)
        for key in ("torch_over_step", "torch_step_over_products", "torch_same_function",
                    "torch_step_over_fused", "torch_fused_over_fused",
                    "torch_compiled_over_fused"):
            c.pop(key, None)
        c["torch"] = {"available": False}
    text = tp.format_results([r])
    assert "step ÷ products" in text
    assert "PyTorch ms ÷ numpyvae ms" not in text and "PyTorch eager" not in text
    assert "PyTorch: not importable" in text and "numpyvae[bench]" in text


def test_the_installed_copy_is_found_from_any_folder(tmp_path, monkeypatch):
    """With no checkout around (another folder, no NUMPYVAE_BENCHMARKS), numpyvae bench uses the
    copy the wheel installs as numpyvae/benchmarks."""
    from pathlib import Path

    import numpyvae
    from numpyvae.commands import bench
    installed = Path(numpyvae.__file__).parent / "benchmarks"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NUMPYVAE_BENCHMARKS", raising=False)
    found = bench.find_benchmark()
    assert found.name == "throughput.py"
    assert found.parent in (installed, Path(numpyvae.__file__).parent.parent / "benchmarks")


def test_frameworks_table_has_every_contender_and_the_ratios_round_by_round():
    """Issue 27's table from two children's comparisons: the columns that ran, '-' where one did
    not (JAX absent at 2 threads), and the ratios as measured (fused ÷ JAX inverted from JAX ÷
    fused, its range flipped)."""
    tp = load_benchmark()

    def ms(v):
        return {"ms": v, "lo": v * 0.9, "hi": v * 1.1}

    def r(v):
        return {"ratio": v, "lo": v - 0.1, "hi": v + 0.1}
    one = {"batch": 20, "ms": {"step": ms(3.0), "fused": ms(2.0), "products": ms(1.0),
                               "torch_step": ms(4.0), "jax_step": ms(2.5)},
           "fused_over_products": r(2.0), "step_over_fused": r(1.5),
           "torch_step_over_fused": r(2.0), "jax_step_over_fused": r(1.25),
           "fused_numba": "numba X", "fused_compile_s": 0.3, "jax": {"version": "0.1"},
           "jax_compile_s": 1.0, "jax_same_function": {"loss_rel_diff": 1e-7}}
    two = {"batch": 128, "ms": {"step": ms(9.0), "fused": ms(8.0), "products": ms(7.0)},
           "fused_over_products": r(1.14), "step_over_fused": r(1.12)}
    lines = tp.frameworks_table([{"threads": 1, "compares": [one]},
                                 {"threads": 2, "compares": [two]}])
    text = "\n".join(lines)
    assert "| numpyvae, NumPy path | numpyvae, fused kernels | its 11 products | PyTorch eager | " \
           "JAX jit |" in text
    assert "torch.compile" not in lines[2]                # never ran: no column
    assert "| 1 | 20 | 3.00 | 2.00 | 1.00 | 4.00 | 2.50 | 2.00 (1.90-2.10) | 1.50 (1.40-1.60) | " \
           "2.00 (1.90-2.10) | 0.80 (0.74-0.87) |" in text
    assert "| 2 | 128 | 9.00 | 8.00 | 7.00 | - | - | 1.14 (1.04-1.24) | 1.12 (1.02-1.22) | - | - |" \
        in text
    assert tp.frameworks_table([{"threads": 1}]) == []


def test_one_thread_children_are_confined_to_one_cpu_for_every_contender(quick_run):
    """A thread count alone does not bind every library (XLA keeps a pool of its own: JAX's
    "one-thread" step kept 1.9 cores busy), so the 1-thread child runs on one CPU, and no
    contender there can keep more than one core busy."""
    import os
    _, results = quick_run
    r = results[0]
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to confine")
    assert len(r["cpus"]) == 1 and r["cpus"][0] in os.sched_getaffinity(0)
    for c in r["compares"]:
        assert set(c["cores"]) == set(c["ms"])
        assert all(0 < v <= 1.05 for v in c["cores"].values()), c["cores"]


def test_cpus_for_a_thread_count_and_the_child_mask(tmp_path):
    import os
    import subprocess
    import sys
    tp = load_benchmark()
    allowed = sorted(os.sched_getaffinity(0))
    assert tp.cpus_for(len(allowed)) is None and tp.cpus_for(len(allowed) + 3) is None
    if len(allowed) < 2:
        pytest.skip("one CPU: nothing to confine")
    assert tp.cpus_for(1) == allowed[:1]
    code = ("import json, os, sys; sys.path.insert(0, sys.argv[1]); import throughput; "
            "throughput.confine({'cpus': [int(sys.argv[2])]}); "
            "print(json.dumps(sorted(os.sched_getaffinity(0))))")
    from numpyvae.commands.bench import find_benchmark
    out = subprocess.run([sys.executable, "-c", code, str(find_benchmark().parent),
                          str(allowed[-1])], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"[{allowed[-1]}]"
