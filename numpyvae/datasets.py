"""Datasets: MNIST, binarized MNIST, Frey Face, and the built-in ``shapes``.

Every loader returns float32 arrays of shape (N, D), one example per row, values in [0, 1].

    load_mnist(split, binarize=None|"dynamic"|"static", ...) -> (x (N, 784), labels (N,) or None)
    binarize_dynamic(x, rng, out=None)                       -> a fresh Bernoulli(x) draw
    load_frey_face(split="all", ...)                         -> x (N, 560), faces of FREY_SHAPE
    make_shapes(n, rng, size=28)                             -> (x (n, 784), factors)
    load_dataset(name, split, ...)                           -> Dataset (for the trainer, CLI)

Files are read from the data directory (``data_dir=``, else ``$NUMPYVAE_DATA``, else
``~/.cache/numpyvae``) with this layout::

    mnist/train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz  t10k-images-idx3-ubyte.gz
          t10k-labels-idx1-ubyte.gz                     (the .gz may also be gunzipped)
    binarized_mnist/binarized_mnist_{train,valid,test}.amat[.gz]
    frey_face/frey_rawface.mat

A missing file is downloaded (unless ``download=False``) from the URLs in BASE_URLS and checked
against the sha256 in FILES before it is moved into place (see ``numpyvae/data/download.py``).

MNIST splits. "train" (60000) and "test" (10000) are the IDX files. The split used by Kingma &
Welling and most VAE papers is "train50k" (IDX training images 0-49999), "valid" (50000-59999)
and "test". The fixed binarization of Larochelle & Murray has its own 50000/10000/10000 files
("train" and "train50k" both mean its train file); its rows are in another order than the IDX
files and it has no labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_array, check_positive_int, check_rng
from .data.download import BASE_URLS, FILES, DatasetError, data_root, download, find_file
from .data.formats import (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_amat, read_frey_mat,
                           read_idx)
from .shapes import SHAPE_NAMES, make_shapes, render_shapes

__all__ = ["load_mnist", "binarize_dynamic", "load_frey_face", "make_shapes", "render_shapes",
           "load_dataset", "Dataset", "DatasetError", "download", "data_root", "frey_test_mask",
           "BASE_URLS", "FILES", "MNIST_SHAPE", "FREY_SHAPE", "SHAPE_NAMES",
           "DATASET_NAMES", "SPLITS", "fingerprint", "fingerprint_mismatch"]

MNIST_SHAPE = (28, 28)
FREY_SHAPE = (28, 20)

MNIST_SPLITS = ("train", "train50k", "valid", "test")
FREY_SPLITS = ("all", "train", "test")
SHAPES_SPLITS = ("train", "valid", "test")
SPLITS = {"shapes": SHAPES_SPLITS, "mnist": MNIST_SPLITS,
          "binarized-mnist": MNIST_SPLITS, "frey-face": FREY_SPLITS}
DATASET_NAMES = tuple(SPLITS)
BINARIZE_CHOICES = (None, "dynamic", "static")

# IDX file stem and number of examples of each MNIST part; which rows each split takes.
_IDX_PARTS = {"train": ("train", 60000), "test": ("t10k", 10000)}
_MNIST_ROWS = {"train": ("train", slice(0, 60000)), "train50k": ("train", slice(0, 50000)),
               "valid": ("train", slice(50000, 60000)), "test": ("test", slice(0, 10000))}
# Larochelle & Murray file of each split, and its number of lines.
_AMAT_PARTS = {"train": ("train", 50000), "train50k": ("train", 50000),
               "valid": ("valid", 10000), "test": ("test", 10000)}
# Frey Face: face i is in the test set when (i * 1214) % 1965 < 197 (see load_frey_face).
_FREY_N, _FREY_N_TEST, _FREY_MULTIPLIER = 1965, 197, 1214
# Shapes: the seed and default size of each split.
_SHAPES_SPLITS = {"train": (0, 20000), "valid": (2, 2000), "test": (1, 2000)}


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _to_unit_float32(pixels):
    """uint8 (N, ...) -> float32 (N, prod(...)) in [0, 1], computed as pixel / 255 in float32."""
    flat = pixels.reshape(pixels.shape[0], -1)
    return np.divide(flat, np.float32(255), dtype=np.float32)


# ----------------------------------------------------------------------------- MNIST
def load_mnist(split, binarize=None, data_dir=None, rng=None, return_labels=True, *,
               download=True):
    """Load MNIST digits.

    split     : "train" (60000), "train50k" (50000), "valid" (10000) or "test" (10000).
    binarize  : None     -> intensities pixel / 255 in [0, 1];
                "dynamic" -> one Bernoulli draw with p = intensity, using ``rng`` (required);
                             call binarize_dynamic each epoch for fresh draws;
                "static"  -> Larochelle & Murray's fixed binarization (no labels).
    rng       : numpy.random.Generator, used only by binarize="dynamic".
    return_labels : False skips reading the label file (labels are then None).
    download  : fetch missing files; if False a missing file raises FileNotFoundError.
    Returns (x, labels): x (N, 784) float32; labels (N,) int64, or None.
    """
    _check_choice(split, "split", MNIST_SPLITS)
    _check_choice(binarize, "binarize", BINARIZE_CHOICES)
    if binarize == "dynamic":
        check_rng(rng)
    if binarize == "static":
        return _load_binarized_mnist(split, data_dir, download), None
    part, rows = _MNIST_ROWS[split]
    stem, count = _IDX_PARTS[part]
    images = _read_mnist_idx(f"{stem}-images-idx3-ubyte", IDX_IMAGES_MAGIC, count, data_dir,
                             download)
    x = _to_unit_float32(images[rows])
    if binarize == "dynamic":
        binarize_dynamic(x, rng, out=x)
    labels = None
    if return_labels:
        raw = _read_mnist_idx(f"{stem}-labels-idx1-ubyte", IDX_LABELS_MAGIC, count, data_dir,
                              download)
        labels = raw[rows].astype(np.int64)
    return x, labels


def _read_mnist_idx(stem, magic, count, data_dir, download):
    """Read mnist/<stem>.gz (or the gunzipped mnist/<stem>) and check its shape."""
    path = find_file([f"mnist/{stem}.gz", f"mnist/{stem}"], data_dir, download=download)
    arr = read_idx(path, magic)
    want = (count, *MNIST_SHAPE) if magic == IDX_IMAGES_MAGIC else (count,)
    if arr.shape != want:
        raise ValueError(f"{path}: holds an array of shape {arr.shape}, expected {want}")
    if magic == IDX_LABELS_MAGIC and arr.max() > 9:
        raise ValueError(f"{path}: holds label {arr.max()}, expected digits 0..9")
    return arr


def _load_binarized_mnist(split, data_dir, download):
    part, count = _AMAT_PARTS[split]
    stem = f"binarized_mnist/binarized_mnist_{part}.amat"
    path = find_file([stem + ".gz", stem], data_dir, download=download)
    bits = read_amat(path, n_values=784)
    if bits.shape[0] != count:
        raise ValueError(f"{path}: holds {bits.shape[0]} lines, expected {count}")
    return bits.astype(np.float32)


def binarize_dynamic(x, rng, out=None):
    """A fresh binarization: each entry is 1 with probability x, else 0.

    x   : (N, D) float32 (or float64) probabilities in [0, 1].
    rng : numpy.random.Generator.
    out : optional array of x's shape and dtype to write into (may be x itself).
    Returns an array of x's dtype holding 0.0 and 1.0. Computed as u < x with u uniform in
    [0, 1) drawn in x's dtype, so float32 input makes no float64 temporaries.
    """
    check_array(x, "x", finite=False)
    check_rng(rng)
    if out is None:
        out = np.empty_like(x)
    else:
        check_array(out, "out", dtype=x.dtype, shape=x.shape, finite=False)
    if out is x:                             # the uniforms cannot overwrite x before the comparison
        u = rng.random(x.shape, dtype=x.dtype)
        return np.less(u, x, out=out)
    rng.random(dtype=x.dtype, out=out)
    return np.less(out, x, out=out)


# ----------------------------------------------------------------------------- Frey Face
def load_frey_face(split="all", data_dir=None, *, download=True):
    """Load the Frey Face images (video frames of one face; Kingma & Welling 2014).

    split : "all" (1965 faces), "train" (1768) or "test" (197, about 10%).
            Face i (0-based, file order) is a test face when (i * 1214) % 1965 < 197.
            1214 / 1965 is close to the golden ratio's 0.618 (Fibonacci hashing), so the test
            faces are spread evenly through the whole video, 5, 8 or 13 frames apart. The rule
            is arithmetic alone, so it never changes with the NumPy version (a permutation from
            a Generator might). Both parts keep the file's (time) order.
    Returns x (N, 560) float32, pixel / 255 in [0, 1]; x.reshape(-1, *FREY_SHAPE) gives the
    28 x 20 images.
    """
    _check_choice(split, "split", FREY_SPLITS)
    path = find_file(["frey_face/frey_rawface.mat"], data_dir, download=download)
    faces = read_frey_mat(path)
    if split != "all":
        if faces.shape[0] != _FREY_N:
            raise ValueError(f"{path}: holds {faces.shape[0]} faces, expected {_FREY_N}")
        faces = faces[frey_test_mask() == (split == "test")]
    return _to_unit_float32(faces)


def frey_test_mask():
    """(1965,) bool: True for the faces of the Frey Face "test" split."""
    i = np.arange(_FREY_N, dtype=np.int64)
    return (i * _FREY_MULTIPLIER) % _FREY_N < _FREY_N_TEST


# ----------------------------------------------------------------------------- one entry point
@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a dataset, as the trainer and the CLI use it.

    x           : (N, D) float32 in [0, 1], D = image_shape[0] * image_shape[1].
    labels      : (N,) int64 class labels (digits, or the shape kind), or None.
    image_shape : (rows, cols) of one image, to reshape rows of x for plotting.
    name        : the dataset name given to load_dataset.
    factors     : for "shapes", the true factors (see make_shapes); else None.
    split       : the split given to load_dataset.
    """
    x: np.ndarray
    labels: np.ndarray | None
    image_shape: tuple
    name: str
    factors: dict | None = None
    split: str | None = None

    def __len__(self):
        return self.x.shape[0]


def load_dataset(name, split, *, binarize=None, data_dir=None, rng=None, n=None, download=True):
    """Load a split of a dataset by name -> Dataset.

    name     : "shapes", "mnist", "binarized-mnist" or "frey-face" (DATASET_NAMES).
    split    : one of SPLITS[name]: shapes train/valid/test; mnist and binarized-mnist
               train/train50k/valid/test; frey-face all/train/test.
    binarize : None or "dynamic" (needs ``rng``) for any dataset; "static" for the two MNISTs
               ("binarized-mnist" is always static).
    n        : shapes: how many images to render (default 20000 for train, 2000 otherwise;
               rendered with np.random.default_rng(seed), seed 0 train, 1 test, 2 valid).
               Other datasets: keep the first n examples (at most the split's size).
    """
    _check_choice(name, "name", DATASET_NAMES)
    _check_choice(split, "split", SPLITS[name])
    _check_choice(binarize, "binarize", BINARIZE_CHOICES)
    if binarize == "static" and name not in ("mnist", "binarized-mnist"):
        raise ValueError(f"binarize='static' exists only for MNIST, not for {name!r}")
    if name == "binarized-mnist" and binarize == "dynamic":
        raise ValueError("binarize must be None or 'static' for 'binarized-mnist' "
                         "(it is already binary)")
    if n is not None:
        n = check_positive_int(n, "n")
    if binarize == "dynamic":
        check_rng(rng)
    factors = None
    if name == "shapes":
        seed, default_n = _SHAPES_SPLITS[split]
        x, factors = make_shapes(n or default_n, np.random.default_rng(seed))
        labels, image_shape = factors["shape"], MNIST_SHAPE
    elif name == "frey-face":
        x, labels = load_frey_face(split, data_dir, download=download), None
        image_shape = FREY_SHAPE
    else:
        mode = "static" if name == "binarized-mnist" else binarize
        x, labels = load_mnist(split, mode, data_dir, rng, download=download)
        image_shape = MNIST_SHAPE
    if n is not None and name != "shapes":
        if n > x.shape[0]:
            raise ValueError(f"n must be at most {x.shape[0]} for {name} {split!r}, got {n}")
        x = x[:n].copy()
        labels = None if labels is None else labels[:n].copy()
    if binarize == "dynamic" and name != "mnist":
        x = binarize_dynamic(x, rng)
    return Dataset(x, labels, image_shape, name, factors, split)


# ----------------------------------------------------------------------------- fingerprints
def _source_files(name, split, binarize):
    """The files (paths under the data directory, each a list of accepted names) that
    ``load_dataset(name, split, binarize=...)`` reads; none for the generated shapes."""
    if name == "frey-face":
        return [["frey_face/frey_rawface.mat"]]
    if name == "binarized-mnist" or binarize == "static":
        stem = f"binarized_mnist/binarized_mnist_{_AMAT_PARTS[split][0]}.amat"
        return [[stem + ".gz", stem]]
    stem = _IDX_PARTS[_MNIST_ROWS[split][0]][0]
    return [[f"mnist/{stem}-{kind}.gz", f"mnist/{stem}-{kind}"]
            for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]


_HASHES = {}                 # (path, size, mtime_ns) -> sha256, so a file is read once per process


def _sha256_file(path):
    import hashlib
    import os
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def fingerprint(data, binarize=None, data_dir=None):
    """What a run's data were, to store in its checkpoint -> ({key: sha256 hex}, warnings).

    data : a Dataset from ``load_dataset``.  For MNIST, binarized MNIST and Frey Face the keys
    are the files read (paths under the data directory, e.g. "frey_face/frey_rawface.mat") and
    the values their sha256, so any change to a file shows, whichever rows a run takes.  For
    the generated shapes the key is "shapes <split> <N>" and the value the sha256 of ``data.x``.
    ``warnings``: one line for each file whose sha256 differs from the published file's (FILES),
    for the caller to report: such a file is used, but not silently."""
    import hashlib
    if data.name == "shapes":
        x = np.ascontiguousarray(data.x)
        return {f"shapes {data.split} {len(data)}": hashlib.sha256(x.data).hexdigest()}, []
    prints, warnings = {}, []
    for names in _source_files(data.name, data.split, binarize):
        path = find_file(names, data_dir, download=False)
        key = next(n for n in names if str(path).endswith(n))
        prints[key] = _sha256_file(path)
        if key in FILES and FILES[key][1] != prints[key]:
            warnings.append(f"{path}: sha256 {prints[key][:12]}... differs from the published "
                            f"file's {FILES[key][1][:12]}... (a changed or other copy); used as it is")
    return prints, warnings


def fingerprint_mismatch(recorded, current):
    """The first difference between two ``fingerprint`` dicts, as a phrase, or None.  Only keys
    in both are compared (a run's evaluation may read another split's files)."""
    if not isinstance(recorded, dict):
        return None
    for key in sorted(set(recorded) & set(current)):
        if recorded[key] != current[key]:
            return (f"{key} has sha256 {str(current[key])[:12]}..., the checkpoint was trained on "
                    f"{str(recorded[key])[:12]}...")
    return None
