"""The grader names the mistakes students make (issue 14): each wrong variant below is written
as a student would write it, and must get its diagnosis by name."""
import numpy as np
import pytest

from numpyvae.exercises import EXERCISES, find_exercise, format_result, grade
from numpyvae.exercises import mistakes as M
from numpyvae.exercises import solutions as S
from numpyvae.exercises.ex10_contractive import _contractive
from numpyvae.exercises.ex12_vae import vae_backward as vae_reference
from numpyvae.exercises.ex12_vae import vae_forward


def graded(name, function, impl):
    ex = find_exercise(name)
    fns = {p.function: S.reference(p.function) for p in ex.parts}
    fns[function] = impl
    result = grade(ex, fns)
    return result, {c.gradient: c for c in result.checks if c.function == function}


def kind(check):
    return None if check.diagnosis is None else check.diagnosis.kind


def sample_sum(a):
    return a if a.ndim == 2 else a.sum(axis=0)


# ----------------------------------------------------------------------- single mistakes


def test_kl_sign_error_inside_the_formula():
    def kl(dkl, cache):
        mu, var = cache
        d = dkl[:, None]
        return mu * d, 0.5 * (var + 1) * d               # + 1 where the -logvar gives - 1
    result, c = graded("kl", "kl_std_normal_backward", kl)
    assert c["dmu"].passed and not c["dlogvar"].passed
    assert kind(c["dlogvar"]) == "sign"
    assert "inside the KL formula" in c["dlogvar"].diagnosis.message


def test_bias_gradient_not_summed_over_the_batch():
    def dense(dy, cache):
        x, W = cache
        return dy @ W.T, x.T @ dy, dy
    result, c = graded("dense", "dense_backward", dense)
    assert c["dx"].passed and c["dW"].passed
    assert kind(c["db"]) == "not_summed"
    assert "sum over the batch" in c["db"].diagnosis.message


@pytest.mark.parametrize("function, impl", [
    ("tanh_backward", lambda dy, y: dy * (1 - np.tanh(y) ** 2)),
    ("sigmoid_backward", lambda dy, y: dy / (1 + np.exp(-y)) * (1 - 1 / (1 + np.exp(-y)))),
])
def test_activation_derivative_applied_to_the_output_twice(function, impl):
    result, c = graded("activations", function, impl)
    assert kind(c["dx"]) == "applied_twice", format_result(result)


def test_right_for_batch_size_one_only_says_the_n1_case_passed():
    # the direct term of the contractive penalty without its 1/N: a term-wise slip, not N x ref
    def cae(x, W, b, lam):
        return _contractive(x, W, b, lam, direct_mean=False)
    result, c = graded("contractive", "contractive_penalty_grad", cae)
    assert c["db"].passed and kind(c["dW"]) == "batch_size_one", format_result(result)
    assert "the N = 1 case passed" in c["dW"].diagnosis.message
    # and the whole-VAE exercise's KL without its 1/N
    result, c = graded("vae", "vae_backward",
                       M.for_function("vae", "vae_backward")[3].impl)
    assert kind(c["W_mu"]) == "batch_size_one" and "N = 1 case passed" in \
        c["W_mu"].diagnosis.message


def test_dW_transposed_on_a_square_weight_matrix():
    def dense(dy, cache):
        x, W = cache
        return dy @ W.T, (x.T @ dy).T, dy.sum(axis=0)
    ex = find_exercise("dense")
    square = [c for c in ex.cases() if c.inputs["W"].shape[0] == c.inputs["W"].shape[1]]
    assert square                                   # the catalogue has a square case
    result, c = graded("dense", "dense_backward", dense)
    assert kind(c["dW"]) == "transpose" and "square" in c["dW"].diagnosis.message


# ----------------------------------------------------------------------- two at once


@pytest.mark.parametrize("name, function, impl, gradient, expected", [
    # the variance for the standard deviation AND the 1/2 missing, in the node ...
    ("reparam", "gaussian_backward",
     lambda dz, c: (sample_sum(dz), sample_sum(dz * c[1]) * c[0] ** 2), "dlogvar",
     "std_vs_variance+factor_2"),
    # ... and the standard deviation for the variance AND the 1/2 missing, in the KL
    ("kl", "kl_std_normal_backward",
     lambda dkl, c: (c[0] * dkl[:, None], (np.sqrt(c[1]) - 1) * dkl[:, None]), "dlogvar",
     "std_vs_variance+factor_2"),
    # no tril AND the outer product transposed
    ("full_cov", "full_cov_backward",
     lambda dz, c: (sample_sum(dz), sample_sum(np.einsum("...ni,...nj->...nij", c[1], dz))
                    if dz.ndim == 3 else np.einsum("ni,nj->nij", c[1], dz)), "dL",
     "upper_triangle+transpose"),
])
def test_two_mistakes_at_once_are_both_named(name, function, impl, gradient, expected):
    result, c = graded(name, function, impl)
    assert kind(c[gradient]) == expected, format_result(result)
    assert c[gradient].diagnosis.message.startswith("two mistakes at once")


# ----------------------------------------------------------------------- numerics


@pytest.mark.parametrize("name, function, impl", [
    ("softplus", "softplus_backward", lambda dy, x: dy * np.exp(x) / (1 + np.exp(x))),
    ("bernoulli", "bernoulli_log_likelihood_backward",
     lambda dll, c: (c[0] - np.exp(c[1]) / (1 + np.exp(c[1]))) * dll[..., None]),
    # NaN in a pattern no registered mistake has: the generic rule names it
    ("softplus", "softplus_backward",
     lambda dy, x: dy * (1 - 1 / (1 + np.exp(x))) * (np.exp(x) / np.exp(x))),
])
def test_overflow_prone_formula_is_named(name, function, impl):
    ex = find_exercise(name)
    big = [c for c in ex.cases()
           if any(np.isin([30, -30, 500, -500], np.asarray(v)).all()
                  for v in c.inputs.values() if isinstance(v, np.ndarray))]
    assert big                                    # the cases include +-30 and +-500
    with np.errstate(all="ignore"):
        result, c = graded(name, function, impl)
    (check,) = c.values()
    assert kind(check) == "overflow", format_result(result)
    assert "overflow" in check.diagnosis.message and "NaN" in check.diagnosis.message


@pytest.mark.parametrize("name, function, impl", [
    ("softplus", "softplus_backward",
     lambda dy, x: (dy.astype(np.float32) / (1 + np.exp(-x.astype(np.float32)))
                    ).astype(np.float64)),
    ("kl", "kl_std_normal_backward",
     lambda dkl, c: (c[0] * dkl[:, None],
                     (np.float32(0.5) * (c[1].astype(np.float32) - 1)).astype(np.float64)
                     * dkl[:, None])),
])
def test_float32_inside_is_named_precision(name, function, impl):
    with np.errstate(all="ignore"):
        result, c = graded(name, function, impl)
    wrong = [ch for ch in c.values() if not ch.passed]
    assert wrong, format_result(result)
    for ch in wrong:
        assert kind(ch) == "precision", format_result(result)
        assert ch.diagnosis.message.startswith("precision: computed in float32?")


def test_a_float64_formula_in_another_order_is_not_flagged_as_precision():
    def softplus(dy, x):                          # stable, different arithmetic, float64
        e = np.exp(-np.abs(x))
        return dy * np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    result, c = graded("softplus", "softplus_backward", softplus)
    assert result.passed, format_result(result)


# ------------------------------------------------ one output's mistake, the others right


def test_outputs_right_where_the_function_returned_are_not_failed():
    def kl(dkl, cache):                      # mu * dkl raises unless N == k
        mu, var = cache
        return mu * dkl, 0.5 * (var - 1) * dkl[:, None]
    result, c = graded("kl", "kl_std_normal_backward", kl)
    assert result.status == "error"
    assert c["dlogvar"].passed and "where your function returned" in c["dlogvar"].problem
    assert not c["dmu"].passed and kind(c["dmu"]) == "broadcast", format_result(result)
    text = format_result(result)
    assert "broadcast" in text


def test_db_mean_does_not_claim_dW_was_averaged():
    def dense(dy, cache):
        x, W = cache
        return dy @ W.T, x.T @ dy, dy.mean(axis=0)
    result, c = graded("dense", "dense_backward", dense)
    assert c["dW"].passed and c["dx"].passed
    assert kind(c["db"]) == "batch_mean"
    assert "dW" not in c["db"].diagnosis.message


# ------------------------------------------------------------ exercise 12, block by block


def _vae_with(change):
    """The reference backward pass of exercise 12 with ``change(grads, cache)`` applied."""
    def fn(x, eps, params):
        g = vae_reference(x, eps, params)
        _, cache = vae_forward(x, eps, params)
        change(g, cache, params)
        return g
    return fn


def test_exercise_12_names_the_wrong_block_and_the_blocks_after_it():
    def decoder_hidden_sign(g, c, p):
        # da2 with the wrong sign: W2, b2 negated, and everything upstream of it wrong too
        n = c["x"].shape[0]
        dlogits = (S.sigmoid(c["logits"]) - c["x"]) / n
        da2 = -(dlogits @ p["W3"].T) * (1 - c["g"] ** 2)
        g["W2"], g["b2"] = c["z"].T @ da2, da2.sum(axis=0)
        dz = da2 @ p["W2"].T
        dmu = dz + c["mu"] / n
        dlogvar = dz * c["eps"] * 0.5 * c["std"] + 0.5 * (np.exp(c["logvar"]) - 1) / n
        g["W_mu"], g["b_mu"] = c["h"].T @ dmu, dmu.sum(axis=0)
        g["W_logvar"], g["b_logvar"] = c["h"].T @ dlogvar, dlogvar.sum(axis=0)
        da1 = (dmu @ p["W_mu"].T + dlogvar @ p["W_logvar"].T) * (1 - c["h"] ** 2)
        g["W1"], g["b1"] = c["x"].T @ da1, da1.sum(axis=0)
    result, c = graded("vae", "vae_backward", _vae_with(decoder_hidden_sign))
    assert c["W3"].passed and c["b3"].passed
    assert kind(c["W2"]) == "sign" and kind(c["b2"]) == "sign"
    for key in ("W_mu", "b_mu", "W_logvar", "b_logvar", "W1", "b1"):
        assert kind(c[key]) == "downstream", (key, format_result(result))
        assert "the decoder's hidden layer" in c[key].diagnosis.message
    assert "blocks of the backward pass" in " ".join(result.parts[0].notes)


def test_exercise_12_first_wrong_block_without_a_known_mistake():
    def log_variance_head_scaled(g, c, p):
        g["W_logvar"] = 1.1 * g["W_logvar"]       # only this block, no propagation
        g["b_logvar"] = 1.1 * g["b_logvar"]
    result, c = graded("vae", "vae_backward", _vae_with(log_variance_head_scaled))
    assert [k for k, ch in c.items() if not ch.passed] == ["W_logvar", "b_logvar"]
    for key in ("W_logvar", "b_logvar"):
        assert kind(c[key]) == "block"
        msg = c[key].diagnosis.message
        assert "the first wrong block is the log-variance head" in msg
        assert "exercises 07 and 06" in msg


# ------------------------------------------------------------------------- the catalogue


def test_each_exercise_lives_in_one_module():
    from numpyvae.exercises import catalogue
    for module, ex in zip(catalogue.MODULES, EXERCISES, strict=True):
        assert module.EXERCISE is ex and module.STUB == ex.stub
        assert module.__name__.endswith(f"ex{ex.number:02d}_{ex.name}")
        # the exercise's known mistakes are registered by its own module
        for part in ex.parts:
            for m in part.mistakes:
                assert m.impl.__module__ == module.__name__, m.name
    for m in M.MISTAKES:
        assert m.kind in M.KINDS


def test_every_new_kind_is_used_by_a_registered_mistake_or_a_rule():
    kinds = {m.kind for m in M.MISTAKES}
    assert {"not_summed", "applied_twice", "overflow", "broadcast", "sample_axis",
            "batch_size_one"} <= kinds


def test_exercise_12_weight_wrong_with_its_bias_right_points_at_the_weight():
    def only_w2(g, c, p):
        g["W2"] = g["W2"].T.T * 1.2
    result, c = graded("vae", "vae_backward", _vae_with(only_w2))
    assert kind(c["W2"]) == "block"
    assert "b2 is right" in c["W2"].diagnosis.message and "exercise 01" in c["W2"].diagnosis.message
