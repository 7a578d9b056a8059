"""Checkpoints: one ``.npz`` file holding everything needed to resume training bit for bit.

    save(path, params=..., optimizer_state=..., rng_state=..., meta=...)
    load(path) -> Checkpoint(params, optimizer_state, rng_state, meta)
    atomic_write_text(path, text)        the same temp-file + fsync + os.replace, for text files
    atomic_write_bytes(path, data)       ... and for bytes (the figures)

Inside the zip:

    format          0-d str   "numpyvae-checkpoint"  (FORMAT)
    version         0-d int   1                      (VERSION)
    params          (P,)      the model's flat parameter vector
    opt_*           arrays    the optimizer's ``state_dict()`` (moments, and "opt_t" the step count)
    rng_state       0-d str   JSON of ``rng.bit_generator.state``
    meta            0-d str   JSON: model config, run options, training progress, metrics history

Strings are stored as 0-d unicode arrays and JSON, never pickles, so ``load`` reads with
``allow_pickle=False``.  ``save`` is atomic: it writes a temporary file in the same folder,
flushes and fsyncs it, then ``os.replace``-s it over ``path`` and fsyncs the folder, so a crash
at any moment leaves either the old checkpoint or the new one, never half a file.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass

import numpy as np

FORMAT = "numpyvae-checkpoint"
VERSION = 1
_REQUIRED = ("format", "version", "params", "rng_state", "meta")


@dataclass
class Checkpoint:
    """What ``load`` returns.

    params          : (P,) float array, the model's flat parameters
    optimizer_state : dict of the "opt_*" arrays, for ``optimizer.load_state_dict``
    rng_state       : dict, for ``rng.bit_generator.state = ...``
    meta            : dict (JSON), see ``numpyvae.train``
    path            : the file it came from
    """
    params: np.ndarray
    optimizer_state: dict
    rng_state: dict
    meta: dict
    path: str = ""


def _text(s):
    return np.array(s, dtype=np.str_)


def _atomic_write(path, write, suffix):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, fsync, then rename it
    over ``path``.  On any error (or Ctrl-C) the temporary file is removed."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix,
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes 0600; use the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(os.path.dirname(os.path.abspath(path)))


def _fsync_folder(folder):
    """fsync the folder so the rename itself survives a power cut (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                                   # some file systems refuse fsync on a folder
    finally:
        os.close(fd)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")), ".txt")


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes, e.g. a PNG rendered in memory) to ``path`` atomically."""
    _atomic_write(path, lambda f: f.write(data), os.path.splitext(os.fspath(path))[1])


def save(path, *, params, optimizer_state, rng_state, meta):
    """Write a checkpoint atomically to ``path`` (a ``.npz`` file name)."""
    arrays = {"format": _text(FORMAT), "version": np.array(VERSION, np.int64),
              "params": np.asarray(params),
              "rng_state": _text(json.dumps(rng_state)), "meta": _text(json.dumps(meta))}
    for key, value in optimizer_state.items():
        if not key.startswith("opt_"):
            raise ValueError(f"optimizer_state keys must start with 'opt_', got {key!r}")
        arrays[key] = np.asarray(value)
    _atomic_write(path, lambda f: np.savez(f, **arrays), ".npz")


def load(path):
    """Read and check a checkpoint written by ``save`` -> Checkpoint.

    Raises FileNotFoundError if ``path`` does not exist, and ValueError naming the file if it
    is not a zip, lacks a key, has the wrong format tag or version, or holds malformed arrays.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a readable numpyvae checkpoint ({err})") from None
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path} is not a numpyvae checkpoint: missing {', '.join(missing)}")
    if data["format"].shape != () or str(data["format"]) != FORMAT:
        raise ValueError(f"{path} is not a numpyvae checkpoint (format tag {data['format']!r})")
    if data["version"].shape != () or int(data["version"]) != VERSION:
        raise ValueError(f"{path} has checkpoint version {data['version']}, "
                         f"this numpyvae reads version {VERSION}")
    params = data["params"]
    if params.ndim != 1 or params.dtype.kind != "f":
        raise ValueError(f"{path}: params must be a 1-D float array, "
                         f"got shape {params.shape} dtype {params.dtype}")
    opt = {k: v for k, v in data.items() if k.startswith("opt_")}
    for key, value in opt.items():
        if key != "opt_t" and value.shape != params.shape:
            raise ValueError(f"{path}: {key} has shape {value.shape}, params {params.shape}")
    try:
        rng_state = json.loads(str(data["rng_state"]))
        meta = json.loads(str(data["meta"]))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt JSON in the checkpoint ({err})") from None
    if not isinstance(rng_state, dict) or not isinstance(meta, dict):
        raise ValueError(f"{path}: rng_state and meta must be JSON objects")
    return Checkpoint(params, opt, rng_state, meta, path)


# ----------------------------------------------------------- model configs of older checkpoints


def complete_config(config):
    """A saved VAE ``config`` with the keys older checkpoints lack filled in, as the model they
    were: a config from before the decoder log-variance floor has no ``decoder_logvar_floor``,
    and a learned-variance Gaussian then gets None (no floor: the model its parameters were
    trained and reported as); any other model gets the default, on which the floor does not act."""
    from .likelihoods import DECODER_LOGVAR_FLOOR
    config = dict(config)
    if "decoder_logvar_floor" not in config:
        learned = (config.get("likelihood") == "gaussian"
                   and config.get("decoder_logvar", "learned") == "learned")
        config["decoder_logvar_floor"] = None if learned else DECODER_LOGVAR_FLOOR
    return config
