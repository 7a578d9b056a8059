"""A real MNIST run with the PyTorch-examples setup: 784-400-20 ReLU encoder and decoder,
Bernoulli decoder on logits over the intensities, Adam 1e-3, batch 128, 60000 training images.
The well-known reference reaches a test loss (-ELBO) of about 127 nats after one epoch."""
import os

import numpy as np
import pytest

import numpyvae as nv
from numpyvae.datasets import load_dataset
from numpyvae.train import TrainConfig, train

DATA = os.environ.get("NUMPYVAE_DATA")
HAVE_DATA = bool(DATA) and os.path.isfile(
    os.path.join(DATA, "mnist", "train-images-idx3-ubyte.gz"))

pytestmark = [
    pytest.mark.slow, pytest.mark.data,
    pytest.mark.skipif(not HAVE_DATA, reason="MNIST not found: set NUMPYVAE_DATA=../shared/data "
                                             "(a folder holding mnist/*.gz) to run this test"),
]


def test_one_epoch_of_mnist_beats_the_pytorch_reference(tmp_path):
    train_x = load_dataset("mnist", "train", download=False).x
    test_x = load_dataset("mnist", "test", download=False).x
    rng = np.random.default_rng(0)
    model = nv.VAE(784, [400], 20, rng=rng)
    state = train(model, nv.optim.make("adam", 1e-3), train_x, test_x,
                  TrainConfig(epochs=1, batch_size=128), rng, tmp_path)
    (row,) = state.history
    assert row["samples_seen"] == 60000 and row["step"] == 469
    assert -row["test_elbo"] < 130.0, row
    assert (tmp_path / "checkpoint.npz").exists() and (tmp_path / "metrics.csv").exists()
