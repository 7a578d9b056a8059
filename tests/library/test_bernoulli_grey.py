"""A Bernoulli decoder on grey levels is said, not hidden (issue 18 item 7).

A Bernoulli decoder is a normalised density over binary x only; on intensities in (0, 1) its
"log p(x)" is a cross-entropy score.  ``evaluate.log_likelihood`` warns (once per call),
``numpyvae evaluate`` writes ``"bernoulli_on_grey": true`` and a note into evaluate.json and
says it in its printout, and report.md says it.  Binary data give no warning and no note.
"""
import json
import warnings

import numpy as np
import pytest

import numpyvae as nv
from numpyvae.cli import main
from numpyvae.evaluate import GREY_NOTE, bernoulli_on_grey, log_likelihood

SMALL = ["--n-train", "200", "--n-test", "60", "--hidden", "16", "--batch-size", "50",
         "--z-dim", "2", "--epochs", "1", "--quiet"]


def test_grey_levels_are_detected_for_a_bernoulli_decoder_only():
    rng = np.random.default_rng(0)
    bern = nv.VAE(6, [4], 2, rng=rng)
    gauss = nv.VAE(6, [4], 2, likelihood="gaussian", rng=rng)
    binary = (rng.random((5, 6)) < 0.5).astype(np.float32)
    one_grey = binary.copy()
    one_grey[3, 2] = 0.5
    assert bernoulli_on_grey(bern, one_grey) and not bernoulli_on_grey(bern, binary)
    assert not bernoulli_on_grey(bern, np.zeros((2, 6), np.float32))
    assert not bernoulli_on_grey(gauss, one_grey)


def test_log_likelihood_warns_once_per_call_however_it_is_chunked():
    rng = np.random.default_rng(0)
    model = nv.VAE(6, [4], 2, rng=rng)
    grey = rng.random((5, 6), dtype=np.float32)
    with pytest.warns(UserWarning) as record:
        log_likelihood(model, grey, k=8, rng=rng, batch_size=1, chunk=2)    # 20 chunks
    assert len(record) == 1
    assert "Bernoulli" in str(record[0].message) and GREY_NOTE in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_likelihood(model, (grey < 0.5).astype(np.float32), k=8, rng=rng)   # binary: quiet
        model.iwae_bound(grey, 8, rng)                 # a bound needs no warning


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two 1-epoch shapes runs: grey intensities (the default) and --binarize dynamic."""
    base = tmp_path_factory.mktemp("grey")
    grey, binary = base / "grey", base / "binary"
    assert main(["train", "--out", str(grey), *SMALL]) == 0
    assert main(["train", "--out", str(binary), "--binarize", "dynamic", *SMALL]) == 0
    return grey, binary


def test_evaluate_on_grey_levels_says_so_once(runs, capsys):
    """The command prints the note itself, so it does not also raise the library's warning
    (the terminal would show the text twice)."""
    grey, _ = runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["evaluate", str(grey), "--k", "5", "--n", "20"]) == 0
    result = json.loads((grey / "evaluate.json").read_text())
    assert result["bernoulli_on_grey"] is True and result["note"] == GREY_NOTE
    assert "\n" not in result["note"]
    out = capsys.readouterr().out
    assert f"note: {GREY_NOTE}" in out
    assert "Bernoulli decoder on grey levels" in (grey / "report.md").read_text()


def test_evaluate_on_binary_data_neither_warns_nor_notes(runs, capsys):
    _, binary = runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["evaluate", str(binary), "--k", "5", "--n", "20"]) == 0
    result = json.loads((binary / "evaluate.json").read_text())
    assert result["bernoulli_on_grey"] is False and "note" not in result
    assert "note:" not in capsys.readouterr().out
    assert "grey levels" not in (binary / "report.md").read_text()
