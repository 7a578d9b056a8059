"""Gradient-check exercises: the catalogue, the grader, the reference solutions and the
known-wrong variants the grader uses to name a student's mistake.

The stubs students fill in live in ``lessons/exercises/NN_name.py``; the command is
``numpyvae check EXERCISE [--file PATH]`` (see ``lessons/exercises/README.md``).

    from numpyvae.exercises import find_exercise, grade_file, format_result
    result = grade_file(find_exercise("softplus"), "my_softplus.py")
    print(format_result(result))

Modules: :mod:`.catalogue` (what each exercise is and how it is checked), :mod:`.grader`,
:mod:`.sandbox` (runs a student's file in a jail; :mod:`._child` is the jailed process),
:mod:`.grader` (compares), :mod:`.diagnosis` (names the mistake), :mod:`.report` (prints and
writes the results), :mod:`.classroom` (a whole class), :mod:`.solutions` (reference solutions,
shipped with the package), :mod:`.mistakes`.
"""
from .catalogue import EXERCISES, THRESHOLD, Exercise, find_exercise
from .grader import Result, default_file, find_exercises_dir, grade, grade_file, solution_source
from .report import format_result, gradescope, result_to_dict

__all__ = ["EXERCISES", "THRESHOLD", "Exercise", "find_exercise", "grade", "grade_file",
           "format_result", "result_to_dict", "solution_source", "find_exercises_dir",
           "default_file", "Result", "gradescope"]
