"""The float64 central-difference noise floor, for gradient checks of blocks whose gradient is tiny
beside the loss (shared by the model-level gradient checks)."""
import numpy as np


def assert_within_or_fd_noise(report, grads, loss, rel, h=1e-5):
    """Worst relative error < ``rel`` per block, unless the block's gradient is so small that
    float64 central differences cannot resolve ``rel`` of it: their rounding noise is about
    eps_mach (1 + |loss|) / h in absolute terms, and there the error may be up to 10x that noise.
    (A block of size 2e-4 beside a loss of 2 is such a case: noise ~1e-11 is 1e-7 of it.)
    report : gradcheck.CheckReport;  grads : {name: analytic gradient};  loss : float."""
    noise = 10 * np.finfo(np.float64).eps * (1 + abs(loss)) / h
    for name, g in grads.items():
        scale = np.abs(g).max()
        err = report.errors[name] * scale          # rel_error = max |a - b| / max(|a|, |b|)
        assert np.isfinite(err) and err <= max(rel * scale, noise), str(report)
