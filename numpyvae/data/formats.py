"""Readers for the file formats of the real datasets.

IDX        MNIST's binary format: a big-endian header (magic number, then one int32 per dimension)
           followed by the values, here always unsigned bytes, row-major.
           magic 2049 = 0x00000801: unsigned bytes, 1 dimension  -> labels (N,)
           magic 2051 = 0x00000803: unsigned bytes, 3 dimensions -> images (N, rows, cols)
.amat      Larochelle & Murray's binarized MNIST: text, one example per line, values '0'/'1'
           separated by single spaces, '\\n' after each line.
.mat       MATLAB 5 file of the Frey Face set: one uint8 variable ``ff`` of shape (560, N),
           one face per column, each a 28 x 20 image stored row-major.

Any file may be gzip-compressed (recognised by its first two bytes, not by its name).
Every reader checks the header against the file's size, and a damaged file raises
``ValueError`` naming the file. Readers return uint8 arrays; scaling to float32 happens in
:mod:`numpyvae.datasets`.
"""
from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np
import scipy.io

IDX_LABELS_MAGIC = 2049
IDX_IMAGES_MAGIC = 2051
FREY_PIXELS = 28 * 20

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path):
    """Return the content of the file at ``path``, gunzipped if it is gzip data."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: damaged or truncated gzip data ({e}); "
                         "delete the file and download it again") from e


def read_idx(path, magic):
    """Read an IDX file of unsigned bytes.

    magic : the expected magic number, IDX_LABELS_MAGIC (2049) or IDX_IMAGES_MAGIC (2051).
    Returns a read-only uint8 array of the shape given in the header: (N,) or (N, rows, cols).
    """
    if magic not in (IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC):
        raise ValueError(f"magic must be {IDX_LABELS_MAGIC} or {IDX_IMAGES_MAGIC}, got {magic!r}")
    data = read_bytes(path)
    ndim = magic & 0xFF                      # the magic number's last byte: number of dimensions
    header = 4 + 4 * ndim
    got = struct.unpack(">i", data[:4])[0] if len(data) >= 4 else None
    if got != magic:
        what = "labels" if magic == IDX_LABELS_MAGIC else "images"
        raise ValueError(f"{path}: IDX magic number is {got}, expected {magic} ({what}); "
                         "this is not the right file, or it is damaged")
    if len(data) < header:
        raise ValueError(f"{path}: only {len(data)} bytes, too short for the IDX header "
                         f"({header} bytes); the file is truncated")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    if min(dims) < 0:
        raise ValueError(f"{path}: negative size in the IDX header {dims}")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(f"{path}: holds {len(data)} bytes but its IDX header {dims} needs "
                         f"{expected}; the file is truncated or damaged")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_amat(path, n_values=784):
    """Read a text file of '0'/'1' values, ``n_values`` per line -> (N, n_values) uint8 in {0, 1}.

    The original files have exactly the layout "v v ... v\\n"; those are parsed in a few
    vectorized passes over the bytes. Any other spacing (tabs, '\\r\\n', a missing final
    newline) takes a slower line-by-line path that reports the first bad line.
    """
    buf = np.frombuffer(read_bytes(path), dtype=np.uint8)
    x = _parse_amat_exact(buf, n_values)
    if x is None:
        x = _parse_amat_lines(buf, n_values, path)
    if x.shape[0] == 0:
        raise ValueError(f"{path}: holds no examples")
    return x


def _parse_amat_exact(buf, n_values):
    """Fast path: every line is exactly 2 * n_values bytes, "v v ... v\\n". None if not."""
    width = 2 * n_values
    if buf.size == 0 or buf.size % width:
        return None
    rows = buf.reshape(-1, width)            # (N, 2 * n_values): a value, then a separator
    seps = rows[:, 1::2]
    if not ((seps[:, :-1] == ord(" ")).all() and (seps[:, -1] == ord("\n")).all()):
        return None
    x = rows[:, 0::2] - np.uint8(ord("0"))    # bytes below '0' wrap around to large values
    if (x > 1).any():
        return None
    return x


def _parse_amat_lines(buf, n_values, path):
    """Slow path: split into lines, check each one, report the first bad line."""
    lines = buf.tobytes().rstrip().split(b"\n")
    if lines == [b""]:
        return np.empty((0, n_values), dtype=np.uint8)
    x = np.empty((len(lines), n_values), dtype=np.uint8)
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) != n_values:
            raise ValueError(f"{path}: line {i + 1} has {len(tokens)} values, expected {n_values}")
        joined = b"".join(tokens)            # n_values bytes exactly when every token is 1 byte
        row = np.frombuffer(joined, dtype=np.uint8) - np.uint8(ord("0"))
        if len(joined) != n_values or (row > 1).any():
            raise ValueError(f"{path}: line {i + 1} holds a value other than 0 or 1")
        x[i] = row
    return x


_MAT_ERRORS = (ValueError, TypeError, OSError, EOFError, struct.error, zlib.error,
               scipy.io.matlab.MatReadError)


def read_frey_mat(path):
    """Read the Frey Face ``.mat`` file -> (N, 560) uint8, one 28 x 20 face per row (row-major)."""
    try:
        mat = scipy.io.loadmat(path, variable_names=["ff"])
    except _MAT_ERRORS as e:
        raise ValueError(f"{path}: not a readable MATLAB file ({type(e).__name__}: {e}); "
                         "the file is truncated or damaged") from e
    if "ff" not in mat:
        raise ValueError(f"{path}: has no variable 'ff'; this is not frey_rawface.mat")
    ff = mat["ff"]
    if ff.dtype != np.uint8 or ff.ndim != 2 or ff.shape[0] != FREY_PIXELS:
        raise ValueError(f"{path}: variable 'ff' must be uint8 of shape ({FREY_PIXELS}, N), "
                         f"got {ff.dtype} {ff.shape}")
    return np.ascontiguousarray(ff.T)
