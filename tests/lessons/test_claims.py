"""The map in lessons/README.md from the lectures' claims (a)-(z) to lesson checks: every claim
is listed, and every check it names exists in its lesson's quick run and passes.  (The map's
last column, the planted error that proves each check can fail, is tested in
test_planted_errors.py.)"""
import re
import string

import pytest
from lesson_runs import LESSONS, run_quick

ROW = re.compile(r"^\|\s*\((?P<claim>[a-z])\)\s*\|")


def claim_map(text=None):
    """[(claim letter, lesson number, check-name pattern, planted-error id)] from the README's
    table: | (claim) | statement | lesson | `check` | `planted error id`: description |."""
    text = (LESSONS / "README.md").read_text(encoding="utf-8") if text is None else text
    out = []
    for line in text.splitlines():
        if not ROW.match(line):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 5, line
        letter = cells[0].strip("()")
        name = cells[3].strip("`").replace("\\|", "|")
        plant = cells[4].split(":", 1)[0].strip().strip("`")
        out.append((letter, int(cells[2]), name, plant))
    return out


def matching(pattern, names):
    """Check names matching ``pattern``, where ``*`` stands for any text."""
    rx = re.compile(".+".join(re.escape(p) for p in pattern.split("*")) + r"\Z")
    return [n for n in names if rx.match(n)]


def test_the_map_lists_every_claim_a_to_z():
    letters = {letter for letter, _, _, _ in claim_map()}
    assert letters == set(string.ascii_lowercase)


def test_parser_reads_escaped_bars_and_wildcards():
    rows = claim_map("| (c) | p(x\\|z) | 08 | `log p(x\\|z) vs C` | `no-half`: ½ dropped |\n| x | y |\n")
    assert rows == [("c", 8, "log p(x|z) vs C", "no-half")]
    assert matching("MNIST*: a", ["MNIST, N_z = 2: a", "MNIST: b"]) == ["MNIST, N_z = 2: a"]
    assert matching("a [b]", ["a [b]", "a [b] c"]) == ["a [b]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    numbers = sorted({n for _, n, _, _ in claim_map()})
    return run_quick(tmp_path_factory, numbers)


@pytest.mark.parametrize("letter", list(string.ascii_lowercase))
def test_every_check_of_the_claim_exists_and_passes(runs, letter):
    rows = [(n, name) for c, n, name, _ in claim_map() if c == letter]
    assert rows, f"claim ({letter}) has no check in lessons/README.md"
    for number, pattern in rows:
        checks, _ = runs[number]
        found = matching(pattern, checks)
        assert found, (f"claim ({letter}): lesson {number:02d} has no check {pattern!r}; "
                       f"it has {sorted(checks)}")
        failed = [n for n in found if not checks[n].passed]
        assert not failed, f"claim ({letter}): failed in lesson {number:02d}: {failed}"
