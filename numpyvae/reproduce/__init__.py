"""Paper reproductions, one module per experiment, and the registry the CLI reads.

    numpyvae reproduce list
    numpyvae reproduce NAME [--budget N] [--out DIR] [--resume] [--smoke]

Each entry: (module, function, what --budget counts, default --out, one-line description).
The function is called as ``fn(out, budget=None, resume=False, smoke=False, data_dir=None,
log=print, **extra)`` and returns its summary rows; it writes CSVs, a PNG and run.json
(with the machine and wall time) into ``out``.  See RESULTS.md for the numbers.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    module: str
    function: str
    budget_unit: str
    default_budget: str
    description: str

    def load(self):
        return getattr(importlib.import_module(f"numpyvae.reproduce.{self.module}"),
                       self.function)


EXPERIMENTS = {e.name: e for e in (
    Experiment("kingma-fig2", "kingma", "run_fig2", "training examples per N_z", "1e7",
               "Kingma & Welling 2014 Fig. 2, MNIST: lower bound vs examples seen, "
               "N_z in {3,5,10,20,200}"),
    Experiment("kingma-frey", "kingma", "run_frey", "training examples per N_z", "1e6",
               "Kingma & Welling 2014 Fig. 2, Frey Face: N_z in {2,5,10,20}"),
    Experiment("iwae", "iwae", "run", "epochs (of the 3^(i-1) schedule)", "40",
               "Burda et al. 2015 Table 1: VAE (k=1) and IWAE (k=5), 784-200-200-50, "
               "test NLL with k=5000"),
    Experiment("pytorch-example", "pytorch_example", "run", "epochs", "10",
               "PyTorch examples VAE: 784-400-20 ReLU, Adam 1e-3, batch 128, MNIST intensities"),
    Experiment("marginal-likelihood", "marginal", "run", "training examples per run", "3e6",
               "Kingma & Welling 2014 Fig. 3 analogue: N_z=3, 100 hidden, log p(x) on "
               "train/test with 1,000 vs 50,000 training points"),
)}
