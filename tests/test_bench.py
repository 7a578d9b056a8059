"""The benchmark runs end to end in --quick mode (no test asserts a time)."""
import json

from numpyvae import cli


def test_bench_quick_runs_and_reports_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for words in ("ms/step", "sgemm", "epoch of", "log-likelihood k=5000", "classroom"):
        assert words in text, words
    results = json.loads(out.read_text())
    r = results[0]
    assert r["threads"] == 1 and r["sgemm_gflops"] > 0
    assert all(s["ms_per_step"] > 0 and s["model_gflops"] > 0 for s in r["steps"])
    assert r["loglik"]["peak_mib"] > 0 and r["epoch_s"] > 0


def test_flop_count_matches_the_design_figure():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
    spec = importlib.util.spec_from_file_location("tp", path)
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    assert abs(tp.step_flops(128, 400) / 1e9 - 0.42) < 0.01     # DESIGN.md: about 0.42 GFLOP
