"""What the grader reads for a student and what the jail hides (a red team's findings, session 10):
no symbolic link is followed, every array of an answer is referenced once, and other copies of
numpyvae's source and the --seed-file's folder are hidden like the installed package."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from numpyvae.exercises import sandbox


def test_a_symlinked_student_file_is_refused_and_symlinked_siblings_are_skipped(tmp_path):
    secret = tmp_path / "seed"
    secret.write_text("99999")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "03_softplus.py").write_text("x = 1\n")
    (sub / "helper.py").write_text("y = 2\n")
    (sub / "leak_seed.py").symlink_to(secret)          # read as root, it would reach the jail
    (sub / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    (sub / "folder.py").mkdir()
    names = [name for name, _ in sandbox._files(sub / "03_softplus.py")]
    assert names == ["03_softplus.py", "helper.py"], names
    (sub / "01_dense.py").symlink_to(sub / "helper.py")
    with pytest.raises(ValueError, match="symbolic link"):
        sandbox._files(sub / "01_dense.py")
    with pytest.raises(ValueError, match="not a regular file"):
        sandbox._files(sub / "folder.py")


def test_an_array_referenced_twice_is_malformed():
    """A forged frame naming one large array many times made the parent copy it each time (an
    out-of-memory kill of the whole class); the child's encoder names each array once."""
    arrays = [np.zeros(4)]
    one = {"t": "list", "items": [{"t": "array", "k": 0}]}
    assert len(sandbox._decode(one, arrays)) == 1
    twice = {"t": "list", "items": [{"t": "array", "k": 0}, {"t": "array", "k": 0}]}
    with pytest.raises(sandbox.Malformed, match="referenced twice"):
        sandbox._decode(twice, arrays)
    from numpyvae.exercises import _child
    value = (np.ones(3), [np.zeros(2), {"a": np.arange(4)}])    # the child's own answers decode
    blobs = []
    encoded = _child.encode(value, blobs, np)
    back = sandbox._decode(encoded, blobs)
    assert np.array_equal(back[0], value[0]) and np.array_equal(back[1][1]["a"], value[1][1]["a"])


def test_other_copies_of_the_source_and_the_seed_folder_are_hidden(tmp_path, monkeypatch):
    """The child's import guard is a Python object the student can remove: any importable copy of
    numpyvae (a checkout on the grader's sys.path, Gradescope's /autograder/source) must be
    under an empty mount, and so must the --seed-file's folder."""
    checkout = tmp_path / "checkout"
    (checkout / "numpyvae").mkdir(parents=True)
    (checkout / "numpyvae" / "__init__.py").write_text("")
    autograder = tmp_path / "autograder"
    (autograder / "source").mkdir(parents=True)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    student = tmp_path / "ws" / "03_softplus.py"
    student.parent.mkdir()
    student.write_text("x = 1\n")
    monkeypatch.setattr(sys, "path", [str(checkout)] + sys.path)
    monkeypatch.setattr(sandbox, "GRADESCOPE", autograder)
    monkeypatch.setattr(sandbox, "SECRETS", [str(secrets)])
    hidden = sandbox._hidden(student, sandbox.Jail())
    for d in (checkout / "numpyvae", autograder, secrets, student.parent):
        assert str(d.resolve()) in hidden, (d, hidden)
    # a task that needs the library (check train) keeps the copies visible, never the secrets
    hidden = sandbox._hidden(student, sandbox.Jail(), library=True)
    assert str((checkout / "numpyvae").resolve()) not in hidden
    assert str(secrets.resolve()) in hidden


def test_the_seed_file_folder_is_registered_for_every_jail(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from numpyvae.commands import check
    seed = tmp_path / "private" / "seed"
    seed.parent.mkdir()
    seed.write_text("12345\n")
    monkeypatch.setattr(sandbox, "SECRETS", [])
    assert check._seed(SimpleNamespace(seed_file=str(seed), seed=0)) == 12345
    assert sandbox.SECRETS == [str(seed.parent.resolve())]
    assert os.path.samefile(Path(sandbox.SECRETS[0]), seed.parent)


def test_a_deleted_working_folder_does_not_stop_the_grader(monkeypatch):
    def gone():
        raise FileNotFoundError(2, "No such file or directory")
    monkeypatch.setattr(os, "getcwd", gone)
    assert isinstance(sandbox._other_copies(), list)
