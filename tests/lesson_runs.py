"""Shared by the lesson tests: run lessons once with --quick and look up their checks."""
from pathlib import Path

from numpyvae import lessonkit

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_quick(tmp_path_factory, numbers, seed=None):
    """{number: (checks, out_dir)}: each lesson run once, in-process, with --quick."""
    out = {}
    for number in numbers:
        d = tmp_path_factory.mktemp(f"lesson{number:02d}")
        argv = ["--quick", "--out", str(d)] + ([] if seed is None else ["--seed", str(seed)])
        out[number] = (lessonkit.run_lesson(number, argv, lessons_dir=LESSONS), d)
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
