"""Downloads against a real HTTP server on 127.0.0.1 started by the test (no internet needed).

Every failure must leave nothing behind: no file at the destination, no temporary file beside it.
"""
import gzip
import hashlib
import http.server
import os
import time
import socket
import struct
import threading

import numpy as np
import pytest
import scipy.io

from numpyvae import datasets as ds
from numpyvae.data import download as dl

GOOD = bytes(range(256)) * 400                      # 102400 bytes
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.routes: path -> (body, announced Content-Length)."""

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, length = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)               # if length > len(body) the client sees a short read
        self.close_connection = True

    def log_message(self, *args):            # keep pytest output clean
        pass


@pytest.fixture
def server():
    """A local HTTP server in a thread; yields (base_url, routes); shut down afterwards."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes = {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", httpd.routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_url():
    """A URL on a local port that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def serve(routes, name, body, length=None):
    routes["/" + name] = (body, len(body) if length is None else length)


def test_good_download(server, tmp_path):
    base, routes = server
    serve(routes, "good.bin", GOOD)
    dest = tmp_path / "sub" / "dir" / "good.bin"            # missing folders are created
    assert ds.download(base + "good.bin", dest, GOOD_SHA, size=len(GOOD), timeout=5) == dest
    assert dest.read_bytes() == GOOD
    assert os.listdir(dest.parent) == ["good.bin"]          # no temporary file left


def assert_nothing_left(folder):
    assert os.listdir(folder) == [], f"files left behind: {os.listdir(folder)}"


@pytest.mark.parametrize("body, length, size, reason", [
    (GOOD[:-1] + b"x", None, None, "sha256"),               # corrupt: same size, wrong bytes
    (GOOD + b"extra", None, len(GOOD), "expected 102400"),  # wrong size
    (GOOD[:5000], len(GOOD), len(GOOD), "cut short"),       # server closes before Content-Length
    (GOOD[:5000], len(GOOD), None, "cut short"),
], ids=["corrupt", "wrong-size", "truncated", "truncated-no-size"])
def test_bad_download_leaves_nothing(server, tmp_path, body, length, size, reason):
    base, routes = server
    serve(routes, "file.bin", body, length)
    dest = tmp_path / "file.bin"
    with pytest.raises(ds.DatasetError) as err:
        ds.download(base + "file.bin", dest, GOOD_SHA, size=size, timeout=5)
    text = str(err.value)
    assert "file.bin" in text and reason in text and str(dest) in text
    assert_nothing_left(tmp_path)


def test_http_error(server, tmp_path):
    base, _ = server
    with pytest.raises(ds.DatasetError, match="404"):
        ds.download(base + "missing.bin", tmp_path / "missing.bin", GOOD_SHA, timeout=5)
    assert_nothing_left(tmp_path)


def test_unreachable_says_where_to_put_the_file(dead_url, tmp_path):
    dest = tmp_path / "frey_rawface.mat"
    with pytest.raises(ds.DatasetError) as err:
        ds.download(dead_url + "frey_rawface.mat", dest, GOOD_SHA, timeout=5)
    text = str(err.value)
    assert f"Put a copy of frey_rawface.mat at {dest}" in text and "NUMPYVAE_DATA" in text
    assert isinstance(err.value, OSError)
    assert_nothing_left(tmp_path)


def test_failed_download_keeps_existing_file(server, tmp_path):
    base, routes = server
    serve(routes, "file.bin", b"corrupt")
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old copy")
    with pytest.raises(ds.DatasetError):
        ds.download(base + "file.bin", dest, GOOD_SHA, timeout=5)
    assert dest.read_bytes() == b"old copy" and os.listdir(tmp_path) == ["file.bin"]


@pytest.mark.parametrize("sha", ["abc", GOOD_SHA.upper(), None])
def test_bad_sha_argument(tmp_path, sha):
    with pytest.raises(ValueError, match="sha256"):
        ds.download("http://127.0.0.1:1/x", tmp_path / "x", sha)
    assert_nothing_left(tmp_path)


# ----------------------------------------------------------------------------- through the loaders
def _frey_bytes(tmp_path):
    faces = np.arange(1965 * 560, dtype=np.int64).reshape(560, 1965) % 256
    scipy.io.savemat(tmp_path / "src.mat", {"ff": faces.astype(np.uint8)})
    data = (tmp_path / "src.mat").read_bytes()
    (tmp_path / "src.mat").unlink()
    return data


def test_loader_downloads_missing_file_from_second_mirror(server, dead_url, tmp_path, monkeypatch):
    base, routes = server
    data = _frey_bytes(tmp_path)
    serve(routes, "frey_rawface.mat", data)
    monkeypatch.setitem(ds.FILES, "frey_face/frey_rawface.mat",
                        (len(data), hashlib.sha256(data).hexdigest()))
    monkeypatch.setitem(ds.BASE_URLS, "frey_face", [dead_url, base])
    root = tmp_path / "data"
    x = ds.load_frey_face(data_dir=root)
    assert x.shape == (1965, 560) and x.dtype == np.float32
    assert os.listdir(root / "frey_face") == ["frey_rawface.mat"]
    routes.clear()                                           # a second load reads the file on disk
    assert np.array_equal(ds.load_frey_face("test", data_dir=root), x[ds.frey_test_mask()])


def test_loader_downloads_mnist(server, tmp_path, monkeypatch):
    base, routes = server
    for name, magic, shape in (("t10k-images-idx3-ubyte", 2051, (10000, 28, 28)),
                               ("t10k-labels-idx1-ubyte", 2049, (10000,))):
        raw = struct.pack(f">i{len(shape)}i", magic, *shape) + bytes(int(np.prod(shape)))
        data = gzip.compress(raw)
        serve(routes, name + ".gz", data)
        monkeypatch.setitem(ds.FILES, f"mnist/{name}.gz",
                            (len(data), hashlib.sha256(data).hexdigest()))
    monkeypatch.setitem(ds.BASE_URLS, "mnist", [base])
    monkeypatch.setenv("NUMPYVAE_DATA", str(tmp_path))
    d = ds.load_dataset("mnist", "test")
    assert d.x.shape == (10000, 784) and np.all(d.labels == 0)
    assert sorted(os.listdir(tmp_path / "mnist")) == ["t10k-images-idx3-ubyte.gz",
                                                      "t10k-labels-idx1-ubyte.gz"]


def test_loader_error_when_every_mirror_fails(server, dead_url, tmp_path, monkeypatch):
    base, routes = server
    serve(routes, "frey_rawface.mat", b"this is not the file")
    monkeypatch.setitem(ds.BASE_URLS, "frey_face", [dead_url, base])
    with pytest.raises(ds.DatasetError) as err:
        ds.load_frey_face(data_dir=tmp_path)
    text = str(err.value)
    assert dead_url + "frey_rawface.mat" in text and base + "frey_rawface.mat" in text
    assert "got 20 bytes, expected 1100584" in text and "NUMPYVAE_DATA" in text
    assert str(tmp_path / "frey_face" / "frey_rawface.mat") in text
    assert_nothing_left(tmp_path / "frey_face")


def test_default_urls_point_at_the_documented_addresses():
    assert dl.BASE_URLS["mnist"][0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert "yann.lecun.com/exdb/mnist" in dl.BASE_URLS["mnist"][1]
    assert set(name.split("/")[0] for name in dl.FILES) == set(dl.BASE_URLS)


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMPYVAE_DATA", raising=False)
    assert ds.data_root() == dl.DEFAULT_DATA_DIR.expanduser()
    monkeypatch.setenv("NUMPYVAE_DATA", str(tmp_path))
    assert ds.data_root() == tmp_path
    assert ds.data_root(tmp_path / "x") == tmp_path / "x"


def test_a_killed_downloads_part_file_is_cleaned(server, tmp_path):
    base, routes = server
    serve(routes, "good.bin", GOOD)
    dest = tmp_path / "good.bin"
    stale = tmp_path / ".good.bin.abc123.part"         # left by a kill -9 an hour ago
    stale.write_bytes(GOOD[:100])
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    live = tmp_path / ".good.bin.def456.part"          # another process writing right now
    live.write_bytes(GOOD[:100])
    other = tmp_path / ".other.bin.xyz.part"           # another file's: not ours to touch
    other.write_bytes(b"x")
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    assert ds.download(base + "good.bin", dest, GOOD_SHA, size=len(GOOD), timeout=5) == dest
    assert sorted(os.listdir(tmp_path)) == sorted([".good.bin.def456.part", ".other.bin.xyz.part",
                                                   "good.bin"])
