"""``numpyvae check train``: the student's backward passes train the real VAE.

The runs here are a few steps of a small model (the command's default is the course VAE for
200 steps); each run is a child process, as for a student.
"""
import inspect
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

import numpyvae as nv
from numpyvae.cli import main
from numpyvae.commands import check_train as T
from numpyvae.exercises import catalogue
from numpyvae.exercises import solutions as S
from numpyvae.exercises.grader import load_module

STUBS = Path(__file__).resolve().parents[2] / "lessons" / "exercises"
SMALL = {"hidden": [16], "z_dim": 3, "n_train": 60, "batch_size": 10}


def folder(tmp_path, name, files=None, stubs=True):
    """A student folder: the shipped stubs, with some files replaced."""
    d = tmp_path / name
    d.mkdir()
    if stubs:
        for p in STUBS.glob("[0-9][0-9]_*.py"):
            shutil.copy(p, d / p.name)
    for fname, source in (files or {}).items():
        (d / fname).write_text(textwrap.dedent(source), encoding="utf-8")
    return d


def reference_folder(tmp_path):
    return folder(tmp_path, "ref", {ex.stub: "from numpyvae.exercises.solutions import *\n"
                                    for ex in catalogue.EXERCISES})


HALF_MISSING = """
    import numpy as np

    def gaussian_backward(dz, cache):
        std, eps = cache
        dmu = dz if dz.ndim == 2 else dz.sum(axis=0)
        t = dz * eps * std                     # the 1/2 of d std / d logvar is missing
        return dmu, (t if t.ndim == 2 else t.sum(axis=0))
    """


# ------------------------------------------------------------------- the stubs' signatures


@pytest.mark.parametrize("ex, part", catalogue.library_parts(),
                         ids=[p.function for _, p in catalogue.library_parts()])
def test_stub_has_the_library_signature_and_the_reference_is_the_library(ex, part):
    import importlib
    module_name, attr = part.library.split(":")
    library_fn = getattr(importlib.import_module(module_name), attr)
    assert part.reference is library_fn
    stub = getattr(load_module(STUBS / ex.stub), part.function)
    stub_params = list(inspect.signature(stub).parameters)
    lib_params = list(inspect.signature(library_fn).parameters)
    assert stub_params == lib_params[:len(stub_params)] and len(stub_params) == 2
    assert stub_params[1] == "cache"
    with pytest.raises(NotImplementedError):                 # still obviously unimplemented
        stub(*(ex.cases()[0].inputs[a] for a in part.args))


def test_the_vae_calls_every_exercise_kernel_through_its_module_attribute(monkeypatch):
    """Each library-backed stub function is called by one of the models check train runs."""
    import importlib
    calls = {}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        return wrapped

    for _, part in catalogue.library_parts():
        module_name, attr = part.library.split(":")
        module = importlib.import_module(module_name)
        w = counting(part.function, getattr(module, attr))
        monkeypatch.setattr(module, attr, w)     # the layers look it up there at call time
    seen = {}
    for name, extra in T.variants():
        calls.clear()
        T.train_curve(dict(T.DEFAULTS, **SMALL, **extra), 2)
        seen[name] = set(calls)
    assert seen["course"] == {"dense_backward", "relu_backward", "kl_std_normal_backward",
                              "bernoulli_log_likelihood_backward", "gaussian_backward"}
    # each part's model (the catalogue, the one table of kernels) calls its kernel
    for fn, variant in T.needs().items():
        assert fn in seen[variant], (fn, variant)
    assert set().union(*seen.values()) == {p.function for _, p in catalogue.library_parts()}
    assert [v for v, _ in T.variants()] == ["course", "tanh", "sigmoid", "softplus", "gaussian",
                                            "full"]


# -------------------------------------------------------------------------- the command


def test_reference_solutions_agree_to_float64_rounding(tmp_path):
    d = reference_folder(tmp_path)
    fig = tmp_path / "curves.png"
    result = T.check_train(d, steps=4, config=SMALL, figure=fig, log=lambda s: None)
    assert result["agree"] and not result["responsible"]
    assert all(m["agree"] and m["max_rel_diff"] <= T.AGREE_RTOL for m in result["models"])
    assert {m["model"] for m in result["models"]} == {v[0] for v in T.variants()}
    for name, info in result["functions"].items():       # every kernel was the student's, used
        assert info["source"] == "student" and info["calls"] > 0, name
    assert fig.is_file() and fig.stat().st_size > 10_000
    # the same seed, the same kernels: the library's two runs are bit-identical
    assert result["library_losses"] == result["student_losses"]


def test_reparam_without_the_half_parts_and_names_exercise_07(tmp_path, capsys):
    d = folder(tmp_path, "half", {"07_reparam.py": HALF_MISSING})
    out_json = tmp_path / "r.json"
    code = main(["check", "train", "--dir", str(d), "--steps", "3", "--json", str(out_json),
                 "--figure", str(tmp_path / "f.png")])
    out = capsys.readouterr().out
    assert code == 1
    data = json.loads(out_json.read_text())
    assert data["agree"] is False and data["responsible"] == ["gaussian_backward"]
    assert data["models"][0]["parted_at"] == 1        # step 1's gradient moves step 2's loss
    assert "responsible: exercise 07 (reparam), gaussian_backward" in out
    assert "<- the curves part here" in out
    info = data["functions"]
    assert info["gaussian_backward"]["source"] == "student"
    assert info["dense_backward"] == {**info["dense_backward"], "source": "library",
                                      "status": "not-implemented"}
    assert [m["model"] for m in data["models"]] == ["course"]     # nothing else to exercise


def test_partial_folder_uses_the_library_for_the_rest_and_says_so(tmp_path):
    d = folder(tmp_path, "partial", {"01_dense.py": """
        import numpy as np

        def dense_backward(dy, cache):
            x, W = cache
            return np.einsum("nk,ik->ni", dy, W), np.einsum("ni,nk->ik", x, dy), dy.sum(0)
        """})
    (d / "06_kl.py").unlink()                                    # and a file missing entirely
    lines = []
    result = T.check_train(d, steps=5, config=SMALL, figure=None, log=lines.append)
    assert result["agree"], "\n".join(lines)
    sources = {n: i["source"] for n, i in result["functions"].items()}
    assert [n for n, s in sources.items() if s == "student"] == ["dense_backward"]
    assert result["functions"]["kl_std_normal_backward"]["status"] == "no file"
    text = "\n".join(lines)
    assert text.count("YOURS") == 1 and "result: AGREE" in text
    # the einsum order differs from the library's matmul: equal to rounding, maybe not bit-equal
    assert result["models"][0]["max_rel_diff"] <= T.AGREE_RTOL


def test_a_kernel_returning_a_wrong_shape_is_named(tmp_path):
    d = folder(tmp_path, "shape", {"01_dense.py": """
        def dense_backward(dy, cache):
            x, W = cache
            return dy @ W.T, x.T @ dy, dy            # db not summed over the batch
        """, "07_reparam.py": "from numpyvae.reparam import gaussian_backward\n"})
    lines = []
    result = T.check_train(d, steps=3, config=SMALL, figure=None, log=lines.append)
    assert not result["agree"] and result["responsible"] == ["dense_backward"]
    assert "dense_backward" in result["models"][0]["error"]
    assert "returned db of shape (10, 784), the layer needs (784,)" in result["models"][0]["error"]
    assert "exercise 01 (dense)" in "\n".join(lines)


def test_the_shipped_stubs_have_nothing_to_compare(capsys, tmp_path):
    code = main(["check", "train", "--dir", str(STUBS), "--steps", "2",
                 "--figure", str(tmp_path / "f.png")])
    out = capsys.readouterr().out
    assert code == 1 and "nothing to compare" in out.lower()
    assert out.count("library  (not-implemented)") == 10


def test_one_model_by_flag(tmp_path):
    d = reference_folder(tmp_path)
    result = T.check_train(d, steps=3, config=dict(SMALL, activation="tanh"), figure=None,
                           log=lambda s: None)
    assert [m["model"] for m in result["models"]] == ["custom"] and result["agree"]
    assert result["functions"]["tanh_backward"]["calls"] == 3 * 2     # 2 tanh layers x 3 steps
    assert result["functions"]["relu_backward"]["calls"] == 0


def test_train_curve_is_reproducible_and_float64():
    a, pa = T.train_curve(dict(T.DEFAULTS, **SMALL), 3)
    b, pb = T.train_curve(dict(T.DEFAULTS, **SMALL), 3)
    assert np.array_equal(a, b) and np.array_equal(pa, pb) and pa.dtype == np.float64
    assert isinstance(nv.VAE, type)
    assert S.reference("gaussian_backward") is nv.reparam.gaussian_backward


def test_json_on_stdout_is_strict_even_when_training_blows_up(tmp_path, capsys):
    d = folder(tmp_path, "nan", {"06_kl.py": """
        import numpy as np

        def kl_std_normal_backward(dkl, cache):
            mu, var = cache
            return mu * dkl[:, None] * np.nan, 0.5 * (var - 1) * dkl[:, None]
        """})
    code = main(["check", "train", "--dir", str(d), "--steps", "3", "--json", "-",
                 "--figure", str(tmp_path / "f.png")])
    captured = capsys.readouterr()
    assert code == 1
    data = json.loads(captured.out, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert data["responsible"] == ["kl_std_normal_backward"]
    assert "result: PART" in captured.err                    # the report went to stderr


def test_the_models_to_train_come_from_the_catalogue(monkeypatch):
    """check train keeps no list of kernels or models: change a part's model in the catalogue
    and the model variants follow (a tuple of variants in check_train would not)."""
    import dataclasses
    ex8 = catalogue.find_exercise("08")
    part = dataclasses.replace(ex8.parts[0], model={"covariance": "full", "activation": "tanh"})
    moved = dataclasses.replace(ex8, parts=(part,))
    monkeypatch.setattr(catalogue, "EXERCISES",
                        tuple(moved if ex is ex8 else ex for ex in catalogue.EXERCISES))
    assert T.variants()[-1] == ("full-tanh", {"covariance": "full", "activation": "tanh"})
    assert T.needs()["full_cov_backward"] == "full-tanh"
    assert part.library == "numpyvae.reparam:full_cov_backward"
