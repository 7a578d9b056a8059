"""The VAE calls every kernel through its module at call time (ARCHITECTURE.md, "Kernels are
looked up at call time"), so replacing a module attribute reaches the real training step.
This is what lets ``numpyvae check train`` run a student's backward pass inside the model."""
import importlib

import numpy as np
import pytest

import numpyvae as nv
from numpyvae import distributions as D
from numpyvae import functional as F
from numpyvae import reparam as R
from numpyvae.exercises.catalogue import library_parts

# (module, kernel, model options that route through it).  The kernels a student writes come from
# the exercise catalogue, the one table of them (each Part's ``library`` and ``model``); listed
# here: the forward kernels, the backward kernels no exercise asks for, and sigmoid's second route
# (the Gaussian decoder's mean).
ROUTES = [
    (importlib.import_module(part.library.split(":")[0]), part.library.split(":")[1], part.model)
    for _, part in library_parts()
] + [
    (F, "dense_forward", {}), (F, "relu_forward", {"activation": "relu"}),
    (F, "tanh_forward", {"activation": "tanh"}), (F, "sigmoid_backward", {"likelihood": "gaussian"}),
    (R, "gaussian_forward", {}), (R, "full_cov_forward", {"covariance": "full"}),
    (D, "kl_std_normal_forward", {}),
    (D, "kl_full_cov_std_normal_backward", {"covariance": "full"}),
    (D, "bernoulli_log_likelihood_forward", {}),
    (D, "gaussian_log_likelihood_forward", {"likelihood": "gaussian"}),
    (D, "log_std_normal_backward", {"objective": "iwae"}),
]


@pytest.mark.parametrize("module,name,options", ROUTES, ids=[r[1] + str(r[2]) for r in ROUTES])
def test_replacing_a_module_attribute_reaches_the_training_step(monkeypatch, module, name, options):
    options = dict(options)
    objective = options.pop("objective", "elbo")
    real, calls = getattr(module, name), []

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, spy)
    rng = np.random.default_rng(0)
    model = nv.VAE(6, [5], 2, rng=rng, **options)
    x = rng.random((4, 6), dtype=np.float32)
    before = model.loss_and_grad(x, np.random.default_rng(1), objective=objective)[1].copy()
    assert calls, f"{name} was not called through {module.__name__}"
    # the spy changes nothing: same gradient as without it
    monkeypatch.setattr(module, name, real)
    after = model.loss_and_grad(x, np.random.default_rng(1), objective=objective)[1]
    np.testing.assert_array_equal(before, after)
