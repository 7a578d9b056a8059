"""The training loop: exact resume, Ctrl-C, checkpoints (atomic, validated), determinism."""
import os
import zipfile

import numpy as np
import pytest

import numpyvae as nv
from numpyvae import checkpoint as ckpt
from numpyvae.train import (METRICS, TrainConfig, TrainingDiverged, TrainingInterrupted,
                            read_metrics, restore, train)

N_TRAIN, N_TEST, BATCH = 300, 100, 32        # 10 batches per epoch, the last one of 12


@pytest.fixture(scope="module")
def data():
    x, _ = nv.datasets.make_shapes(N_TRAIN + N_TEST, np.random.default_rng(5))
    return x[:N_TRAIN], x[N_TRAIN:]


def setup(seed=0, optimizer="adam", covariance="diagonal"):
    """Everything built afresh from the seed, as the CLI does: (model, optimizer, rng)."""
    rng = np.random.default_rng(seed)
    model = nv.VAE(784, [32], 4, rng=rng, covariance=covariance)
    return model, nv.optim.make(optimizer, 1e-3), rng


def stop_at(step, error=KeyboardInterrupt):
    def hook(state):
        if state.step == step:
            raise error()
    return hook


def no_seconds(rows):
    """The metric rows without the wall-time column, as arrays (NaN == NaN: IWAE has no KL)."""
    return np.array([[r[k] for k in METRICS if k != "seconds"] for r in rows])


def same(a, b):
    return np.array_equal(no_seconds(a), no_seconds(b), equal_nan=True)


CASES = {   # name -> (TrainConfig kwargs, optimizer, covariance)
    "elbo": ({}, "adam", "diagonal"),
    "iwae-dynamic": ({"objective": "iwae", "n_samples": 3, "dynamic_binarize": True},
                     "momentum", "diagonal"),
    "L2-full-cov": ({"n_samples": 2}, "adagrad", "full"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("stop", [13, 20, 10, 1])   # mid-epoch, epoch end, last batch, first
def test_resume_after_ctrl_c_is_bit_for_bit(data, tmp_path, case, stop):
    kwargs, opt_name, cov = CASES[case]
    config = TrainConfig(epochs=3, batch_size=BATCH, **kwargs)
    model, opt, rng = setup(0, opt_name, cov)
    straight = train(model, opt, *data, config, rng, tmp_path / "a")

    model2, opt2, rng2 = setup(0, opt_name, cov)
    with pytest.raises(TrainingInterrupted) as info:
        train(model2, opt2, *data, config, rng2, tmp_path / "b", on_step=stop_at(stop))
    assert info.value.state.step == stop
    assert info.value.path == str(tmp_path / "b" / "checkpoint.npz")

    model3, opt3, rng3 = setup(1, opt_name, cov)             # another seed: all must come back
    state = restore(tmp_path / "b" / "checkpoint.npz", model3, opt3, rng3, config)
    resumed = train(model3, opt3, *data, config, rng3, tmp_path / "b", state=state)
    assert np.array_equal(model3.params, model.params)
    for key, value in opt.state_dict().items():
        assert np.array_equal(opt3.state_dict()[key], value), key
    assert rng3.bit_generator.state == rng.bit_generator.state
    assert same(resumed.history, straight.history)
    assert same(read_metrics(tmp_path / "b" / "metrics.csv"),
                read_metrics(tmp_path / "a" / "metrics.csv"))


def test_killed_run_resumes_from_the_last_periodic_checkpoint(data, tmp_path):
    """A crash (not Ctrl-C) saves nothing; the checkpoint of step 14 (every 7 steps) is used."""
    config = TrainConfig(epochs=2, batch_size=BATCH, checkpoint_every=7, dynamic_binarize=True)
    model, opt, rng = setup()
    train(model, opt, *data, config, rng)
    model2, opt2, rng2 = setup()
    with pytest.raises(RuntimeError):
        train(model2, opt2, *data, config, rng2, tmp_path, on_step=stop_at(17, RuntimeError))
    model3, opt3, rng3 = setup(2)
    state = restore(tmp_path / "checkpoint.npz", model3, opt3, rng3, config)
    assert (state.epoch, state.batch, state.step) == (1, 4, 14)
    train(model3, opt3, *data, config, rng3, tmp_path, state=state)
    assert np.array_equal(model3.params, model.params)


def test_ctrl_c_saves_a_checkpoint_that_records_the_position(data, tmp_path):
    model, opt, rng = setup()
    config = TrainConfig(epochs=5, batch_size=BATCH)
    with pytest.raises(TrainingInterrupted) as info:
        train(model, opt, *data, config, rng, tmp_path, on_step=stop_at(25))
    assert isinstance(info.value, KeyboardInterrupt)       # uncaught, it behaves like Ctrl-C
    c = ckpt.load(tmp_path / "checkpoint.npz")
    progress = c.meta["progress"]
    assert (progress["epoch"], progress["batch"], progress["step"]) == (2, 5, 25)
    assert progress["epoch_rng_state"] is not None
    assert np.array_equal(c.params, model.params)
    assert len(read_metrics(tmp_path / "metrics.csv")) == 2


def test_same_seed_same_metrics_and_parameters(data, tmp_path):
    config = TrainConfig(epochs=2, batch_size=BATCH, dynamic_binarize=True)
    models = []
    for name in ("a", "b"):
        model, opt, rng = setup(3)
        train(model, opt, *data, config, rng, tmp_path / name)
        models.append(model)
    assert np.array_equal(models[0].params, models[1].params)
    rows = [read_metrics(tmp_path / n / "metrics.csv") for n in ("a", "b")]
    assert same(rows[0], rows[1])
    assert list(rows[0][0]) == list(METRICS)
    assert [r["samples_seen"] for r in rows[0]] == [N_TRAIN, 2 * N_TRAIN]
    assert all(np.isclose(r["train_elbo"], r["train_recon"] - r["train_kl"]) for r in rows[0])
    assert all(np.isclose(r["test_elbo"], r["test_recon"] - r["test_kl"]) for r in rows[0])


def test_training_improves_the_elbo(data):
    model, opt, rng = setup()
    state = train(model, opt, *data, TrainConfig(epochs=4, batch_size=BATCH), rng)
    test = [r["test_elbo"] for r in state.history]
    assert test[-1] > test[0] + 20


def test_divergence_is_reported(data):
    model, opt, rng = setup()
    model.params[:] = np.nan
    with pytest.raises(TrainingDiverged, match="step 1"):
        train(model, opt, *data, TrainConfig(epochs=1, batch_size=BATCH), rng)


def test_bad_config_and_data_are_rejected(data):
    model, opt, rng = setup()
    before = model.params.copy()
    for bad in (dict(epochs=0), dict(batch_size=-1), dict(objective="vimco"),
                dict(checkpoint_every=-2)):
        with pytest.raises((ValueError, TypeError)):
            train(model, opt, *data, TrainConfig(**bad), rng)
    with pytest.raises(ValueError, match="x_train"):
        train(model, opt, data[0][:, :100], data[1], TrainConfig(), rng)
    with pytest.raises(TypeError, match="x_train"):
        train(model, opt, data[0].astype(np.float64), data[1], TrainConfig(), rng)
    assert np.array_equal(model.params, before)


# ----------------------------------------------------------------------------- checkpoints

def test_restore_rejects_another_model_or_setup_and_changes_nothing(data, tmp_path):
    config = TrainConfig(epochs=1, batch_size=BATCH)
    model, opt, rng = setup()
    train(model, opt, *data, config, rng, tmp_path)
    path = tmp_path / "checkpoint.npz"
    other = nv.VAE(784, [16], 4, rng=np.random.default_rng(0))
    before, state = other.params.copy(), rng.bit_generator.state
    with pytest.raises(ValueError, match="hidden_dims"):
        restore(path, other, nv.optim.make("adam", 1e-3), rng, config)
    m2, o2, r2 = setup(9)
    p2 = m2.params.copy()
    with pytest.raises(ValueError, match="batch_size"):
        restore(path, m2, o2, r2, TrainConfig(epochs=1, batch_size=64))
    with pytest.raises(ValueError, match="lr"):
        restore(path, m2, nv.optim.make("adam", 1e-2), r2, config)
    with pytest.raises(ValueError, match="name"):
        restore(path, m2, nv.optim.make("sgd", 1e-3), r2, config)
    c = ckpt.load(path)
    ckpt.save(tmp_path / "bad_rng.npz", params=c.params, optimizer_state=c.optimizer_state,
              rng_state={"bit_generator": "MT19937"}, meta=c.meta)
    with pytest.raises(ValueError, match="bad_rng.npz"):
        restore(tmp_path / "bad_rng.npz", m2, o2, r2, config)
    assert np.array_equal(other.params, before) and np.array_equal(m2.params, p2)
    assert rng.bit_generator.state == state and o2.t == 0


def test_checkpoint_round_trip_and_no_temp_files(tmp_path):
    params = np.arange(5, dtype=np.float32)
    opt = {"opt_m": params * 2, "opt_t": np.array(3)}
    state = np.random.default_rng(4).bit_generator.state
    for _ in range(3):
        ckpt.save(tmp_path / "c.npz", params=params, optimizer_state=opt, rng_state=state,
                  meta={"a": [1, 2.5, None], "b": "x"})
    c = ckpt.load(tmp_path / "c.npz")
    assert np.array_equal(c.params, params) and c.params.dtype == np.float32
    assert np.array_equal(c.optimizer_state["opt_m"], opt["opt_m"])
    assert c.rng_state == state and c.meta == {"a": [1, 2.5, None], "b": "x"}
    assert os.listdir(tmp_path) == ["c.npz"]


def test_failed_write_leaves_the_old_checkpoint_and_no_temp_file(tmp_path):
    good = dict(params=np.ones(3, np.float32), optimizer_state={}, rng_state={}, meta={})
    ckpt.save(tmp_path / "c.npz", **good)
    with pytest.raises(TypeError):               # a set is not JSON: fails inside the write
        ckpt.save(tmp_path / "c.npz", **{**good, "params": np.zeros(3, np.float32),
                                           "meta": {"bad": {1, 2}}})
    assert np.array_equal(ckpt.load(tmp_path / "c.npz").params, np.ones(3))
    assert os.listdir(tmp_path) == ["c.npz"]


def _bad_files(tmp_path):
    good = tmp_path / "good.npz"
    ckpt.save(good, params=np.ones(3, np.float32), optimizer_state={"opt_m": np.ones(3)},
              rng_state={}, meta={})
    raw = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(raw[:len(raw) // 2])
    (tmp_path / "text.npz").write_text("not a zip file\n")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with np.load(good) as z:
        arrays = dict(z)
    np.savez(tmp_path / "tag.npz", **{**arrays, "format": np.array("something-else")})
    np.savez(tmp_path / "shape.npz", **{**arrays, "opt_m": np.ones(4)})
    np.savez(tmp_path / "matrix.npz", **{**arrays, "params": np.ones((3, 1))})
    np.savez(tmp_path / "json.npz", **{**arrays, "meta": np.array("{oops")})
    with zipfile.ZipFile(tmp_path / "pickle.npz", "w") as zf:   # an object array (pickle)
        for name in ("format", "version", "params", "rng_state"):
            with zf.open(f"{name}.npy", "w") as f:
                np.save(f, arrays[name])
        with zf.open("meta.npy", "w") as f:
            np.save(f, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return ["truncated", "text", "empty", "foreign", "tag", "shape", "matrix", "json",
            "pickle"]


def test_bad_checkpoint_files_give_a_clear_error_naming_the_file(tmp_path):
    for name in _bad_files(tmp_path):
        path = tmp_path / f"{name}.npz"
        with pytest.raises(ValueError, match=f"{name}.npz"):
            ckpt.load(path)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        ckpt.load(tmp_path / "missing.npz")


def test_progress_prints_a_live_line_on_a_terminal_and_one_line_per_epoch(data):
    import io
    from numpyvae.train import Progress
    for live in (True, False):
        stream = io.StringIO()
        model, opt, rng = setup()
        train(model, opt, *data, TrainConfig(epochs=2, batch_size=BATCH), rng,
              progress=Progress(stream, live=live))
        text = stream.getvalue()
        lines = text.replace("\x1b[K", "").replace("\r", "\n").splitlines()
        epochs = [s for s in lines if s.startswith("epoch ")]
        assert [s.split()[1] for s in epochs] == ["1/2", "2/2"]
        assert all("train -ELBO" in s and "+ KL" in s and "test -ELBO" in s for s in epochs)
        assert ("samples/s" in text and "left" in text and "\r" in text) == live


def test_minibatches_are_gathered_rows_and_fresh_binarizations():
    from numpyvae.train import _gather
    rng = np.random.default_rng(0)
    x = rng.random((10, 6), dtype=np.float32)
    buffer = np.empty((4, 6), np.float32)
    idx = np.array([7, 2])                                   # a short last batch
    xb = _gather(x, idx, buffer, rng, dynamic=False)
    assert xb.shape == (2, 6) and np.shares_memory(xb, buffer)
    np.testing.assert_array_equal(xb, x[idx])
    big = np.full((2000, 50), 0.3, np.float32)
    buf = np.empty((2000, 50), np.float32)
    b1 = _gather(big, np.arange(2000), buf, rng, dynamic=True).copy()
    b2 = _gather(big, np.arange(2000), buf, rng, dynamic=True)
    assert set(np.unique(b1)) == {0.0, 1.0} and abs(b1.mean() - 0.3) < 0.01
    assert (b1 != b2).mean() > 0.3                           # 2 p (1 - p) = 0.42 expected
    np.testing.assert_array_equal(big, np.float32(0.3))      # the data itself is untouched


def test_a_value_error_from_a_bug_is_not_called_divergence(data, monkeypatch):
    model, opt, rng = setup()

    def buggy(*args, **kwargs):
        raise ValueError("a genuine bug in a kernel")
    monkeypatch.setattr(model, "forward_backward", buggy)
    with pytest.raises(ValueError, match="genuine bug") as info:
        train(model, opt, *data, TrainConfig(epochs=1, batch_size=BATCH), rng)
    assert not isinstance(info.value, TrainingDiverged)
