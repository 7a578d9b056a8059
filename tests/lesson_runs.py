"""Shared by the lesson tests: run lessons once with --quick and look up their checks.

A lesson run with the same arguments is kept for the whole pytest session, so the test modules
that look at the same lesson (test_lessons_*.py, test_claims.py) share one run of it."""
from pathlib import Path

from numpyvae import lessonkit

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CACHE = {}


def run_quick(tmp_path_factory, numbers, seed=None):
    """{number: (checks, out_dir)}: each lesson run once per session, in-process, with --quick."""
    seed = 0 if seed is None else int(seed)
    out = {}
    for number in numbers:
        key = (int(number), seed)
        if key not in _CACHE:
            d = tmp_path_factory.mktemp(f"lesson{number:02d}")
            argv = ["--quick", "--out", str(d), "--seed", str(seed)]
            _CACHE[key] = (lessonkit.run_lesson(number, argv, lessons_dir=LESSONS), d)
        out[number] = _CACHE[key]
    return out


def find(results, prefix):
    """The one check whose name starts with ``prefix``."""
    names = [n for n in results if n.startswith(prefix)]
    assert len(names) == 1, f"expected one check starting with {prefix!r}, got {names}"
    return results[names[0]]


def assert_passed_with_figures(checks, out, figures, min_checks, min_bytes=5000):
    """Every check passed, there were enough of them, and every figure is a real PNG."""
    assert len(checks) >= min_checks
    failed = [n for n, c in checks.items() if not c.passed]
    assert not failed, failed
    for name in figures:
        png = out / f"{name}.png"
        assert png.is_file() and png.stat().st_size > min_bytes, png
        assert png.read_bytes()[:8] == PNG_MAGIC
