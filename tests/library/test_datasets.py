"""Tests for numpyvae.datasets: file parsing, loaders on small synthetic files, shapes, and
(marked slow/data) the real files under $NUMPYVAE_DATA."""
import dataclasses
import gzip
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyvae import datasets as ds
from numpyvae import shapes as shapes_module
from numpyvae.data import formats


# ----------------------------------------------------------------------------- file writers
def write_idx(path, arr, *, magic=None, gz=True, cut=0):
    """Write a uint8 array as an IDX file (gzipped if gz); drop the last ``cut`` bytes."""
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 + arr.ndim
    raw = struct.pack(f">i{arr.ndim}i", magic, *arr.shape) + arr.tobytes()
    raw = raw[:len(raw) - cut]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return Path(path)


def amat_text(bits, sep=" ", newline="\n"):
    return "".join(sep.join(map(str, row)) + newline for row in np.asarray(bits))


def amat_bytes(bits):
    """The exact original layout, built with NumPy (fast for 10000 lines)."""
    bits = np.asarray(bits, dtype=np.uint8)
    text = np.full((bits.shape[0], 2 * bits.shape[1]), ord(" "), dtype=np.uint8)
    text[:, 0::2] = bits + ord("0")
    text[:, -1] = ord("\n")
    return text.tobytes()


def write_frey(path, faces):
    """faces (N, 560) uint8 -> .mat with ff of shape (560, N)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"ff": np.ascontiguousarray(np.asarray(faces, np.uint8).T)})
    return Path(path)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """A data directory with synthetic MNIST files: image k is filled with k % 256, label k % 10."""
    root = tmp_path_factory.mktemp("data")
    for stem, count in (("train", 60000), ("t10k", 10000)):
        k = np.arange(count)
        images = np.broadcast_to((k % 256).astype(np.uint8)[:, None, None], (count, 28, 28))
        write_idx(root / f"mnist/{stem}-images-idx3-ubyte.gz", images)
        write_idx(root / f"mnist/{stem}-labels-idx1-ubyte.gz", k % 10)
    return root


# ----------------------------------------------------------------------------- IDX
@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 5), rows=st.integers(1, 4), cols=st.integers(1, 4), gz=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_idx_round_trip(n, rows, cols, gz, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        got = formats.read_idx(write_idx(Path(tmp) / "img", images, gz=gz), 2051)
        np.testing.assert_array_equal(got, images)
        got = formats.read_idx(write_idx(Path(tmp) / "lab", labels, gz=gz), 2049)
        np.testing.assert_array_equal(got, labels)


def test_idx_wrong_magic_names_file(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(4))
    with pytest.raises(ValueError, match=r"labels\.gz.*magic number is 2049, expected 2051"):
        formats.read_idx(path, 2051)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("cut", [1, 100, 20])
def test_idx_truncated_names_file(tmp_path, gz, cut):
    path = write_idx(tmp_path / "images-idx3", np.zeros((3, 4, 5)), gz=gz, cut=cut)
    with pytest.raises(ValueError, match="images-idx3.*truncated"):
        formats.read_idx(path, 2051)


def test_idx_trailing_bytes_rejected(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(struct.pack(">ii", 2049, 3) + b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="labels.*needs 11"):
        formats.read_idx(path, 2049)


def test_truncated_gzip_names_file(tmp_path):
    good = gzip.compress(struct.pack(">ii", 2049, 1000) + bytes(range(250)) * 4)
    path = tmp_path / "cut.gz"
    path.write_bytes(good[:len(good) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip"):
        formats.read_idx(path, 2049)


# ----------------------------------------------------------------------------- .amat
@pytest.mark.parametrize("sep, newline", [(" ", "\n"), ("\t", "\r\n"), ("  ", "\n")])
@pytest.mark.parametrize("gz", [False, True])
def test_amat_round_trip(tmp_path, sep, newline, gz):
    bits = np.random.default_rng(0).integers(0, 2, size=(7, 784), dtype=np.uint8)
    data = amat_text(bits, sep, newline).encode()
    if sep == " " and newline == "\n":
        assert data == amat_bytes(bits)
    path = tmp_path / "x.amat"
    path.write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(formats.read_amat(path), bits)


def test_amat_without_final_newline(tmp_path):
    bits = np.eye(2, 784, dtype=np.uint8)
    (tmp_path / "x.amat").write_text(amat_text(bits).rstrip("\n"))
    np.testing.assert_array_equal(formats.read_amat(tmp_path / "x.amat"), bits)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[:2] + [rows[2][:-2]] + rows[3:], "line 3 has 783 values"),
    (lambda rows: rows[:1] + [rows[1].replace("1", "2", 1)] + rows[2:], "line 2 holds a value"),
    (lambda rows: [rows[0].replace("0 1", "01 1", 1)] + rows[1:], "line 1"),
])
def test_amat_bad_lines_name_file_and_line(tmp_path, change, message):
    bits = np.tile([0, 1], (4, 392))
    rows = amat_text(bits).splitlines()
    (tmp_path / "bad.amat").write_text("\n".join(change(rows)) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.amat.*{message}"):
        formats.read_amat(tmp_path / "bad.amat")


def test_amat_empty_file(tmp_path):
    (tmp_path / "empty.amat").write_text("")
    with pytest.raises(ValueError, match=r"empty\.amat.*no examples"):
        formats.read_amat(tmp_path / "empty.amat")


# ----------------------------------------------------------------------------- .mat
def test_frey_mat_round_trip(tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, size=(6, 560), dtype=np.uint8)
    got = formats.read_frey_mat(write_frey(tmp_path / "f.mat", faces))
    np.testing.assert_array_equal(got, faces)
    assert got.flags.c_contiguous


def test_frey_mat_errors_name_file(tmp_path):
    scipy.io.savemat(tmp_path / "other.mat", {"X": np.zeros((560, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"other\.mat.*no variable 'ff'"):
        formats.read_frey_mat(tmp_path / "other.mat")
    scipy.io.savemat(tmp_path / "shape.mat", {"ff": np.zeros((500, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"shape\.mat.*\(560, N\)"):
        formats.read_frey_mat(tmp_path / "shape.mat")
    data = write_frey(tmp_path / "full.mat", np.zeros((50, 560))).read_bytes()
    (tmp_path / "cut.mat").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.mat"):
        formats.read_frey_mat(tmp_path / "cut.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 20)
    with pytest.raises(ValueError, match=r"junk\.mat"):
        formats.read_frey_mat(tmp_path / "junk.mat")


# ----------------------------------------------------------------------------- load_mnist
@pytest.mark.parametrize("split, first, count", [
    ("train", 0, 60000), ("train50k", 0, 50000), ("valid", 50000, 10000), ("test", 0, 10000)])
def test_load_mnist_splits(mnist_dir, split, first, count):
    x, y = ds.load_mnist(split, data_dir=mnist_dir)
    assert x.shape == (count, 784) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (count,) and y.dtype == np.int64
    k = np.arange(first, first + count)
    np.testing.assert_array_equal(x[:, 0], (k % 256).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(x[:, 0], x[:, 783])
    np.testing.assert_array_equal(y, k % 10)
    assert x.min() >= 0 and x.max() <= 1


def test_load_mnist_env_var_and_no_labels(mnist_dir, monkeypatch):
    monkeypatch.setenv("NUMPYVAE_DATA", str(mnist_dir))
    x, y = ds.load_mnist("test", return_labels=False)
    assert x.shape == (10000, 784) and y is None


def test_load_mnist_plain_idx_files(tmp_path):
    write_idx(tmp_path / "mnist/t10k-images-idx3-ubyte", np.full((10000, 28, 28), 255), gz=False)
    write_idx(tmp_path / "mnist/t10k-labels-idx1-ubyte", np.arange(10000) % 10, gz=False)
    x, y = ds.load_mnist("test", data_dir=tmp_path, download=False)
    assert np.all(x == 1) and y[:3].tolist() == [0, 1, 2]


def test_load_mnist_wrong_count_names_file(tmp_path):
    write_idx(tmp_path / "mnist/t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz.*expected \(10000, 28, 28\)"):
        ds.load_mnist("test", data_dir=tmp_path, download=False)


def test_load_mnist_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        ds.load_mnist("test", data_dir=tmp_path, download=False)
    text = str(err.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in text
    assert "NUMPYVAE_DATA" in text
    assert not (tmp_path / "mnist").exists()


def test_load_mnist_dynamic(mnist_dir):
    x, y = ds.load_mnist("test", binarize="dynamic", rng=np.random.default_rng(3),
                         data_dir=mnist_dir)
    assert x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0}
    p, _ = ds.load_mnist("test", data_dir=mnist_dir)
    assert abs(x.mean() - p.mean()) < 2e-3
    again, _ = ds.load_mnist("test", binarize="dynamic", rng=np.random.default_rng(3),
                             data_dir=mnist_dir)
    np.testing.assert_array_equal(x, again)


def test_load_mnist_static(tmp_path):
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    bits = (np.arange(10000)[:, None] + np.arange(784)) % 3 == 0
    (folder / "binarized_mnist_valid.amat.gz").write_bytes(
        gzip.compress(amat_bytes(bits), compresslevel=1))
    (folder / "binarized_mnist_valid.amat").write_text("not read: the .gz is preferred\n")
    x, y = ds.load_mnist("valid", binarize="static", data_dir=tmp_path, download=False)
    assert y is None and x.dtype == np.float32 and x.shape == (10000, 784)
    np.testing.assert_array_equal(x, bits)
    (folder / "binarized_mnist_test.amat").write_text(amat_text(bits[:3].astype(np.uint8)))
    with pytest.raises(ValueError, match=r"binarized_mnist_test\.amat.*3 lines, expected 10000"):
        ds.load_mnist("test", binarize="static", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(split="training"), ValueError, "split"),
    (dict(split="test", binarize="yes"), ValueError, "binarize"),
    (dict(split="test", binarize=True), ValueError, "binarize"),
    (dict(split="test", binarize="dynamic"), TypeError, "rng"),
    (dict(split="test", binarize="dynamic", rng=0), TypeError, "rng"),
    (dict(split="test", data_dir=3), TypeError, "data_dir"),
])
def test_load_mnist_bad_arguments(tmp_path, kwargs, error, name):
    with pytest.raises(error, match=name):
        ds.load_mnist(**kwargs, download=False)


# ----------------------------------------------------------------------------- binarize_dynamic
@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(2, 9), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_binarize_dynamic_values(rows, cols, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, cols)).astype(dtype)
    x[0, 0], x[-1, -1] = 0.0, 1.0
    b = ds.binarize_dynamic(x, np.random.default_rng(seed))
    assert b.dtype == dtype and b.shape == x.shape
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert b[0, 0] == 0 and b[-1, -1] == 1
    np.testing.assert_array_equal(b, ds.binarize_dynamic(x, np.random.default_rng(seed)))


def test_binarize_dynamic_mean_and_out():
    x = np.full((2000, 50), 0.3, dtype=np.float32)
    out = np.empty_like(x)
    got = ds.binarize_dynamic(x, np.random.default_rng(0), out=out)
    assert got is out and abs(out.mean() - 0.3) < 0.005
    np.testing.assert_array_equal(x, np.float32(0.3))      # x unchanged
    inplace = ds.binarize_dynamic(x, np.random.default_rng(0), out=x)
    assert inplace is x
    np.testing.assert_array_equal(x, out)                  # same draws as with a separate out


def test_binarize_dynamic_bad_arguments():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="rng"):
        ds.binarize_dynamic(x, None)
    with pytest.raises(TypeError, match="x"):
        ds.binarize_dynamic(np.zeros((2, 3), np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="out"):
        ds.binarize_dynamic(x, np.random.default_rng(0), out=np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="out"):
        ds.binarize_dynamic(x, np.random.default_rng(0), out=np.zeros((2, 3), np.float64))


# ----------------------------------------------------------------------------- Frey Face
def test_load_frey_face_splits(tmp_path):
    faces = np.repeat((np.arange(1965) % 256).astype(np.uint8)[:, None], 560, axis=1)
    write_frey(tmp_path / "frey_face/frey_rawface.mat", faces)
    full = ds.load_frey_face(data_dir=tmp_path, download=False)
    assert full.shape == (1965, 560) and full.dtype == np.float32
    np.testing.assert_array_equal(full, faces / np.float32(255))
    train = ds.load_frey_face("train", data_dir=tmp_path)
    test = ds.load_frey_face("test", data_dir=tmp_path)
    assert train.shape == (1768, 560) and test.shape == (197, 560)
    mask = ds.frey_test_mask()
    np.testing.assert_array_equal(test, full[mask])
    np.testing.assert_array_equal(train, full[~mask])
    gaps = np.diff(np.flatnonzero(mask))                   # test faces spread through the video
    assert gaps.min() >= 5 and gaps.max() <= 13
    with pytest.raises(ValueError, match="split"):
        ds.load_frey_face("valid", data_dir=tmp_path)


# ----------------------------------------------------------------------------- shapes
@pytest.fixture(scope="module")
def shapes():
    return ds.make_shapes(3000, np.random.default_rng(0))


def test_make_shapes_arrays(shapes):
    x, f = shapes
    assert x.shape == (3000, 784) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1
    assert f["shape"].dtype == np.int64 and set(np.unique(f["shape"])) == {0, 1, 2}
    for key in ("scale", "rotation", "x", "y"):
        assert f[key].dtype == np.float32 and f[key].shape == (3000,)
    period = 2 * np.pi / np.array(shapes_module.SYMMETRY)[f["shape"]]
    assert np.all((f["rotation"] >= 0) & (f["rotation"] < period))
    assert np.all((f["scale"] >= 0.12 * 28) & (f["scale"] <= 0.25 * 28))
    images = x.reshape(-1, 28, 28)                         # shapes lie fully inside the frame
    assert images[:, [0, -1], :].max() == 0 and images[:, :, [0, -1]].max() == 0


def test_make_shapes_deterministic():
    a, fa = ds.make_shapes(50, np.random.default_rng(7))
    b, fb = ds.make_shapes(50, np.random.default_rng(7))
    c, _ = ds.make_shapes(50, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key])
    assert not np.array_equal(a, c)


def test_make_shapes_centroid_is_centre(shapes):
    x, f = shapes
    mass = x.sum(axis=1)
    cols = np.tile(np.arange(28), 28)
    rows = np.repeat(np.arange(28), 28)
    np.testing.assert_allclose(x @ cols / mass, f["x"], atol=0.15)
    np.testing.assert_allclose(x @ rows / mass, f["y"], atol=0.15)


def test_make_shapes_mass_is_area(shapes):
    """The soft edge keeps the total intensity close to the exact area of each shape."""
    x, f = shapes
    r = f["scale"].astype(np.float64)
    area = np.choose(f["shape"], [2 * r**2,                                   # square
                                  np.pi * shapes_module.ELLIPSE_ASPECT * r**2,     # ellipse
                                  3 * np.sqrt(3) / 4 * r**2])                  # triangle
    np.testing.assert_allclose(x.sum(axis=1), area, rtol=0.06)


def test_render_shapes_symmetry():
    """A quarter turn of a square, or a third of a turn of a triangle, gives the same image."""
    args = dict(scale=[6.0, 6.0], x=[13.5, 13.5], y=[13.5, 13.5])
    sq = ds.render_shapes(np.array([0, 0]), rotation=[0.3, 0.3 + np.pi / 2], **args)
    tri = ds.render_shapes(np.array([2, 2]), rotation=[0.3, 0.3 + 2 * np.pi / 3], **args)
    ell = ds.render_shapes(np.array([1, 1]), rotation=[0.0, np.pi / 2], **args)
    np.testing.assert_allclose(sq[0], sq[1], atol=1e-4)
    np.testing.assert_allclose(tri[0], tri[1], atol=1e-4)
    np.testing.assert_allclose(ell[0], ell[1].reshape(28, 28).T.ravel(), atol=1e-4)
    assert np.abs(ell[0] - ell[1]).max() > 0.5            # the ellipse is not a circle


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(n=0), ValueError, "n"), (dict(n=2.5), TypeError, "n"),
    (dict(n=3, rng=None), TypeError, "rng"), (dict(n=3, size=8), ValueError, "size"),
])
def test_make_shapes_bad_arguments(kwargs, error, name):
    kwargs.setdefault("rng", np.random.default_rng(0))
    with pytest.raises(error, match=name):
        ds.make_shapes(**kwargs)


# ----------------------------------------------------------------------------- load_dataset
def test_load_dataset_shapes():
    d = ds.load_dataset("shapes", "test", n=100)
    assert isinstance(d, ds.Dataset) and len(d) == 100
    assert d.image_shape == (28, 28) and d.name == "shapes" and d.split == "test"
    np.testing.assert_array_equal(d.labels, d.factors["shape"])
    x, _ = ds.make_shapes(100, np.random.default_rng(1))
    np.testing.assert_array_equal(d.x, x)
    assert not np.array_equal(ds.load_dataset("shapes", "train", n=100).x, d.x)
    assert len(ds.load_dataset("shapes", "valid")) == 2000
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.x = None


def test_load_dataset_shapes_default_train_size():
    d = ds.load_dataset("shapes", "train")
    assert d.x.shape == (20000, 784)


def test_load_dataset_mnist(mnist_dir):
    d = ds.load_dataset("mnist", "valid", data_dir=mnist_dir, n=7)
    assert d.x.shape == (7, 784) and d.labels.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert d.image_shape == (28, 28) and d.factors is None
    d = ds.load_dataset("mnist", "test", data_dir=mnist_dir, binarize="dynamic",
                        rng=np.random.default_rng(0))
    assert set(np.unique(d.x)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="n must be at most 10000"):
        ds.load_dataset("mnist", "test", data_dir=mnist_dir, n=10001)


def test_load_dataset_frey(tmp_path):
    write_frey(tmp_path / "frey_face/frey_rawface.mat", np.zeros((1965, 560)))
    d = ds.load_dataset("frey-face", "train", data_dir=tmp_path)
    assert d.x.shape == (1768, 560) and d.image_shape == ds.FREY_SHAPE and d.labels is None


@pytest.mark.parametrize("args, kwargs, error, name", [
    (("cifar", "train"), {}, ValueError, "name"),
    (("shapes", "all"), {}, ValueError, "split"),
    (("frey-face", "valid"), {}, ValueError, "split"),
    (("mnist", "train"), dict(binarize="half"), ValueError, "binarize"),
    (("shapes", "train"), dict(binarize="static"), ValueError, "binarize"),
    (("binarized-mnist", "train"), dict(binarize="dynamic"), ValueError, "binarize"),
    (("mnist", "train"), dict(binarize="dynamic"), TypeError, "rng"),
    (("shapes", "train"), dict(n=0), ValueError, "n"),
    (("shapes", "train"), dict(n=-5), ValueError, "n"),
    (("shapes", "train"), dict(n=1.5), TypeError, "n"),
])
def test_load_dataset_bad_arguments(args, kwargs, error, name):
    with pytest.raises(error, match=name) as err:
        ds.load_dataset(*args, **kwargs, download=False)
    if name in ("name", "split"):                          # the message lists the valid choices
        assert "'train'" in str(err.value) or "'shapes'" in str(err.value)


# ----------------------------------------------------------------------------- real data
SKIP_MESSAGE = ("set NUMPYVAE_DATA to a folder with the MNIST/Frey files (see README 'Data'), "
                "e.g. NUMPYVAE_DATA=../shared/data")


@pytest.fixture(scope="module")
def real_data():
    root = os.environ.get("NUMPYVAE_DATA")
    needed = [*(f"mnist/{n}.gz" for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
              "frey_face/frey_rawface.mat"]
    if not root or not all((Path(root) / n).is_file() for n in needed):
        pytest.skip(SKIP_MESSAGE)
    return Path(root)


def real_amat(root, part):
    stem = root / f"binarized_mnist/binarized_mnist_{part}.amat"
    if not (stem.is_file() or stem.with_suffix(".amat.gz").is_file()):
        pytest.skip(SKIP_MESSAGE)


TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("split, counts", [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_real_mnist(real_data, split, counts):
    x, y = ds.load_mnist(split, download=False)
    assert x.shape == (sum(counts), 784) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1
    assert np.bincount(y, minlength=10).tolist() == counts


@pytest.mark.slow
@pytest.mark.data
def test_real_mnist_paper_split(real_data):
    full, labels = ds.load_mnist("train", download=False)
    x, y = ds.load_mnist("train50k", download=False)
    v, vy = ds.load_mnist("valid", download=False)
    assert x.shape == (50000, 784) and v.shape == (10000, 784)
    assert np.array_equal(x, full[:50000]) and np.array_equal(v, full[50000:])
    assert np.array_equal(y, labels[:50000]) and np.array_equal(vy, labels[50000:])


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("split, count, mean", [
    ("train", 50000, 0.13056), ("train50k", 50000, 0.13056),
    ("valid", 10000, 0.13113), ("test", 10000, 0.13251)])
def test_real_static_binarized(real_data, split, count, mean):
    real_amat(real_data, "train" if split == "train50k" else split)
    x, y = ds.load_mnist(split, binarize="static", download=False)
    assert y is None and x.shape == (count, 784) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    assert abs(x.mean(dtype=np.float64) - mean) < 1e-4


@pytest.mark.slow
@pytest.mark.data
def test_real_dynamic_binarized(real_data):
    p, _ = ds.load_mnist("test", download=False)
    x, _ = ds.load_mnist("test", binarize="dynamic", rng=np.random.default_rng(0),
                         download=False)
    assert set(np.unique(x)) == {0.0, 1.0}
    assert abs(x.mean(dtype=np.float64) - p.mean(dtype=np.float64)) < 1e-3
    fresh = ds.binarize_dynamic(p, np.random.default_rng(1))
    disagree = np.mean(2 * p * (1 - p), dtype=np.float64)  # P(two draws differ), about 0.037
    assert abs(np.mean(fresh != x) - disagree) < 2e-3


@pytest.mark.slow
@pytest.mark.data
def test_real_frey_face(real_data):
    x = ds.load_frey_face(download=False)
    assert x.shape == (1965, 560) and x.dtype == np.float32
    assert x.min() == np.float32(8) / np.float32(255)
    assert x.max() == np.float32(238) / np.float32(255)
    d = ds.load_dataset("frey-face", "test", download=False)
    assert d.x.shape == (197, 560)


@pytest.mark.slow
@pytest.mark.data
def test_real_files_match_checksum_table(real_data):
    """The sha256 table used for downloads matches the shared copies (gunzipped for .amat)."""
    import hashlib
    checked = 0
    for name, (size, sha256) in ds.FILES.items():
        path = real_data / name
        if path.is_file():
            data = path.read_bytes()
        elif path.with_suffix(".amat.gz").is_file():
            data = gzip.decompress(path.with_suffix(".amat.gz").read_bytes())
        else:
            continue
        assert len(data) == size, name
        assert hashlib.sha256(data).hexdigest() == sha256, name
        checked += 1
    assert checked >= 5
