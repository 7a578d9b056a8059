"""One loader of students' files (issue 28): ``grader.load_module`` (tests, in-process use) is the
jailed child's ``_child.load_student``, so a student reads the same message from either."""
import sys

import pytest

from numpyvae.exercises import _child, find_exercise, grader

BAD = {   # file text -> what the student must be told
    "syntax": (b"def softplus_backward(dy, x)\n    return dy\n",
               "03_softplus.py, line 1: SyntaxError: expected ':'"),
    "latin-1": ("x = 'caf\u00e9'\n".encode("latin-1"), "save it as UTF-8"),
    "raises": (b"import numpy as np\nW = np.ones(3) @ np.ones(4)\n",
               "importing 03_softplus.py raised ValueError: matmul"),
    "sys.exit": (b"import sys\nsys.exit(3)\n",
                 "importing 03_softplus.py called sys.exit(3) (or exit/quit)"),
}


@pytest.mark.parametrize("kind", BAD)
def test_the_same_message_in_process_and_in_the_jail(tmp_path, kind):
    text, said = BAD[kind]
    path = tmp_path / "03_softplus.py"
    path.write_bytes(text)
    with pytest.raises(grader.LoadError) as info:
        grader.load_module(path)
    jailed = grader.grade_file(find_exercise("03"), path, timeout=30)
    assert jailed.status == "error"
    assert said in str(info.value)
    assert str(info.value) == jailed.message                  # one loader, one message
    assert info.value.frames == jailed.parts[0].traceback
    assert not [m for m in sys.modules if m.startswith("_numpyvae_student_")]


def test_a_loaded_module_is_private_and_an_interrupt_is_not_swallowed(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("value = 1\n")
    first = grader.load_module(path)
    path.write_text("value = 2\n")
    assert (first.value, grader.load_module(path).value) == (1, 2)
    assert not [m for m in sys.modules if m.startswith("_numpyvae_student_")]
    path.write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):          # in-process, Ctrl-C still stops the caller
        grader.load_module(path)
    # the jailed worker answers for everything the student's file raises
    module, err = _child.load_student(str(path), "_numpyvae_student_x", str(path))
    sys.modules.pop("_numpyvae_student_x", None)
    assert module is None and "raised KeyboardInterrupt" in err["message"]
