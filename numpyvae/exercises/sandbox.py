"""Run a student's file in a jail and bring back only what its functions returned.

    outcome = run_student(path, exercise.parts, cases, timeout=60, memory_mb=2048)
    outcome.status          # "ok" | "import_error" | "timeout" | "crashed" | "malformed"
    outcome.parts["softplus_backward"].calls[i]   # Call(value, error, frames, notes) per case
    outcome.protections     # [(protection, held, why not)]: what the jail achieved here

The child (:mod:`numpyvae.exercises._child`, run by path with ``python -I``) gets the job (the
student's source, the functions and their inputs) on a pipe, never on its command line or in a
file, and answers on another pipe.  It runs the student's code as pid 1 of new PID, mount,
network and IPC namespaces, with every file system read-only, private empty /tmp, /proc showing
only its own processes, numpyvae's source and the submissions folder hidden, imports limited to
numpy and the standard library, a scrubbed environment, resource limits, and (when the grader is
root, as on Gradescope or in CI) an unprivileged uid of its own, fresh for every run.  When the grader is not root, the
namespaces come from a user namespace and every capability is dropped.  Where the kernel allows
no namespaces, a watchdog process that is not the grader resumes a stopped grader and ends the
student's code at the deadline, and the report lists the protections that do not hold.

The parent trusts no byte of the answer: it reads at most :data:`MAX_RESULT_BYTES`, accepts only
its own frame format, arrays of a few numeric dtypes whose sizes add up, and bounded nesting.
Anything else is status "malformed", with the reason.  The verdict, the results file and the
Gradescope file are computed and written by the parent alone, after the child is gone.
"""
from __future__ import annotations

import builtins
import json
import os
import pwd
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _child

DEFAULT_TIMEOUT = 60.0          # seconds per exercise (import + every function on every case)
DEFAULT_MEMORY_MB = 2048        # address-space limit of the child, where the OS offers one
MAX_FILE_BYTES = 256 * 2 ** 20  # the largest file the child may write (its printed output too)
MAX_OUTPUT_CHARS = 4000         # of the student's printed output kept in the report
MAX_RESULT_BYTES = 32 * 2 ** 20  # the most the parent reads of the child's answer
MAX_SOURCE_BYTES = 2 ** 20      # the largest student file sent to the child (each)
MAX_SIBLINGS = 64               # .py files beside the student's file, sent along for imports
_CHILD = Path(__file__).resolve().parent / "_child.py"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]          # numpyvae/, hidden from the child
_FRAME = _child._HEAD          # the wire format is the child's (it cannot import this file)
_DTYPES = {"<f8", "<f4", "<f2", "<c16", "<c8", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4",
           "<u2", "|u1", "|b1"}                # what a student's array may be


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
    status: str                          # ok | import_error | timeout | crashed | malformed
    parts: dict = field(default_factory=dict)     # function -> Recorded, or None if not defined
    import_message: str | None = None
    import_frames: list = field(default_factory=list)
    output: str = ""                     # what the student's code printed (the end of it)
    progress: str = ""                   # what the child was doing last
    returncode: int | None = None
    seconds: float = 0.0
    notes: list = field(default_factory=list)
    protections: list = field(default_factory=list)   # [(protection, held, why not)]
    task_result: object = None           # run_task: what the task returned (untrusted)
    task_arrays: list = field(default_factory=list)


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


class Malformed(ValueError):
    """The child's answer is not what an honest child sends."""


def _decode(enc, arrays, depth=0, budget=None):
    """A student's return value from its (untrusted) description: bounded depth and size.
    Each array is referenced at most once (the child's encoder never repeats one): a frame that
    named one 24 MiB array thousands of times would otherwise make the parent copy it each time."""
    budget = budget if budget is not None else [100_000, set()]
    budget[0] -= 1
    if not isinstance(enc, dict) or depth > 25 or budget[0] < 0:
        raise Malformed("a value is nested too deeply or has too many parts")
    t = enc.get("t")
    if t == "array":
        k = enc.get("k")
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(arrays):
            raise Malformed(f"an array reference {k!r} points nowhere")
        if k in budget[1]:
            raise Malformed(f"array {k} is referenced twice")
        budget[1].add(k)
        return arrays[k].copy()
    if t == "float":
        v = enc.get("v")
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise Malformed(f"a float that is {type(v).__name__}")
    if t in ("int", "bool", "str"):
        v = enc.get("v")
        want = {"int": int, "bool": bool, "str": str}[t]
        if type(v) is not want or t == "str" and len(v) > 10_000:
            raise Malformed(f"a {t} that is not one")
        return v
    if t == "none":
        return None
    if t in ("tuple", "list"):
        items = enc.get("items")
        if not isinstance(items, list):
            raise Malformed("a tuple without items")
        items = [_decode(e, arrays, depth + 1, budget) for e in items]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        items = enc.get("items")
        if not isinstance(items, list) or not all(
                isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) for kv in items):
            raise Malformed("a dict without key-value pairs")
        return {k: _decode(e, arrays, depth + 1, budget) for k, e in items}
    if t == "other":
        return Opaque(str(enc.get("type", "object"))[:200], str(enc.get("repr", ""))[:200])
    raise Malformed(f"an unknown kind of value {str(t)[:40]!r}")


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


# ------------------------------------------------------------------------- output


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


# ------------------------------------------------------------------------- the jail


@dataclass
class Jail:
    """Who the student's code runs as and what it may see.

    uid, gid : the unprivileged user when the grader is root (default: a fresh uid for this run
               alone, with no account and no files, so that its processes are told from every
               other run's); ignored otherwise
    namespaces : try PID / mount / network namespaces (off only for tests of the fallback)
    hide     : extra folders to hide (the submissions folder of a class)
    """
    uid: int | None = None
    gid: int | None = None
    namespaces: bool = True
    hide: tuple = ()

    def user(self):
        if os.geteuid() != 0:
            return None, None
        if self.uid is not None:
            return int(self.uid), int(self.gid if self.gid is not None else self.uid)
        uid = fresh_uid()
        return uid, uid


def fresh_uid():
    """An unused uid of the range 10**9 .. 2 * 10**9 (no account has one there)."""
    import secrets
    while True:
        uid = 10 ** 9 + secrets.randbelow(10 ** 9)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def child_env(threads=1):
    """The child's whole environment: what Python and NumPy need, nothing of the grader's."""
    n = str(int(threads) if threads else 1)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = n
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # machine settings OpenBLAS needs here
        if var in os.environ:
            env[var] = os.environ[var]
    return env


GRADESCOPE = Path("/autograder")     # its source checkout, the seed, the submission, the results
SECRETS = []        # folders every jail hides as well: the --seed-file's (commands/check.py)


def _other_copies():
    """Other copies of numpyvae's source the child could import once it removes the import guard
    (a Python object it can reach): a ``numpyvae`` package in any folder of the grader's
    ``sys.path`` or its working folder, and Gradescope's /autograder, where the instructor's
    checkout and the secret seed live (the student's files travel in the job)."""
    out = [GRADESCOPE, GRADESCOPE / "source"] if GRADESCOPE.is_dir() else []   # (the second
    # where the first holds the grader's own Python and must stay)
    try:
        here = [os.getcwd()]
    except OSError:                      # a working folder deleted under the grader
        here = []
    for entry in list(sys.path) + here:
        candidate = Path(entry or ".") / "numpyvae"
        try:
            if (candidate / "__init__.py").is_file():
                out.append(candidate)
        except OSError:
            continue
    return out


def _hidden(path, jail, library=False):
    """Folders to cover with an empty mount: numpyvae's source and its other copies (unless the
    task needs the library), the student's folder (its files travel in the job), the class's
    submissions; never one holding Python or NumPy."""
    import numpy
    keep = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(numpy.__file__).resolve().parent, Path(_CHILD).parent]
    out = []
    mine = [] if path is None else [Path(path).resolve().parent]
    library_dirs = [] if library else [_PACKAGE_DIR] + _other_copies()
    for d in library_dirs + mine + list(map(Path, jail.hide)) + list(map(Path, SECRETS)):
        d = d.resolve()
        if d == Path("/") or any(k == d or d in k.parents for k in keep if k != Path(_CHILD).parent):
            continue
        if d not in out:
            out.append(d)
    return [str(d) for d in out]


def _reach():
    """What the child's Python must reach: its prefixes, stdlib and NumPy."""
    import numpy
    import sysconfig
    paths = {sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"],
             sysconfig.get_paths()["platstdlib"], sysconfig.get_paths()["purelib"],
             str(Path(numpy.__file__).resolve().parent), str(Path(sys.executable).resolve())}
    return sorted(str(Path(p).resolve()) for p in paths)


def _read_regular(path):
    """The bytes of ``path`` if it is a regular file of at most MAX_SOURCE_BYTES, never following
    a symbolic link (the grader may be root: a link to the seed, /etc/shadow or another student's
    file must not be read for the student); raises OSError or ValueError otherwise."""
    import stat
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{Path(path).name} is not a regular file")
        if info.st_size > MAX_SOURCE_BYTES:
            raise ValueError(f"{Path(path).name} is {info.st_size} bytes; the grader reads student "
                             f"files of at most {MAX_SOURCE_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_SOURCE_BYTES + 1)[:MAX_SOURCE_BYTES]
    finally:
        os.close(fd)


def _files(path):
    """[(name, bytes)]: the student's file, then the .py files beside it (for its own imports);
    symbolic links and anything but regular files are never read (siblings are skipped)."""
    if path is None:
        return []
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"{path.name} is a symbolic link: the grader reads only the file itself")
    try:
        files = [(path.name, _read_regular(path))]
    except OSError as err:
        raise ValueError(f"{path.name} cannot be read: {err.strerror or err}") from None
    try:
        siblings = sorted(p for p in path.parent.glob("*.py") if p.name != path.name)
    except OSError:
        siblings = []
    for p in siblings[:MAX_SIBLINGS]:
        try:
            files.append((p.name, _read_regular(p)))
        except (OSError, ValueError):
            continue
    return files


def _frame(kind, head, blobs=()):
    payload = _child._pack_payload(head, blobs)
    return _FRAME.pack(kind, len(payload)) + payload


def _job(path, parts, cases, jail, threads, memory_mb, timeout, work, task=None):
    arrays = {}
    spec = [{"function": p.function, "args": list(p.args),
             "calls": [{"label": c.label, "args": [_encode(c.inputs[a], arrays) for a in p.args]}
                       for c in cases]} for p in parts]
    blobs, heads, offset = [], [], 0
    for name, data in _files(path):
        heads.append((name, len(data), offset))
        blobs.append(data)
        offset += len(data)
    array_heads = []
    for key, a in arrays.items():
        a = np.ascontiguousarray(a)
        array_heads.append({"key": key, "dtype": a.dtype.str, "shape": list(a.shape),
                            "offset": offset, "nbytes": a.nbytes})
        blobs.append(a.tobytes())
        offset += a.nbytes
    uid, gid = jail.user()
    stem = "" if path is None else Path(path).stem.replace("-", "_")
    head = {"file": None if path is None else Path(path).name, "files": heads,
            "arrays": array_heads, "parts": spec, "task": task,
            "module_name": f"_numpyvae_student_{stem}",
            "uid": uid, "gid": gid, "namespaces": jail.namespaces,
            "hide": _hidden(path, jail, library=task is not None), "work": str(work),
            "reach": _reach(), "env": child_env(threads),
            "memory_bytes": int(memory_mb) * 2 ** 20 if memory_mb else None,
            "cpu_seconds": None if timeout is None else int(timeout) + 5,
            "max_file_bytes": MAX_FILE_BYTES}
    return _frame(b"J", head, blobs)


class _Reader(threading.Thread):
    """Reads one pipe to its end, keeping at most ``limit`` bytes (then it only drains)."""

    def __init__(self, fd, limit):
        super().__init__(daemon=True)
        self.fd, self.limit, self.data, self.overflow = fd, limit, bytearray(), False

    def run(self):
        try:
            while True:
                b = os.read(self.fd, 1 << 16)
                if not b:
                    break
                if len(self.data) + len(b) > self.limit:
                    self.overflow = True
                    continue
                self.data += b
        except OSError:
            pass
        finally:
            os.close(self.fd)


def _frames(data, kinds=(b"S", b"P", b"R")):
    """Yield (kind, payload) from the child's bytes; Malformed where they stop making sense."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < _FRAME.size:
            raise Malformed("the answer ends in the middle of a frame")
        kind, n = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        if kind not in kinds or n > len(data) - pos:
            raise Malformed("the answer is not in the grader's format")
        yield kind, bytes(data[pos:pos + n])
        pos += n


def parse_result(payload):
    """The child's result frame -> (result dict, [arrays]); Malformed on anything wrong."""
    if len(payload) < 8:
        raise Malformed("the result frame is too short")
    (n,) = struct.unpack_from("<Q", payload, 0)
    if n > len(payload) - 8 or n > 8 * 2 ** 20:
        raise Malformed("the result's header is larger than the result")
    try:
        result = json.loads(payload[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise Malformed(f"the result's header is not JSON ({str(err)[:80]})") from None
    if not isinstance(result, dict) or not isinstance(result.get("arrays", []), list):
        raise Malformed("the result's header is not a dict with a list of arrays")
    blob = memoryview(payload)[8 + n:]
    arrays = []
    for h in result.get("arrays", []):
        if not isinstance(h, dict) or h.get("dtype") not in _DTYPES:
            raise Malformed(f"an array of dtype {str(h.get('dtype') if isinstance(h, dict) else h)[:40]!r}")
        shape, off, nbytes = h.get("shape"), h.get("offset"), h.get("nbytes")
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(type(d) is int and 0 <= d <= 2 ** 31 for d in shape)
                or type(off) is not int or type(nbytes) is not int or off < 0):
            raise Malformed("an array with a malformed shape or offset")
        dtype = np.dtype(h["dtype"])
        size = dtype.itemsize
        for d in shape:
            size *= d
        if size != nbytes or off + nbytes > len(blob):
            raise Malformed(f"an array of shape {tuple(shape)} whose bytes are not there "
                            f"({nbytes} declared, {len(blob) - off} sent)")
        arrays.append(np.frombuffer(blob[off:off + nbytes], dtype=dtype).reshape(shape).copy())
    return result, arrays


# ------------------------------------------------------------------------- running


_WATCHDOG = """
import os, signal, sys, time
grader, group, deadline = int(sys.argv[1]), int(sys.argv[2]), time.time() + float(sys.argv[3])
while time.time() < deadline:
    try:
        os.kill(grader, signal.SIGCONT)
        os.kill(group, 0)
    except OSError:
        break
    time.sleep(0.2)
else:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


def _kill(proc, worker_pid, uid, namespaced):
    """End the child and everything it started."""
    if proc.poll() is None and worker_pid:   # pid 1 of its namespace: the kernel kills the rest
        try:
            os.kill(worker_pid, signal.SIGKILL)
        except OSError:
            pass
    for target in (proc.pid, worker_pid):
        if target and os.name == "posix":
            try:
                os.killpg(target, signal.SIGKILL)
            except OSError:
                pass
    proc.wait()
    if not namespaced and uid not in (None, 0, os.getuid()) and os.geteuid() == 0:
        kill_uid(uid)                          # no PID namespace: every process of the jail's uid


def kill_uid(uid):
    """SIGKILL every process of ``uid`` (root only; the jail's uid belongs to nobody else)."""
    if uid in (0, os.getuid()):
        raise ValueError(f"kill_uid({uid}) would kill the grader's own processes")
    for _ in range(20):
        found = False
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.stat(f"/proc/{name}").st_uid == uid:
                        found = True
                        os.kill(int(name), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.05)


def run_student(path, parts, cases, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB,
                threads=1, jail=None):
    """Import ``path`` in the jailed child and call every part's function on every case.

    parts   : the exercise's :class:`~numpyvae.exercises.base.Part` objects (function, args)
    cases   : its cases (``case.inputs[arg]`` for each argument, ``case.label``)
    timeout : wall-clock seconds for the whole child (None: no limit)
    memory_mb : address-space limit of the child in MiB (0 or None: none)
    jail    : a :class:`Jail` (default: a fresh uid when root, namespaces where the kernel allows)
    -> :class:`Outcome`
    """
    return _execute(Path(path).resolve(), parts, cases, timeout, memory_mb, threads, jail)


def run_task(path, task, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB, threads=1,
             jail=None):
    """Run a library task on the student's files in the same jail: the library stays
    importable (``numpyvae check train``).  ``path``: one student file (its folder's .py files
    travel along) or None.  -> :class:`Outcome` with ``task_result`` and ``task_arrays``."""
    path = None if path is None else Path(path).resolve()
    return _execute(path, [], [], timeout, memory_mb, threads, jail, task)


def _execute(path, parts, cases, timeout, memory_mb, threads, jail, task=None):
    jail = jail or Jail()
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    with tempfile.TemporaryDirectory(prefix="numpyvae-grade-") as tmp:
        tmp = Path(tmp)
        work = tmp / "work"                    # without namespaces, the student's folder: its
        work.mkdir(mode=0o700)                 # owner becomes the jail's uid; the folder above
        tmp.chmod(0o711)                       # can be passed through, not listed
        uid, gid = jail.user()
        job = _job(path, parts, cases, jail, threads, memory_mb, timeout, work, task)
        ctl_r, ctl_w = os.pipe()
        res_r, res_w = os.pipe()
        start = time.perf_counter()
        out_path = tmp / "output.txt"
        with open(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", str(_CHILD), str(ctl_w), str(res_w)], cwd=tmp,
                    env=child_env(threads), stdin=subprocess.PIPE, stdout=out,
                    stderr=subprocess.STDOUT, pass_fds=(ctl_w, res_w), start_new_session=True)
            finally:
                os.close(ctl_w)
                os.close(res_w)
        ctl, res = _Reader(ctl_r, 64 * 1024), _Reader(res_r, MAX_RESULT_BYTES)
        ctl.start()
        res.start()
        threading.Thread(target=_feed, args=(proc, job), daemon=True).start()
        watchdog = None
        timed_out = False
        try:
            ctl.join(timeout)                  # the jailer answers as soon as it has forked
            info = _control(ctl)
            if not info.get("namespaced"):
                watchdog = subprocess.Popen(
                    [sys.executable, "-I", "-c", _WATCHDOG, str(os.getpid()), str(proc.pid),
                     str((timeout or 10 ** 7) + 2)], env=child_env(1), start_new_session=True,
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
            left = None if timeout is None else max(0.0, timeout - (time.perf_counter() - start))
            try:
                proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                timed_out = True
        finally:
            info = _control(ctl)
            _kill(proc, info.get("worker_pid"), uid, bool(info.get("namespaced")))
            if watchdog is not None:
                watchdog.kill()
                watchdog.wait()
        res.join(2.0)                           # a pipe still held open by an escaped process
        seconds = time.perf_counter() - start
        outcome = Outcome("ok", output=_read_output(out_path), returncode=proc.returncode,
                          seconds=seconds)
        return _outcome(outcome, res, timed_out)


def _feed(proc, job):
    try:
        proc.stdin.write(job)
        proc.stdin.close()
    except OSError:
        pass


def _control(reader):
    try:
        for _, payload in _frames(bytes(reader.data), (b"C",)):
            return json.loads(payload)
        return {}
    except (Malformed, ValueError, IndexError):
        return {}


def _outcome(outcome, reader, timed_out):
    """Fill ``outcome`` from what the child sent (``reader``), trusting none of it."""
    result = None
    try:
        if reader.overflow:
            raise Malformed(f"your code sent more than {MAX_RESULT_BYTES // 2 ** 20} MiB of "
                            f"results")
        for kind, payload in _frames(bytes(reader.data)):
            if kind == b"S" and not outcome.protections:
                outcome.protections = [tuple(p) for p in json.loads(payload)]
            elif kind == b"P":
                outcome.progress = payload.decode("utf-8", errors="replace")[:1000]
            elif kind == b"R" and result is None:
                result = parse_result(payload)
    except (Malformed, ValueError, TypeError) as err:
        if timed_out:
            outcome.status = "timeout"
            return outcome
        outcome.status = "malformed"
        outcome.notes.append(f"your code's results could not be read: {err}")
        return outcome
    if timed_out:
        outcome.status = "timeout"
        return outcome
    if result is None:
        outcome.status = "crashed"
        return outcome
    data, arrays = result
    if data.get("task") is not None:
        outcome.task_result, outcome.task_arrays = data["task"], arrays
        return outcome
    try:
        if data.get("import_error"):
            err = data["import_error"]
            outcome.status = "import_error"
            outcome.import_message = str(err.get("message", ""))[:4000]
            outcome.import_frames = [str(f)[:300] for f in err.get("frames", [])][:10]
            return outcome
        for entry in data["parts"]:
            name = str(entry["function"])
            if not entry.get("defined"):
                outcome.parts[name] = None
                continue
            rec = Recorded(name)
            for c in entry["calls"][:1000]:
                call = Call(notes=[str(n)[:500] for n in c.get("notes", [])][:10])
                if c.get("error"):
                    call.error = remote_error(c["error"])
                    call.frames = [str(f)[:300] for f in c["error"].get("frames", [])][:10]
                else:
                    call.value = _decode(c["value"], arrays)
                rec.calls.append(call)
            outcome.parts[name] = rec
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        outcome.status = "malformed"
        outcome.parts = {}
        outcome.notes.append(f"your code's results could not be read: {str(err)[:200]}")
    return outcome


def why_it_ended(returncode):
    """A guess, for the report, at why the child ended without its results."""
    if returncode is not None and returncode > 128:     # the jailer reports a signal as 128+n
        returncode = 128 - returncode
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
