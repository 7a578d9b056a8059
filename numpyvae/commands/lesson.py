"""``numpyvae lesson``: list the course lessons, or run one.

    numpyvae lesson list                          the outline: number and title of each lesson
    numpyvae lesson run 06                        run lessons/06_*.py (figures to lesson_out/)
    numpyvae lesson run 8 --quick --out /tmp/l8   a small version, figures to /tmp/l8
    numpyvae lesson run 09 --seed 3               another seed

The lesson runs in this process (``lessonkit.run_lesson``) and prints its derivations and checks.
Exit status: 0 when every check passed, 1 when one failed (or the lesson stopped with an error),
2 for a usage error such as an unknown lesson number.  ``--lessons-dir`` (or ``$NUMPYVAE_LESSONS``)
points at another folder of ``NN_topic.py`` files.
"""
from __future__ import annotations

import sys
import traceback

HELP = "the course lessons: 'numpyvae lesson list', 'numpyvae lesson run 06 [--quick]'"


def _add_lessons_dir(parser):
    parser.add_argument("--lessons-dir", metavar="DIR",
                        help="folder of the NN_topic.py lessons (default: $NUMPYVAE_LESSONS, "
                             "else the lessons/ of the source checkout)")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="lesson_action", metavar="{list,run}")
    sub.required = True
    outline = sub.add_parser("list", help="print the course outline",
                             description="print the course outline: number and title of each "
                                         "lesson")
    _add_lessons_dir(outline)
    run = sub.add_parser("run", help="run one lesson and exit non-zero if a check fails",
                         description="run one lesson and exit non-zero if a check fails")
    _add_lessons_dir(run)
    run.add_argument("number", metavar="NN", help="the lesson's number, e.g. 06 or 6")
    run.add_argument("--quick", action="store_true",
                     help="smaller sizes: a few seconds instead of up to a minute")
    run.add_argument("--out", metavar="DIR",
                     help="folder for the figures (default: lesson_out/<lesson>/)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _lessons(lessons_dir):
    from .. import lessonkit
    return lessonkit.list_lessons(lessons_dir)


def _outline(lessons):
    return "\n".join(f"{number:02d}  {title or path.stem}" for number, title, path in lessons)


def _find(spec, lessons):
    """The lesson whose number is ``spec`` ("06", "6"); ValueError naming the known ones."""
    text = str(spec).strip()
    known = ", ".join(f"{n:02d}" for n, _, _ in lessons) or "none"
    if not text.isdigit():
        raise ValueError(f"NN must be a lesson number such as 06, got {spec!r} "
                         f"(lessons: {known})")
    matches = [path for number, _, path in lessons if number == int(text)]
    if not matches:
        raise ValueError(f"there is no lesson {int(text):02d}; the lessons are {known} "
                         f"(see 'numpyvae lesson list')")
    return matches[0]


def run(args):
    from .. import lessonkit

    lessons = _lessons(args.lessons_dir)
    if args.lesson_action == "list":
        print(_outline(lessons))
        return 0

    path = _find(args.number, lessons)
    argv = ["--seed", str(args.seed)]
    if args.quick:
        argv.append("--quick")
    if args.out:
        argv += ["--out", str(args.out)]
    try:
        results = lessonkit.run_lesson(path, argv)
    except Exception:                       # a lesson that crashes: show where, exit 1
        traceback.print_exc()
        print(f"numpyvae lesson: {path.name} stopped with an error", file=sys.stderr)
        return 1
    failed = [name for name, c in results.items() if not c.passed]
    if not results:
        print(f"numpyvae lesson: {path.name} recorded no checks", file=sys.stderr)
        return 1
    if failed:
        print(f"numpyvae lesson: {len(failed)} of {len(results)} checks failed in {path.name}",
              file=sys.stderr)
        return 1
    return 0
