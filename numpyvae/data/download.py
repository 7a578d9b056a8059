"""Where dataset files live, and how a missing one is downloaded without leaving junk behind.

Data directory: the ``data_dir=`` argument, else ``$NUMPYVAE_DATA``, else ``~/.cache/numpyvae``.

A download is written to a temporary file in the destination folder, its size and sha256
are checked, and only then is it renamed into place with ``os.replace`` (atomic on one file
system). On any failure the temporary file is deleted and :class:`DatasetError` says which
file is missing and exactly where to put a copy. Checksums are verified on download only;
every load still checks headers and sizes (see ``formats.py``).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.cache/numpyvae")
ENV_VAR = "NUMPYVAE_DATA"

# Base URLs for each folder of the data directory, tried in order. A file's URL is the base
# followed by the file's name. Module-level so that tests (or a local mirror) can replace them.
BASE_URLS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "http://yann.lecun.com/exdb/mnist/"],
    "binarized_mnist": ["http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"],
    "frey_face": ["https://cs.nyu.edu/~roweis/data/"],
}

# Every downloadable file: path under the data directory -> (size in bytes, sha256), of the file
# exactly as downloaded (the binarized MNIST files are served uncompressed).
FILES = {
    "mnist/train-images-idx3-ubyte.gz":
        (9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "mnist/train-labels-idx1-ubyte.gz":
        (28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "mnist/t10k-images-idx3-ubyte.gz":
        (1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "mnist/t10k-labels-idx1-ubyte.gz":
        (4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    "binarized_mnist/binarized_mnist_train.amat":
        (78_400_000, "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
    "binarized_mnist/binarized_mnist_valid.amat":
        (15_680_000, "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
    "binarized_mnist/binarized_mnist_test.amat":
        (15_680_000, "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
    "frey_face/frey_rawface.mat":
        (1_100_584, "265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64"),
}

_CHUNK = 1 << 20
_WHERE = (f"the data directory is the data_dir= argument, else ${ENV_VAR}, "
          f"else {DEFAULT_DATA_DIR}")


class DatasetError(OSError):
    """A data file is missing and could not be downloaded, or a download was bad."""


def data_root(data_dir=None):
    """The data directory: ``data_dir``, else ``$NUMPYVAE_DATA``, else ~/.cache/numpyvae."""
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    elif not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a str or os.PathLike, got {type(data_dir).__name__}")
    return Path(data_dir).expanduser()


def find_file(names, data_dir=None, *, download=True):
    """Return the path of the first of ``names`` (paths under the data directory) that exists.

    If none exists, the one listed in FILES is downloaded (when ``download`` is true), else
    FileNotFoundError explains where to put a copy.
    """
    root = data_root(data_dir)
    for name in names:
        if (root / name).is_file():
            return root / name
    (wanted,) = [name for name in names if name in FILES]
    target = root / wanted
    if not download:
        raise FileNotFoundError(
            f"{target} not found (download=False). Put a copy of {Path(wanted).name} there, "
            f"or point {ENV_VAR} at a folder holding {wanted}; {_WHERE}.")
    return fetch(wanted, root)


def fetch(name, root):
    """Download FILES[name] to ``root / name``, trying each base URL in order. Returns the path."""
    size, sha256 = FILES[name]
    folder, filename = name.split("/")
    dest = Path(root) / name
    errors = []
    for base in BASE_URLS[folder]:
        url = base + filename
        print(f"numpyvae: downloading {url} -> {dest}", file=sys.stderr)
        try:
            return download(url, dest, sha256, size=size)
        except DatasetError as e:
            errors.append(f"{url}: {e.__cause__ or e}")
    raise DatasetError(
        f"could not download {name}:\n  " + "\n  ".join(errors) +
        f"\nPut a copy of {filename} at {dest}, or set {ENV_VAR} to a folder holding {name}.")


def download(url, dest, sha256, *, size=None, timeout=60.0):
    """Download ``url`` to the path ``dest``, checking its length and sha256. Returns ``dest``.

    The bytes go to a temporary file beside ``dest``; only a complete file with the right
    checksum is renamed to ``dest``. On failure (no network, HTTP error, a short transfer,
    wrong size or checksum) the temporary file is deleted and DatasetError is raised.
    ``size`` : expected number of bytes, or None to rely on the sha256 alone.
    """
    dest = Path(dest)
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(dest, max(600.0, 10 * timeout))
        tmp = tempfile.NamedTemporaryFile(delete=False, dir=dest.parent,
                                          prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise DatasetError(f"cannot write into {dest.parent} ({e}); put a copy of "
                           f"{dest.name} at {dest} yourself ({_WHERE})") from e
    try:
        with tmp:
            digest, n_bytes = _copy_url(url, tmp, timeout)
        problem = _check_download(n_bytes, digest, size, sha256)
        if problem:
            raise DatasetError(problem)
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, dest)
    except (DatasetError, OSError, http.client.HTTPException, ValueError) as e:
        _remove(tmp.name)
        raise DatasetError(f"downloading {dest.name} from {url} failed: {e}. Put a copy of "
                           f"{dest.name} at {dest} ({_WHERE})") from e
    except BaseException:                    # e.g. KeyboardInterrupt: still leave nothing behind
        _remove(tmp.name)
        raise
    return dest


def _copy_url(url, out, timeout):
    """Stream ``url`` into the open file ``out``. Returns (sha256 hex digest, number of bytes)."""
    request = urllib.request.Request(url, headers={"User-Agent": "numpyvae"})
    digest = hashlib.sha256()
    n_bytes = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        announced = response.headers.get("Content-Length")
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            n_bytes += len(chunk)
    if announced is not None and announced.isdigit() and int(announced) != n_bytes:
        raise DatasetError(f"transfer cut short: got {n_bytes} of {announced} bytes")
    return digest.hexdigest(), n_bytes


def _check_download(n_bytes, digest, size, sha256):
    """An error message if the downloaded bytes are wrong, else None."""
    if size is not None and n_bytes != size:
        return f"got {n_bytes} bytes, expected {size}"
    if digest != sha256:
        return f"sha256 is {digest}, expected {sha256} (the file is damaged or different)"
    return None


def _remove_stale_parts(dest, age):
    """Delete ``.<dest name>.*.part`` files beside ``dest`` untouched for ``age`` seconds: the
    temporaries of killed downloads (a live download writes at least every ``timeout``)."""
    import time
    now = time.time()
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        try:
            if now - part.stat().st_mtime > age:
                part.unlink()
        except FileNotFoundError:
            pass


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
