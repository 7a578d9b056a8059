"""VAE.log_weights takes log p(x|z) a block of samples at a time (evaluate.LIKELIHOOD_BLOCK) so that the
likelihood's temporaries fit the L2 cache: the numbers must be those of one piece, bit for bit."""
import numpy as np
import pytest

import numpyvae as nv


@pytest.mark.parametrize("kwargs", [{"likelihood": "bernoulli"},
                                    {"likelihood": "gaussian"},
                                    {"likelihood": "gaussian", "decoder_logvar": 0.0},
                                    {"likelihood": "bernoulli", "covariance": "full"}])
@pytest.mark.parametrize("block", [1, 7 * 12, 5 * 12 * 12 + 1])
def test_blocked_log_weights_equal_one_piece(kwargs, block):
    rng = np.random.default_rng(0)
    model = nv.VAE(12, [9], 3, rng=rng, **kwargs)
    x = rng.random((5, 12)).astype(np.float32)
    if kwargs["likelihood"] == "bernoulli":
        x = (x < 0.4).astype(np.float32)
    eps = rng.standard_normal((23, 5, 3)).astype(np.float32)        # 23 samples: no block divides it
    whole = model.log_weights(x, eps)
    blocked = model.log_weights(x, eps, block)          # blocks of 1 and of 6-12 samples
    assert blocked.shape == (23, 5) and blocked.dtype == np.float32
    np.testing.assert_array_equal(blocked, whole)
    # and the value is the textbook one: log p(x|z) + log p(z) - log q(z|x), term by term
    h, _ = model.encoder.forward(x)
    q, _ = model.posterior.forward(h, eps, kl=False, log_q=True)
    out, _ = model.decoder.forward(q.z.reshape(-1, 3))
    log_px, _ = model.likelihood_forward(x, out.reshape(23, 5, -1))
    expected = log_px + nv.distributions.log_std_normal(q.z) - q.log_q
    np.testing.assert_allclose(blocked, expected, rtol=1e-6, atol=1e-5)
