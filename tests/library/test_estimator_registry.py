"""The estimator table (numpyvae.estimators.registry): every study, table, plot and ``numpyvae
variance`` reads it, so an estimator has one name, label and colour everywhere, and a new
encoder-study estimator is one function plus its record, with no edit of the package."""
import csv
import dataclasses

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

import numpyvae as nv
from numpyvae.commands import variance
from numpyvae.estimators import classroom, discrete, snr
from numpyvae.estimators import encoder as G
from numpyvae.estimators import exact as EX
from numpyvae.estimators import registry as R
from numpyvae.gradcheck import rel_error
from numpyvae.plots import discrete as PD
from numpyvae.plots import encoder_variance as PV
from numpyvae.plots import estimators as PE
from numpyvae.plots import snr as PS


def _tiny(seed=0, x_dim=6, n=4):
    rng = np.random.default_rng(seed)
    model = nv.VAE(x_dim, [5], 2, activation="tanh", rng=rng, dtype=np.float64)
    model.params += 0.1 * rng.standard_normal(model.params.size)
    return model, rng.random((n, x_dim)), rng


@pytest.fixture
def drawn(monkeypatch):
    """Every text of every figure saved while the test runs (legends, titles, labels)."""
    texts = []
    save = Figure.savefig

    def spy(fig, path, **kwargs):
        texts.extend(t.get_text() for t in fig.findobj(Text))
        return save(fig, path, **kwargs)
    monkeypatch.setattr(Figure, "savefig", spy)
    return texts


# ------------------------------------------------------------- a new encoder-study estimator

B = -40.0          # a constant baseline: any constant keeps the score function unbiased


def score_const_dh(model, h, draws):
    """The score function with the constant baseline B: Σ_sn (f_sn − B)/(NS) ∇_h log q."""
    s, n, _ = draws.eps.shape
    return model.posterior.score(h, draws.eps, (draws.f - B) / (s * n))


NEW = R.Estimator("score_b40", "score, constant baseline b = −40", "tab:pink", "*",
                  (R.ENCODER, R.ENCODER_TRAINING), encoder=score_const_dh)


def test_a_new_encoder_estimator_is_one_function_and_its_record(monkeypatch, tmp_path, drawn,
                                                                capsys):
    monkeypatch.setitem(R.ESTIMATORS, NEW.name, NEW)
    model, x, rng = _tiny()
    eps = rng.standard_normal((3, x.shape[0], model.z_dim))
    got = G.encoder_gradients(model, x, eps)              # every estimator: the new one included
    assert list(got) == ["score", "score_loo", "pathwise", "pathwise_kl", NEW.name]
    # what it computes: score − B/(NS) Σ ∇φ log q(z_sn|x_n), z the same draws
    h, _ = G._encode(model, x)
    z = model.posterior.forward(h, eps, kl=False)[0].z
    w = np.full(z.shape[:2], B / z.shape[0] / z.shape[1])
    assert rel_error(got[NEW.name], got["score"] - G.log_q_grad(model, x, z, w)) < 1e-10

    # the study, its table and its figure
    rows = G.variance_study(model, x, (1, 2), 3, rng=np.random.default_rng(1), label="tiny")["rows"]
    assert [r["estimator"] for r in rows if r["S"] == 1] == [
        "score", "pathwise", "pathwise_kl", NEW.name]
    assert NEW.label in G.format_variance_table(rows)
    PV.plot_encoder_variance(rows, tmp_path / "v.png")
    assert NEW.label in drawn

    # training with it, and numpyvae variance's part 4 (its table, CSV and figure)
    cfg = {"curve_samples": 2, "curve_steps": 3, "batch_size": 4, "eval_every": 3}
    summary = variance._elbo_curves(str(tmp_path), cfg, "tiny", model, model.params.copy(), x, x, 0)
    assert [r["estimator"] for r in summary] == ["score", "score_loo", "pathwise", NEW.name]
    assert NEW.label in capsys.readouterr().out
    assert NEW.name in {r["estimator"] for r in csv.DictReader(open(tmp_path / "elbo_summary.csv"))}
    assert any(t.startswith(NEW.label) for t in drawn)


# -------------------------------------------- no study keeps a list of its own (planted lists)

def _without(monkeypatch, *names):
    """The table without ``names`` (a new dict: the order of the others is kept, also after)."""
    monkeypatch.setattr(R, "ESTIMATORS", {k: e for k, e in R.ESTIMATORS.items() if k not in names})


def test_a_study_runs_exactly_the_registered_estimators(monkeypatch, tmp_path):
    """Take one estimator out of each study: a study that kept a tuple of its own still runs it."""
    _without(monkeypatch, "score_const", "score_loo", "stl")
    rows = classroom.classroom_experiment(Ns=(10,), repetitions=2, rng=np.random.default_rng(0))
    assert [r["estimator"] for r in rows] == list(R.names(R.CLASSROOM)) == [
        "score", "score_optimal", "score_optimal_est", "pathwise"]

    model, x, rng = _tiny()
    assert list(G.encoder_gradients(model, x, rng.standard_normal((2, 4, 2)))) == [
        "score", "pathwise", "pathwise_kl"]
    assert list(discrete.toy_traces(rng=rng, steps=2)["theta"]) == [
        "score", "score_optimal", "gumbel", "straight_through", "rebar"]

    cfg = dict(variance.SETTINGS["quick"], discrete_n=50, discrete_taus=(0.5,),
               discrete_phis=(1.0,), tau_sweep=np.array([0.5, 1.0]), trace_steps=2)
    by = {}
    for r in variance._discrete(str(tmp_path), cfg, np.random.default_rng(0)):
        by.setdefault(r["problem"], []).append(r["estimator"])
    assert by == {"rebar_toy": list(R.names(R.BERNOULLI)),
                  "categorical": ["score", "score_optimal", "gumbel", "straight_through"]}

    rows, _ = snr.snr_study(snr.make_toy(rng=rng, d=3, n_data=8), Ks=(1, 2), repetitions=8,
                            rng=rng, n_points=1, n_boot=5)
    assert {r["estimator"] for r in rows} == {"iwae", "dreg"}


def test_one_label_and_colour_everywhere(monkeypatch, tmp_path, drawn):
    """Relabel and recolour "score" once: every table and figure that shows it follows."""
    new = dataclasses.replace(R.get("score"), label="REINFORCE (relabelled)", colour="#123456")
    monkeypatch.setitem(R.ESTIMATORS, "score", new)
    rows = classroom.classroom_experiment(Ns=(10, 20), repetitions=2, rng=np.random.default_rng(0))
    assert "REINFORCE (relabelled)" in classroom.format_table(rows)
    PE.plot_classroom(rows, tmp_path / "c.png")
    model, x, _ = _tiny()
    enc = G.variance_study(model, x, (2,), 3, rng=np.random.default_rng(1), label="t")["rows"]
    assert "REINFORCE (relabelled)" in G.format_variance_table(enc)
    traces = discrete.toy_traces(rng=np.random.default_rng(0), steps=2)
    PD.plot_traces(traces, tmp_path / "d.png")
    assert drawn.count("REINFORCE (relabelled)") == 2
    fig = {}
    monkeypatch.setattr(Figure, "savefig", lambda f, path, **k: fig.setdefault(path, f))
    PD.plot_traces(traces, "traces")
    line = next(li for li in fig["traces"].axes[0].lines if li.get_label().startswith("REINFORCE"))
    assert line.get_color() == "#123456"


def test_the_table_is_consistent():
    for study in R.STUDIES:
        recs = [R.get(n) for n in R.names(study)]
        assert recs, study
        assert len({e.label for e in recs}) == len(recs), study       # told apart in a table
        assert len({e.colour for e in recs}) == len(recs), study      # and in a figure
    for e in R.ESTIMATORS.values():
        assert set(e.studies) <= set(R.STUDIES), e.name
        assert (e.encoder is not None) == (R.ENCODER in e.studies), e.name
    assert set(snr.VAE_OBJECTIVES) == set(R.names(R.SNR))            # each SNR estimator trains
    with pytest.raises(ValueError, match="registered: score"):
        R.get("reinforce")
    with pytest.raises(ValueError, match="no study"):
        R.names("classrom")
    assert PS._series()[-1][1][2] == "decoder (IWAE = STL = DReG)"


# ------------------------------------------------------------- a new cost-family estimator

def score_baseline_one_exact(f, df, mu, sigma, wrt, hints):
    """The score function with the constant baseline b = 1 (unbiased for any constant)."""
    from numpyvae.estimators.exact import score_function_moments
    return score_function_moments(f, mu, sigma, wrt=wrt, baseline=1.0, **hints)


def test_a_new_cost_family_estimator_is_one_function_and_its_record(monkeypatch, tmp_path,
                                                                    drawn):
    """Registered in the test: its exact moments are in the curves (its mean is the gradient),
    its column in cost_family.csv and its curve in the figure; taking "score_optimal" out of the
    table takes it out of the curves (a study with a list of its own would still compute it)."""
    new = R.Estimator("score_b1", "score, baseline b = 1", "tab:pink", "*", (R.COST_FAMILY,),
                      exact=score_baseline_one_exact)
    monkeypatch.setitem(R.ESTIMATORS, "score_b1", new)
    curves = EX.cost_family_curves(
        ks={"quadratic": [0.0, 2.0], "exp": [0.5], "cos": [1.0]})
    for cost in curves["costs"]:
        for wrt in ("mu", "sigma"):
            assert "score_b1" in cost["variance"][wrt]
            np.testing.assert_allclose(cost["mean"][wrt]["score_b1"], cost["gradient"][wrt],
                                       atol=1e-8)
            # a baseline other than f's mean changes the variance: not a copy of "score"
            assert not np.allclose(cost["variance"][wrt]["score_b1"],
                                   cost["variance"][wrt]["score"])
    cfg = dict(variance.SETTINGS["quick"],
               cost_ks={"quadratic": np.array([0.0, 2.0]), "exp": np.array([0.5]),
                        "cos": np.array([1.0])})
    variance._cost_family(str(tmp_path), cfg)
    with open(tmp_path / "cost_family.csv") as f:
        rows = list(csv.DictReader(f))
    assert "var_score_b1" in rows[0] and all(r["var_score_b1"] for r in rows)
    assert "score, baseline b = 1" in drawn

    _without(monkeypatch, "score_optimal")
    curves = EX.cost_family_curves(
        ks={"exp": [0.5]})
    assert "score_optimal" not in curves["costs"][0]["variance"]["mu"]
    assert list(curves["costs"][0]["variance"]["mu"]) == ["score", "pathwise", "measure_valued",
                                                          "score_b1"]
