"""Run a student's file in a child process and bring back only what its functions returned.

    outcome = run_student(path, exercise.parts, cases, timeout=60, memory_mb=2048)
    outcome.status          # "ok" | "import_error" | "timeout" | "crashed"
    outcome.parts["softplus_backward"].calls[i]   # Call(value, error, frames, notes) per case

The child (:mod:`numpyvae.exercises._child`, run by path with ``python -I``) imports the student's
file, calls each function on the inputs sent here and writes the return values back (arrays in an
``.npz`` read with ``allow_pickle=False``, the structure as JSON).  The test inputs, the
numerical gradients and the verdict stay in this (the parent) process, so nothing the student's
code does in the child -- ``sys.exit``, ``os._exit``, an endless loop, patching numpyvae,
raising ``BaseException``, printing -- can make a gradient pass: only returning the right numbers
does.  The child runs in its own session (process group) in a fresh temporary folder with a
wall-clock limit (then the whole group is killed) and, where the OS has ``resource``, limits on
memory (address space), CPU seconds and file size that it cannot raise again.
"""
from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_TIMEOUT = 60.0          # seconds per exercise (import + every function on every case)
DEFAULT_MEMORY_MB = 2048        # address-space limit of the child, where the OS offers one
MAX_FILE_BYTES = 256 * 2 ** 20  # the largest file the child may write (its printed output too)
MAX_OUTPUT_CHARS = 4000         # of the student's printed output kept in the report
_CHILD = Path(__file__).resolve().parent / "_child.py"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class Opaque:
    """A value the student returned that is not an array, number, str, None, tuple, list or
    dict (it stays in the child; the parent only learns its type and a short repr)."""

    def __init__(self, type_name, text=""):
        self.type_name, self.text = str(type_name), str(text)

    def __repr__(self):
        return f"<{self.type_name}: {self.text}>"


@dataclass
class Call:
    value: object = None
    error: BaseException | None = None   # a stand-in with the student's type name and message
    frames: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass
class Recorded:
    """What the student's function gave on each case, in order (fewer calls when it stopped at
    a NotImplementedError)."""
    function: str
    calls: list = field(default_factory=list)

    def __call__(self, *args):          # it stands where the student's function would
        raise TypeError("a recorded function cannot be called again; grade() replays it")


@dataclass
class Outcome:
    status: str                          # ok | import_error | timeout | crashed
    parts: dict = field(default_factory=dict)     # function -> Recorded, or None if not defined
    import_message: str | None = None
    import_frames: list = field(default_factory=list)
    output: str = ""                     # what the student's code printed (the end of it)
    progress: str = ""                   # what the child was doing last
    returncode: int | None = None
    seconds: float = 0.0
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------- encoding


def _encode(value, arrays):
    """JSON description of a trusted input; arrays are stored in ``arrays``."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"t": "array", "k": key}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "float", "v": float(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if value is None:
        return {"t": "none"}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {"t": "namedtuple", "name": type(value).__name__, "fields": list(value._fields),
                "items": [_encode(v, arrays) for v in value]}
    if isinstance(value, (tuple, list)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [_encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[str(k), _encode(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"the grader cannot send a {type(value).__name__} to the child process")


def _decode(enc, arrays, depth=0):
    """A student's return value from its (untrusted) description."""
    if not isinstance(enc, dict) or depth > 25:
        raise ValueError("malformed result")
    t = enc.get("t")
    if t == "array":
        return np.array(arrays[enc["k"]])
    if t in ("float", "int", "bool", "str"):
        return {"float": float, "int": int, "bool": bool, "str": str}[t](enc["v"])
    if t == "none":
        return None
    if t in ("tuple", "list"):
        items = [_decode(e, arrays, depth + 1) for e in enc["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {str(k): _decode(e, arrays, depth + 1) for k, e in enc["items"]}
    if t == "other":
        return Opaque(enc.get("type", "object"), enc.get("repr", ""))
    raise ValueError(f"malformed result: {t!r}")


_BUILTIN_ERRORS = {name: obj for name, obj in vars(builtins).items()
                   if isinstance(obj, type) and issubclass(obj, BaseException)}


def remote_error(info):
    """A stand-in for the exception the student's code raised in the child: an instance of a
    class with the student's exception's name whose base is the nearest built-in exception in
    its MRO (so ``isinstance(err, NotImplementedError)`` still works), and its message."""
    name = str(info.get("type", "Exception"))
    message = str(info.get("message", ""))
    base = Exception
    for n in info.get("mro", []):
        if n in _BUILTIN_ERRORS:
            base = _BUILTIN_ERRORS[n]
            break
    for b in (base, Exception):
        try:
            cls = type(name, (b,), {"__module__": "student"})
            err = cls(message)
            str(err)
            return err
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError wants five arguments
            continue
    return Exception(message)                                      # pragma: no cover


# ------------------------------------------------------------------------- running


def _child_env(threads):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    n = str(int(threads) if threads else 1)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = n
    env["MPLBACKEND"] = "Agg"
    return env


def _kill_group(proc):
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:                                                           # pragma: no cover
        proc.kill()


def _read_output(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4 * MAX_OUTPUT_CHARS))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    if len(text) > MAX_OUTPUT_CHARS or size > 4 * MAX_OUTPUT_CHARS:
        text = "... (earlier output cut)\n" + text[-MAX_OUTPUT_CHARS:]
    return text


def run_student(path, parts, cases, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB,
                threads=1):
    """Import ``path`` in a child process and call every part's function on every case.

    parts   : the exercise's :class:`~numpyvae.exercises.catalogue.Part` objects (function, args)
    cases   : its cases (``case.inputs[arg]`` for each argument, ``case.label``)
    timeout : wall-clock seconds for the whole child (None: no limit)
    memory_mb : address-space limit of the child in MiB (0 or None: none)
    -> :class:`Outcome`
    """
    path = Path(path).resolve()
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    with tempfile.TemporaryDirectory(prefix="numpyvae-grade-") as tmp:
        tmp = Path(tmp)
        work = tmp / "work"
        work.mkdir()
        arrays = {}
        job = {
            "file": str(path),
            "module_name": f"_numpyvae_student_{path.stem.replace('-', '_')}",
            "sys_path_first": [str(_PACKAGE_ROOT)],
            "sys_path_last": [str(path.parent)],
            "memory_bytes": int(memory_mb) * 2 ** 20 if memory_mb else None,
            "cpu_seconds": None if timeout is None else int(timeout) + 5,
            "watchdog_seconds": None if timeout is None else float(timeout) + 10,
            "max_file_bytes": MAX_FILE_BYTES,
            "parts": [{"function": p.function, "args": list(p.args),
                       "calls": [{"label": c.label,
                                  "args": [_encode(c.inputs[a], arrays) for a in p.args]}
                                 for c in cases]}
                      for p in parts],
        }
        np.savez(tmp / "inputs.npz", **arrays)
        (tmp / "job.json").write_text(json.dumps(job), encoding="utf-8")
        out_path = tmp / "output.txt"
        start = time.perf_counter()
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(_CHILD), str(tmp)], cwd=work, env=_child_env(threads),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=(os.name == "posix"))
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc)          # the child and anything it started
                proc.wait()
        seconds = time.perf_counter() - start
        progress = _read_small(tmp / "progress.txt")
        outcome = Outcome("ok", output=_read_output(out_path), progress=progress,
                          returncode=proc.returncode, seconds=seconds)
        if timed_out:
            outcome.status = "timeout"
            return outcome
        try:
            result = _read_result(tmp)
        except (OSError, ValueError, KeyError, TypeError) as err:
            outcome.status = "crashed"
            outcome.notes.append(str(err))
            return outcome
        if result is None:
            outcome.status = "crashed"
            return outcome
        outcome.notes = [str(n) for n in result.get("limits", [])]
        if result.get("import_error"):
            outcome.status = "import_error"
            outcome.import_message = str(result["import_error"].get("message", ""))
            outcome.import_frames = [str(f) for f in result["import_error"].get("frames", [])]
            return outcome
        with np.load(tmp / "outputs.npz", allow_pickle=False) as z:
            out_arrays = {k: z[k] for k in z.files}
        try:
            for entry in result["parts"]:
                name = str(entry["function"])
                if not entry.get("defined"):
                    outcome.parts[name] = None
                    continue
                rec = Recorded(name)
                for c in entry["calls"]:
                    call = Call(notes=[str(n) for n in c.get("notes", [])])
                    if c.get("error"):
                        call.error = remote_error(c["error"])
                        call.frames = [str(f) for f in c["error"].get("frames", [])]
                    else:
                        call.value = _decode(c["value"], out_arrays)
                    rec.calls.append(call)
                outcome.parts[name] = rec
        except (KeyError, TypeError, ValueError) as err:
            outcome.status = "crashed"
            outcome.notes.append(f"malformed result from the child process: {err}")
        return outcome


def why_it_ended(returncode):
    """A guess, for the report, at why the child ended without its results."""
    if returncode is None or returncode >= 0:
        return ("os._exit(), exit() in a thread, or another call that ends the process "
                "(or the memory limit)")
    names = {getattr(signal, n): text for n, text in (
        ("SIGXFSZ", f"it wrote more than {MAX_FILE_BYTES // 2 ** 20} MiB (printed output "
                    f"included)"),
        ("SIGXCPU", "it used up its CPU-time limit"),
        ("SIGSEGV", "a crash (segmentation fault)"),
        ("SIGABRT", "a crash (abort), often memory running out"),
        ("SIGKILL", "it was killed (the memory limit or the system)")) if hasattr(signal, n)}
    return names.get(-returncode, f"it was ended by signal {-returncode}")


def _read_small(path, limit=2000):
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:limit].strip()
    except OSError:
        return ""


def _read_result(tmp):
    """The child's result.json, or None when it never wrote one (it ended early)."""
    path = tmp / "result.json"
    if not path.is_file():
        return None
    if path.stat().st_size > 64 * 2 ** 20:
        raise ValueError("the child's result is too large")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not (tmp / "outputs.npz").is_file():
        return None
    return data
