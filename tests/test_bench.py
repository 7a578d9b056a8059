"""The benchmark runs end to end in --quick mode (no test asserts a time)."""
import json

from numpyvae import cli
from numpyvae.commands.bench import load_benchmark


def test_bench_quick_runs_and_reports_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for words in ("ms/step", "sgemm", "epoch of", "in parts", "log-likelihood k=5000", "classroom"):
        assert words in text, words
    results = json.loads(out.read_text())
    r = results[0]
    assert r["threads"] == 1 and r["sgemm_gflops"] > 0
    assert all(s["ms_per_step"] > 0 and s["model_gflops"] > 0 for s in r["steps"])
    assert r["loglik"]["peak_mib"] > 0 and r["epoch_s"] > 0
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
