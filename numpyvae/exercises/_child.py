"""The grader's child process: put a student's file in a jail, import it, call its functions on
the inputs the parent sent, and send back what they returned.  Nothing here decides whether
anything passes: the parent (:mod:`numpyvae.exercises.sandbox`) parses the answer, trusting no
byte of it, and grades.

Run by path as ``python -I _child.py CTL_FD RESULT_FD`` so that it imports nothing of numpyvae
for an exercise (this file must not import numpyvae: the jail hides the package there);
``check train``'s task imports ``numpyvae.commands.check_train`` before the jail closes, and the
package stays visible to it.  The job arrives on standard input as one frame of the frame format
below, which this file owns: the parent packs its job with it (``sandbox._frame``), each side
encoding and decoding the values in a frame itself, and ``grader.load_module`` (in-process, for
tests) loads students' files with :func:`load_student`, as this process does; the grading parent
never imports them.

Two processes:

* the **jailer** (this process, with the grader's user): reads the job, makes new namespaces
  (PID, mount, network, IPC, UTS; as an unprivileged user, inside a new user namespace), forks
  the worker, tells the parent the worker's pid and whether it made namespaces (and a user
  namespace) on CTL_FD, waits for it and exits with its status;
* the **worker** (pid 1 of the new PID namespace): mounts a fresh /proc (only its own processes),
  makes every file system read-only, mounts empty private /tmp, /var/tmp and /dev/shm, hides the
  numpyvae package and the student's original folder under empty mounts, drops to an
  unprivileged uid (as root) or drops every capability (in a user namespace), sets no_new_privs
  and resource limits, scrubs the environment, and only then imports the student's file.  When
  it exits, the kernel kills every process left in its PID namespace, daemons included.

Where the kernel refuses namespaces, the worker still drops privileges when it can; it sends which
protections held on RESULT_FD (an "S" frame, before any student code runs), and the parent says so
in its report.
"""
import ctypes
import json
import os
import struct
import sys
import time
import traceback

try:
    import resource
except ImportError:                     # not a Unix
    resource = None

# ----------------------------------------------------------------------- the wire format
# frame = kind (1 byte) + length (8 bytes, little-endian) + payload.  "J": the job (JSON header
# + array bytes); "P": progress text; "R": the result (JSON header + array bytes); "S": the
# protections that held (worker, RESULT_FD); "C": the worker's pid and namespaces (jailer, CTL_FD).

_HEAD = struct.Struct("<cQ")


def _read_exact(fd, n):
    chunks, left = [], n
    while left:
        b = os.read(fd, min(left, 1 << 20))
        if not b:
            raise EOFError("the job ended early")
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def _unpack_payload(payload):
    (n,) = struct.unpack_from("<Q", payload, 0)
    head = json.loads(payload[8:8 + n].decode("utf-8"))
    return head, memoryview(payload)[8 + n:]


def _pack_payload(head, blobs):
    text = json.dumps(head).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def _send(fd, kind, payload):
    data = _HEAD.pack(kind, len(payload)) + payload
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:
            return
        view = view[n:]


# --------------------------------------------------------------------- kernel interfaces

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER, PR_CAPBSET_DROP = 38, 36, 24
PR_SET_SECUREBITS, PR_SET_DUMPABLE = 28, 4
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
SYS_CAPSET = 126 if os.uname().machine == "x86_64" else 91   # x86_64; generic (aarch64) table


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


LIBC = _libc() if sys.platform.startswith("linux") else None


def _call(name, *args):
    """A libc call -> None on success, else the error text."""
    if LIBC is None:
        return "not Linux"
    fn = getattr(LIBC, name, None)
    if fn is None:
        return f"no {name} in libc"
    if fn(*args) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def _mount(source, target, fstype, flags, data=None):
    enc = (lambda s: None if s is None else s.encode())
    LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_char_p]
    return _call("mount", enc(source), enc(target), enc(fstype), flags, enc(data))


def _read_only_everywhere():
    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]
    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    LIBC.syscall.restype = ctypes.c_long
    r = LIBC.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), b"/",
                     ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr),
                     ctypes.c_size_t(ctypes.sizeof(attr)))
    return None if r == 0 else os.strerror(ctypes.get_errno())


def _drop_capabilities():
    """Every capability gone, for good: the bounding set, then the sets themselves."""
    for cap in range(64):
        LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)      # fails past the last capability: fine
    # SECBIT_NOROOT | _LOCKED, NO_SETUID_FIXUP | _LOCKED, KEEP_CAPS_LOCKED
    LIBC.prctl(PR_SET_SECUREBITS, 0x1 | 0x2 | 0x4 | 0x8 | 0x20, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)     # _LINUX_CAPABILITY_VERSION_3, this pid
    data = (ctypes.c_uint32 * 6)()
    LIBC.syscall.restype = ctypes.c_long
    r = LIBC.syscall(ctypes.c_long(SYS_CAPSET), header, data)
    return None if r == 0 else os.strerror(ctypes.get_errno())


# ----------------------------------------------------------------------------- the jailer


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def jail(job):
    """Make the namespaces (before the fork): -> (namespaced: bool, in_userns: bool, notes)."""
    notes = []
    if LIBC is None or not job.get("namespaces", True):
        return False, False, ["no namespaces on this system" if LIBC is None
                              else "namespaces switched off"]
    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() == 0:
        err = _call("unshare", flags)
        if err is None:
            return True, False, notes
        notes.append(f"namespaces refused as root ({err})")
        return False, False, notes
    uid, gid = os.getuid(), os.getgid()
    err = _call("unshare", flags | CLONE_NEWUSER)
    if err is not None:
        notes.append(f"user namespaces refused ({err})")
        return False, False, notes
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    except OSError as e:
        notes.append(f"user namespace map refused ({e})")
    return True, True, notes


def _kill_descendants():
    """Without a PID namespace: SIGKILL every process reparented to us (we are a subreaper)."""
    me = str(os.getpid())
    for _ in range(50):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                found = True
                try:
                    os.kill(int(name), 9)
                except OSError:
                    pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not found:
            return
        time.sleep(0.02)


def main(ctl_fd, result_fd):
    kind, n = _HEAD.unpack(_read_exact(0, _HEAD.size))
    head, blob = _unpack_payload(_read_exact(0, n))
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)                 # fd 0 again, now /dev/null
    namespaced, userns, notes = jail(head)
    if not namespaced and LIBC is not None:
        LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ctl_fd)
            worker(head, blob, result_fd, namespaced, userns, notes)
        except BaseException:                        # noqa: BLE001 - never past this frame
            traceback.print_exc()                    # shown under "your code printed"
            os._exit(70)
        os._exit(0)
    os.close(result_fd)
    _send(ctl_fd, b"C", json.dumps({"worker_pid": pid, "namespaced": namespaced,
                                    "userns": userns}).encode())
    os.close(ctl_fd)
    _, status = os.waitpid(pid, 0)
    if not namespaced:
        _kill_descendants()
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


# ----------------------------------------------------------------------------- the worker


def _reachable(paths, uid, gid, stage):
    """Let ``uid`` reach ``paths`` (Python, NumPy) through folders it may not enter (a venv
    built from a Python under /root): each such folder is covered, in this mount namespace only,
    by an empty world-readable one holding just the ways down.  -> error text or None."""
    def closed(d):
        st = os.stat(d)
        return not (st.st_mode & 0o001 or st.st_uid == uid
                    or st.st_gid == gid and st.st_mode & 0o010)

    pairs = {}                          # a folder uid cannot enter -> the entries to keep in it
    for target in paths:
        parts = os.path.abspath(target).strip("/").split("/")
        for i in range(len(parts)):
            here = "/" + "/".join(parts[:i])
            if os.path.isdir(here) and closed(here):
                pairs.setdefault(here, set()).add(parts[i])
    if not pairs:
        return None
    os.makedirs(stage, exist_ok=True)
    kept = {}
    for here in pairs:                  # first keep every way down, from the original tree
        for name in sorted(pairs[here]):
            inner = os.path.join(here, name)
            keep = os.path.join(stage, str(len(kept)))
            os.makedirs(keep)
            err = _mount(inner, keep, None, MS_BIND | MS_REC)
            if err:
                return f"{inner}: {err}"
            kept[inner] = keep
    for here in sorted(pairs, key=lambda d: d.count("/")):     # then cover, shallow first
        err = _mount("tmpfs", here, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=755")
        if err:
            return f"{here}: {err}"
        for name in sorted(pairs[here]):
            inner = os.path.join(here, name)
            os.makedirs(inner)
            err = _mount(kept[inner], inner, None, MS_BIND | MS_REC)
            if err:
                return f"{inner}: {err}"
    for keep in kept.values():
        _call("umount2", keep.encode(), 2)
    return None


def _protect(head, blob, namespaced, userns, notes):
    """Everything done before the student's code runs -> [(protection, held, detail)]."""
    held = []

    def note(name, err):
        held.append([name, err is None, err or ""])

    root = os.geteuid() == 0 and not userns
    uid, gid = head.get("uid"), head.get("gid")
    reach = head.get("reach", [])
    work = head["work"]
    if namespaced:
        note("own PID namespace (the grader's processes invisible; all killed at the end)", None)
        note("no network", None)
        err = _mount(None, "/", None, MS_REC | MS_PRIVATE)
        if root and uid is not None and err is None:
            # staged on a private /dev/shm before everything turns read-only
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=700")
            note("Python and NumPy reachable by the unprivileged user",
                 _reachable(reach, uid, gid, "/dev/shm/.reach"))
        if err is None:
            err = _read_only_everywhere()
        note("every file system read-only (site-packages, the results file, your files)", err)
        # fresh scratch space, except over a folder holding Python or NumPy (a venv in /tmp)
        scratch = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d) and not any(
            r == d or r.startswith(d + "/") for r in reach)]
        for d in scratch:
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
        work = os.path.join(scratch[0], "student") if scratch else work
        err = _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        note("a private /proc (the grader's command line and environment invisible)", err)
        bad = []
        for d in head.get("hide", []):
            if os.path.isdir(d):
                e = _mount("tmpfs", d, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16k")
                if e:
                    bad.append(f"{d}: {e}")
        note("numpyvae's source and the submissions folder hidden", "; ".join(bad) or None)
    else:
        for name in ("own PID namespace", "no network", "read-only file systems",
                     "a private /proc", "numpyvae's source hidden"):
            note(name, "; ".join(notes) or "no namespaces")
    os.makedirs(work, exist_ok=True)
    for name, size, start in head["files"]:
        with open(os.path.join(work, os.path.basename(name)), "wb") as f:
            f.write(bytes(blob[start:start + size]))
    os.chdir(work)
    if root and uid is not None:
        try:
            os.chown(work, uid, gid)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            note(f"an unprivileged user (uid {uid})", "uid 0 asked for" if uid == 0 else None)
        except OSError as e:
            note(f"an unprivileged user (uid {uid})", str(e))
    elif userns:
        note("no capabilities (user namespace)", _drop_capabilities())
    else:
        note("an unprivileged user", "the grader is not root: your code runs as its user")
    if LIBC is not None:
        LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    note("resource limits (memory, CPU, file size, processes)", _limits(head, root))
    return held, work


def _limits(head, root):
    if resource is None:
        return "no resource module"
    errors = []
    wanted = [("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)]
    for key, name in (("cpu_seconds", "RLIMIT_CPU"), ("max_file_bytes", "RLIMIT_FSIZE"),
                      ("memory_bytes", "RLIMIT_AS")):
        if head.get(key):
            wanted.append((name, int(head[key])))
    if root:
        wanted.append(("RLIMIT_NPROC", 64))
    for name, value in wanted:
        which = getattr(resource, name, None)
        if which is None:
            errors.append(f"no {name}")
            continue
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as e:
            errors.append(f"{name}: {e}")
    return "; ".join(errors) or None


class _Guard:
    """A meta-path finder: only the standard library, numpy and the student's own files."""

    def __init__(self, allowed, own):
        self.allowed, self.own = set(allowed), set(own)

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if (top in self.allowed or top in self.own or top in sys.stdlib_module_names
                or top in sys.builtin_module_names or top.startswith("_sysconfigdata")):
            return None
        raise ImportError(
            f"import {name!r} is not allowed while your exercise is graded: exercises must be "
            f"your own code, using numpy and Python's standard library only (numpyvae, its "
            f"reference solutions and other gradient libraries are out of reach)", name=name)


PRELOAD = ("math", "functools", "itertools", "collections", "random", "warnings", "copy",
           "operator", "dataclasses", "typing", "importlib.util", "numpy.linalg")
# without a mount namespace nothing can make an unreadable Python reachable: load more first
PRELOAD_MORE = ("signal", "tempfile", "time", "struct", "stat", "subprocess", "socket", "shutil",
                "re", "string", "textwrap", "statistics", "fractions", "decimal", "pathlib",
                "contextlib", "enum", "abc", "inspect", "pickle", "io", "glob", "numbers")


def worker(head, blob, result_fd, namespaced, userns, notes):
    if not namespaced:
        os.setsid()                                  # the parent kills this group at the end
    # NumPy and the modules students use most are loaded before the privileges go, in case
    # Python lives where the unprivileged user cannot read (a venv built from /root/.pyenv)
    import numpy as np
    for name in PRELOAD + (() if namespaced else PRELOAD_MORE):
        try:
            __import__(name)
        except ImportError:
            pass
    task = head.get("task")
    if task:                                         # the library's own task (check train):
        from numpyvae.commands import check_train    # loaded before the jail closes
    protections, work = _protect(head, blob, namespaced, userns, notes)
    os.environ.clear()
    os.environ.update(head["env"], HOME=work, TMPDIR=work)
    sys.dont_write_bytecode = True

    def mark(text):
        _send(result_fd, b"P", text.encode("utf-8")[:1000])

    _send(result_fd, b"S", json.dumps(protections).encode())
    arrays = _decode_arrays(head["arrays"], blob, np)
    sys.path[:] = [""] + [p for p in sys.path if p and os.path.abspath(p) != work]
    own = [os.path.splitext(name)[0] for name, _, _ in head["files"]]
    sys.meta_path.insert(0, _Guard(("numpy", "numpyvae", "scipy") if task else ("numpy",), own))
    for stream in (sys.stdout, sys.stderr):          # a student's print("σ") must not fail
        try:
            stream.reconfigure(encoding="utf-8", errors="replace")
        except (AttributeError, ValueError):
            pass
    if task:
        def load(name):
            return load_student(name, "_numpyvae_student_" + os.path.splitext(name)[0],
                         os.path.join(work, name))
        answer, arrays = check_train.child_task(task, load, mark)
        _send_result({"task": answer}, arrays, result_fd, np)
        return
    path = os.path.join(work, head["file"])
    result = {"import_error": None, "parts": []}
    out_arrays = []
    mark(f"importing {head['file']}")
    # by its name in the current folder: without namespaces the folders above it are the
    # grader's, which the unprivileged user cannot enter
    module, err = load_student(head["file"], head.get("module_name", "_numpyvae_student"), path)
    if err is not None:
        result["import_error"] = err
    else:
        for part in head["parts"]:
            fn = getattr(module, part["function"], None)
            entry = {"function": part["function"], "defined": callable(fn), "calls": []}
            result["parts"].append(entry)
            if not callable(fn):
                continue
            for call in part["calls"]:
                mark(f"in {part['function']}, case {call['label']}")
                args = [decode(a, arrays) for a in call["args"]]
                out = _run(fn, args, part["args"], path, np, out_arrays)
                entry["calls"].append(out)
                if out["error"] and "NotImplementedError" in out["error"]["mro"]:
                    break
    mark("sending the results")
    _send_result(result, out_arrays, result_fd, np)
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - the student may have replaced sys.stdout
        pass


def _send_result(result, out_arrays, result_fd, np):
    heads, blobs, offset = [], [], 0
    for a in out_arrays:
        a = np.ascontiguousarray(a)
        heads.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset,
                      "nbytes": a.nbytes})
        blobs.append(a.tobytes())
        offset += a.nbytes
    result["arrays"] = heads
    _send(result_fd, b"R", _pack_payload(result, blobs))


# ------------------------------------------------------------------------- encoding


def _decode_arrays(heads, blob, np):
    return {h["key"]: np.frombuffer(blob[h["offset"]:h["offset"] + h["nbytes"]],
                                    dtype=np.dtype(h["dtype"])).reshape(h["shape"]).copy()
            for h in heads}


def decode(enc, arrays):
    t = enc["t"]
    if t == "array":
        return arrays[enc["k"]].copy()
    if t in ("float", "int", "bool", "str"):
        return enc["v"]
    if t == "none":
        return None
    if t == "tuple":
        return tuple(decode(e, arrays) for e in enc["items"])
    if t == "list":
        return [decode(e, arrays) for e in enc["items"]]
    if t == "namedtuple":
        import collections
        cls = collections.namedtuple(enc["name"], enc["fields"])
        return cls(*(decode(e, arrays) for e in enc["items"]))
    if t == "dict":
        return {k: decode(e, arrays) for k, e in enc["items"]}
    raise ValueError(f"cannot decode {t!r}")


def encode(value, out_arrays, np, depth=0):
    """A JSON-able description of a student's return value; arrays go to ``out_arrays``."""
    if depth > 20:
        return {"t": "other", "type": type(value).__name__, "repr": "(nested too deeply)"}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.kind not in "biufc":
            return {"t": "other", "type": f"numpy array of dtype {value.dtype}",
                    "repr": _short_repr(value)}
        out_arrays.append(value)
        return {"t": "array", "k": len(out_arrays) - 1}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)) and abs(int(value)) < 2 ** 62:
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return {"t": "float", "v": v if v == v and abs(v) != float("inf") else repr(v)}
    if value is None:
        return {"t": "none"}
    if isinstance(value, (tuple, list)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [encode(v, out_arrays, np, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[str(k), encode(v, out_arrays, np, depth + 1)]
                                       for k, v in value.items()]}
    return {"t": "other", "type": type(value).__name__, "repr": _short_repr(value)}


def _short_repr(value):
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - a student's __repr__
        text = "?"
    return text[:200]


# ------------------------------------------------------------------------- the student


def _frames(err, path, skip=__file__):
    """The traceback lines of ``err`` to show a student: those in their file ``path`` (absolute),
    else the last one; without a path, the last four not in the file ``skip`` (this one)."""
    frames = traceback.extract_tb(err.__traceback__)
    here = os.path.abspath(skip)
    frames = [f for f in frames if os.path.abspath(f.filename) != here]
    if path is not None:
        own = [f for f in frames if os.path.abspath(f.filename) == path]
        frames = own or frames[-1:]
    return [f"{os.path.basename(f.filename)}, line {f.lineno}, in {f.name}: "
            f"{(f.line or '').strip()}" for f in frames[-4:]]


def _error(err, path):
    try:
        message = str(err)
    except BaseException:  # noqa: BLE001
        message = "?"
    return {"type": type(err).__name__, "mro": [c.__name__ for c in type(err).__mro__],
            "message": message[:2000], "frames": _frames(err, path)}


def load_student(name, module_name, path, catch=BaseException):
    """Import the student's file ``name`` (as found from the current folder, or absolute) as the
    module ``module_name``: -> (module, None), or (None, {"message", "frames"}) saying why not.

    The one loader of students' files: the jailed worker calls it (``catch=BaseException``: the
    student's ``KeyboardInterrupt`` or ``SystemExit`` is theirs to answer for), and so does the
    parent, :func:`numpyvae.exercises.grader.load_module` (``catch=Exception``).  ``path`` is the
    absolute path that names the file in messages and tracebacks.  The module stays in
    ``sys.modules`` under ``module_name`` (for dataclasses and pickling); a caller that wants no
    trace of it removes it."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(module_name, name)
    if spec is None or spec.loader is None:
        return None, {"message": f"{os.path.basename(path)} cannot be imported as a Python file"}
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        line = (err.text or "").rstrip("\n")
        where = f"{os.path.basename(err.filename or path)}, line {err.lineno}"
        shown = f"\n      {line.strip()}" if line else ""
        msg = f"{where}: SyntaxError: {err.msg}{shown}"
        if "UTF-8" in str(err.msg) or "utf-8" in str(err.msg):
            msg += ("\n    hint: the file is not saved as UTF-8; save it as UTF-8 in your "
                    "editor (or write only ASCII characters)")
        return None, {"message": msg}
    except SystemExit as err:
        name = os.path.basename(path)
        return None, {"message": f"importing {name} called sys.exit({err.code!r}) (or exit/"
                                 f"quit): a file to be graded must only define functions "
                                 f"(put script code under `if __name__ == \"__main__\":`)",
                      "frames": _frames(err, path)}
    except catch as err:  # noqa: BLE001 - anything the student's module does at import
        return None, {"message": f"importing {os.path.basename(path)} raised "
                                 f"{type(err).__name__}: {err}", "frames": _frames(err, path)}
    return module, None


def _changed(before, after, np):
    if isinstance(before, np.ndarray):
        return not (isinstance(after, np.ndarray) and after.shape == before.shape
                    and np.array_equal(after, before, equal_nan=True))
    if isinstance(before, dict):
        return any(_changed(before[k], after.get(k) if isinstance(after, dict) else None, np)
                   for k in before)
    if isinstance(before, (tuple, list)):
        return (not isinstance(after, (tuple, list)) or len(after) != len(before)
                or any(_changed(b, a, np) for b, a in zip(before, after)))
    return False


def _run(fn, args, names, path, np, out_arrays):
    import warnings
    saved = [_deep_copy(a, np) for a in args]
    out = {"value": None, "error": None, "notes": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args)
        except BaseException as err:  # noqa: BLE001 - the student's code, SystemExit included
            out["error"] = _error(err, path)
            return out
    for w in caught[:5]:
        out["notes"].append(f"your code warned: {w.category.__name__}: {w.message} "
                            f"({os.path.basename(w.filename)}, line {w.lineno})")
    for name, a, b in zip(names, saved, args):
        if _changed(a, b, np):
            out["notes"].append(
                f"your function changed its argument {name!r} in place; a backward pass must "
                f"leave its inputs alone (the caller may still need them)")
    try:
        out["value"] = encode(value, out_arrays, np)
    except BaseException as err:  # noqa: BLE001 - e.g. a student's object whose __eq__ raises
        out["value"] = {"t": "other", "type": type(value).__name__, "repr": repr(err)[:200]}
    return out


def _deep_copy(v, np):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, dict):
        return {k: _deep_copy(x, np) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return type(v)(_deep_copy(x, np) for x in v) if not hasattr(v, "_fields") else \
            type(v)(*(_deep_copy(x, np) for x in v))
    return v


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
