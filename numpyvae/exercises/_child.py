"""The grader's child process: import one student file and call its functions on the inputs the
parent sent.  Nothing here decides whether anything passes; the parent
(:mod:`numpyvae.exercises.sandbox`) reads back the student's return values and grades them.

Run as ``python -I _child.py JOBDIR`` (by path, so that it imports nothing of numpyvae itself).
JOBDIR holds ``job.json`` (the student's file, the functions and their arguments, encoded as in
:func:`encode`) and ``inputs.npz``; the child writes ``progress.txt`` before every call and, at
the end, ``outputs.npz`` and ``result.json``.  Limits (memory, CPU seconds, file size) are set
first, with soft = hard, so the student's code cannot raise them again.
"""
import json
import os
import sys
import threading
import time
import traceback

_ARRAYS = {}


def _limits(job):
    try:
        import resource
    except ImportError:                  # not a Unix: only the parent's wall-clock limit
        return []
    notes = []
    wanted = [("RLIMIT_CORE", 0)]
    if job.get("cpu_seconds"):
        wanted.append(("RLIMIT_CPU", int(job["cpu_seconds"])))
    if job.get("max_file_bytes"):
        wanted.append(("RLIMIT_FSIZE", int(job["max_file_bytes"])))
    if job.get("memory_bytes"):
        wanted.append(("RLIMIT_AS", int(job["memory_bytes"])))
    for name, value in wanted:
        which = getattr(resource, name, None)
        if which is None:
            notes.append(f"no {name} on this system")
            continue
        try:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as err:
            notes.append(f"could not set {name}: {err}")
    return notes


def _watchdog(seconds):
    """End the process after ``seconds`` even if the parent is gone (sleeping uses no CPU)."""
    def stop():
        time.sleep(seconds)
        os._exit(124)
    threading.Thread(target=stop, daemon=True).start()


# ------------------------------------------------------------------------- encoding


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


def encode(value, depth=0):
    """A JSON-able description of a student's return value; arrays go to ``_ARRAYS``."""
    import numpy as np
    if depth > 20:
        return {"t": "other", "type": type(value).__name__, "repr": "(nested too deeply)"}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {"t": "other", "type": f"numpy array of dtype {value.dtype}",
                    "repr": _short_repr(value)}
        key = f"o{len(_ARRAYS)}"
        _ARRAYS[key] = np.asarray(value)
        return {"t": "array", "k": key}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)) and abs(int(value)) < 2 ** 62:
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "float", "v": float(value)}
    if value is None:
        return {"t": "none"}
    if isinstance(value, (tuple, list)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[str(k), encode(v, depth + 1)] for k, v in value.items()]}
    return {"t": "other", "type": type(value).__name__, "repr": _short_repr(value)}


def _short_repr(value):
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - a student's __repr__
        text = "?"
    return text[:200]


# ------------------------------------------------------------------------- the student


def _frames(err, path):
    frames = traceback.extract_tb(err.__traceback__)
    here = os.path.abspath(__file__)
    frames = [f for f in frames if os.path.abspath(f.filename) != here]
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


def _load(path, module_name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(module_name, path)
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
        return None, {"message": f"{where}: SyntaxError: {err.msg}{shown}"}
    except SystemExit as err:
        name = os.path.basename(path)
        return None, {"message": f"importing {name} called sys.exit({err.code!r}) (or exit/"
                                 f"quit): a file to be graded must only define functions "
                                 f"(put script code under `if __name__ == \"__main__\":`)",
                      "frames": _frames(err, path)}
    except BaseException as err:  # noqa: BLE001 - anything the student's module does at import
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


def _call(fn, args, names, path, np):
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
        out["value"] = encode(value)
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


def _write_result(jobdir, result, np):
    np.savez(os.path.join(jobdir, "outputs.npz"), **_ARRAYS)
    tmp = os.path.join(jobdir, "result.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, os.path.join(jobdir, "result.json"))


def main(jobdir):
    with open(os.path.join(jobdir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    limit_notes = _limits(job)
    if job.get("watchdog_seconds"):
        _watchdog(float(job["watchdog_seconds"]))
    for stream in (sys.stdout, sys.stderr):   # a student's print("σ") must not fail on ASCII
        try:
            stream.reconfigure(encoding="utf-8", errors="replace")
        except (AttributeError, ValueError):
            pass
    sys.dont_write_bytecode = True       # no __pycache__ in the student's folder
    for p in reversed(job.get("sys_path_first", [])):
        sys.path.insert(0, p)
    sys.path += job.get("sys_path_last", [])
    progress = os.path.join(jobdir, "progress.txt")

    def mark(text):
        with open(progress, "w", encoding="utf-8") as f:
            f.write(text)

    mark("starting Python and NumPy")
    import numpy as np
    with np.load(os.path.join(jobdir, "inputs.npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    path = os.path.abspath(job["file"])
    result = {"limits": limit_notes, "import_error": None, "parts": []}
    mark(f"importing {os.path.basename(path)}")
    module, err = _load(path, job.get("module_name", "_numpyvae_student"))
    if err is not None:
        result["import_error"] = err
        _write_result(jobdir, result, np)
        return
    for part in job["parts"]:
        fn = getattr(module, part["function"], None)
        entry = {"function": part["function"], "defined": callable(fn), "calls": []}
        result["parts"].append(entry)
        if not callable(fn):
            continue
        for call in part["calls"]:
            mark(f"in {part['function']}, case {call['label']}")
            args = [decode(a, arrays) for a in call["args"]]
            out = _call(fn, args, part["args"], path, np)
            entry["calls"].append(out)
            if out["error"] and "NotImplementedError" in out["error"]["mro"]:
                break
    mark("writing the results")
    _write_result(jobdir, result, np)
    mark("done")


if __name__ == "__main__":
    main(sys.argv[1])
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - the student may have replaced sys.stdout
        pass
    os._exit(0)          # no atexit handlers or thread joins of the student's code
