"""The ``numpyvae variance`` command: every table and figure is written, and the figures open."""
import csv
import os
import time

import numpy as np
import pytest

from numpyvae import cli
from numpyvae.commands import variance
from numpyvae.estimators import registry

CSV_COLUMNS = {
    "classroom.csv": {"N", "estimator", "mean", "var", "analytic_var"},
    "cost_family.csv": {"cost", "k", "wrt", "var_score", "var_score_optimal", "var_pathwise"},
    "encoder_variance.csv": {"model", "S", "estimator", "var_mean", "snr_median", "snr_mean",
                             "var_encoder.0.W", "var_encoder.2.b"},
    "elbo_curves.csv": {"estimator", "step", "train_elbo"},
    "elbo_test.csv": {"estimator", "step", "test_elbo"},
    "elbo_summary.csv": {"estimator", "final_test_elbo"},
    "discrete.csv": set(variance.DISCRETE_COLUMNS),
    "snr.csv": set(variance.SNR_COLUMNS),
}


def _check_outputs(out):
    import matplotlib.image
    for name in variance.OUTPUTS:
        path = os.path.join(out, name)
        assert os.path.isfile(path) and os.path.getsize(path) > 0, name
        if name.endswith(".png"):
            img = matplotlib.image.imread(path)
            assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600, name
    for name, columns in CSV_COLUMNS.items():
        with open(os.path.join(out, name), newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows, name
        assert columns <= set(rows[0]), (name, sorted(rows[0]))
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    return {name: list(csv.DictReader(open(os.path.join(out, name), newline="")))
            for name in CSV_COLUMNS}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("variance")
    t0 = time.perf_counter()
    code = cli.main(["variance", "--quick", "--out", str(out), "--seed", "1"])
    return out, code, time.perf_counter() - t0


def test_quick_run_writes_every_file(quick_run):
    out, code, seconds = quick_run
    assert code == 0
    tables = _check_outputs(out)
    enc = tables["encoder_variance.csv"]
    assert {r["model"] for r in enc} == {"untrained", "trained"}
    for model in ("untrained", "trained"):
        by = {(int(r["S"]), r["estimator"]): float(r["var_mean"]) for r in enc
              if r["model"] == model}
        assert by[1, "score"] > 100 * by[1, "pathwise"]
    summary = {r["estimator"]: float(r["final_test_elbo"]) for r in tables["elbo_summary.csv"]}
    assert set(summary) == set(registry.names(registry.ENCODER_TRAINING))
    assert all(np.isfinite(v) for v in summary.values())
    # No time limit is asserted: about 6-15 s with one BLAS thread, but a multi-threaded
    # OpenBLAS on a busy 2-core machine can be 30x slower, which says nothing about this code.
    print(f"numpyvae variance --quick: {seconds:.1f} s")


def test_quick_run_is_reproducible(quick_run, tmp_path):
    out, _, _ = quick_run
    assert cli.main(["variance", "--quick", "--out", str(tmp_path), "--seed", "1"]) == 0
    for name in ("classroom.csv", "encoder_variance.csv", "elbo_summary.csv",
                 "discrete.csv", "snr.csv"):
        a = [{k: v for k, v in r.items() if k != "seconds"}
             for r in csv.DictReader(open(os.path.join(out, name), newline=""))]
        b = [{k: v for k, v in r.items() if k != "seconds"}
             for r in csv.DictReader(open(os.path.join(tmp_path, name), newline=""))]
        assert a == b, name


def test_command_is_registered_and_documents_its_options(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["variance", "--quick", "--dataset", "mnist", "--seed", "3",
                              "--out", "x"])
    assert (args.quick, args.dataset, args.seed, args.out) == (True, "mnist", 3, "x")
    assert isinstance(variance.HELP, str) and variance.HELP
    with pytest.raises(SystemExit):
        parser.parse_args(["variance", "--dataset", "frey-face"])


def test_bad_seed_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["variance", "--quick", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert "seed" in capsys.readouterr().err


def _mnist_dir():
    for d in (os.environ.get("NUMPYVAE_DATA"), "/work/shared/data",
              os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")):
        if d and os.path.isfile(os.path.join(d, "mnist", "train-images-idx3-ubyte.gz")):
            return d
    return None


@pytest.mark.skipif(_mnist_dir() is None, reason="MNIST files not available")
def test_quick_run_on_mnist(tmp_path):
    code = cli.main(["variance", "--quick", "--dataset", "mnist", "--data-dir", _mnist_dir(),
                     "--out", str(tmp_path)])
    assert code == 0
    _check_outputs(tmp_path)


def _rows(out, name):
    with open(os.path.join(out, name), newline="") as fh:
        return list(csv.DictReader(fh))


def test_quick_run_discrete_and_snr_tables(quick_run):
    out, _, _ = quick_run
    rows = _rows(out, "discrete.csv")
    assert list(rows[0]) == list(variance.DISCRETE_COLUMNS)      # exactly the columns
    assert {r["problem"] for r in rows} == {"rebar_toy", "categorical"}
    assert {"score", "score_loo", "score_optimal", "gumbel", "straight_through", "rebar"} <= {
        r["estimator"] for r in rows}
    for r in rows:
        assert (r["tau"] == "") == (r["estimator"] not in ("gumbel", "straight_through", "rebar"))
        if r["problem"] == "rebar_toy":       # exact gradient σ'(φ)(1 − 2t), exact variance given
            th = 1 / (1 + np.exp(-float(r["phi"])))
            assert np.isclose(float(r["exact_grad"]), th * (1 - th) * (1 - 2 * 0.499))
            assert r["exact_var"] != ""
            v, ev = float(r["var"]), float(r["exact_var"])
            assert abs(v - ev) <= 0.1 * ev + 1e-12, r
    snr = _rows(out, "snr.csv")
    assert list(snr[0]) == list(variance.SNR_COLUMNS)
    assert {r["model"] for r in snr} == {"gaussian_toy", "vae"}
    assert {r["estimator"] for r in snr if r["model"] == "gaussian_toy"} == {"iwae", "stl", "dreg"}
    assert {r["part"] for r in snr} == {"encoder", "decoder"}
    enc = sorted((int(r["K"]), float(r["snr"])) for r in snr if r["model"] == "gaussian_toy"
                 and r["estimator"] == "iwae" and r["part"] == "encoder")
    assert enc[-1][1] < enc[0][1] / 3                   # the encoder's SNR falls with K
    cfg = variance.SETTINGS["quick"]                   # every (model, estimator, part, K), once
    keys = [(r["model"], r["estimator"], r["part"], int(r["K"])) for r in snr]
    assert sorted(keys) == sorted((m, e, p, k) for m, ks in (("gaussian_toy", cfg["snr_Ks"]),
                                                             ("vae", cfg["vae_Ks"]))
                                  for e in ("iwae", "stl", "dreg")
                                  for p in ("encoder", "decoder") for k in ks)
    by = {key: r for key, r in zip(keys, snr)}
    for r in snr:
        assert 0 < float(r["snr_lo"]) <= float(r["snr"]) <= float(r["snr_hi"]), r
    for m, e, p, k in keys:                             # the decoder identity: IWAE's row
        if p == "decoder":
            assert {c: by[m, e, p, k][c] for c in ("snr", "snr_lo", "snr_hi")} == \
                {c: by[m, "iwae", p, k][c] for c in ("snr", "snr_lo", "snr_hi")}


def test_quick_run_classroom_intervals(quick_run):
    out, _, _ = quick_run
    rows = _rows(out, "classroom.csv")
    assert {"ratio", "ratio_lo", "ratio_hi", "var_lo", "var_hi"} <= set(rows[0])
    for r in rows:
        assert float(r["ratio_lo"]) < 1 < float(r["ratio_hi"])
        assert np.isclose(float(r["ratio"]), float(r["var"]) / float(r["analytic_var"]))
    with open(os.path.join(out, "classroom.txt")) as fh:
        text = fh.read()
    assert "band" in text
    cost = _rows(out, "cost_family.csv")
    assert all((r["var_measure_valued"] == "") == (r["wrt"] == "sigma") for r in cost)


def test_quick_run_on_the_full_covariance_family(tmp_path, capsys):
    """The family registry, not a fixed list: the encoder study, the curves and the SNR run on
    q = N(mu, L L^T) too (issue 28)."""
    assert cli.main(["variance", "--quick", "--out", str(tmp_path), "--covariance", "full"]) == 0
    out = capsys.readouterr().out
    assert "posterior family 'full'" in out
    rows = list(csv.DictReader(open(tmp_path / "encoder_variance.csv")))
    var = {(r["model"], r["S"], r["estimator"]): float(r["var_mean"]) for r in rows}
    assert var and all(np.isfinite(v) and v > 0 for v in var.values())
    # on this family too the score function is far noisier than the pathwise gradient
    assert var[("untrained", "1", "score")] > 100 * var[("untrained", "1", "pathwise")]
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["variance", "--covariance", "banana"])
