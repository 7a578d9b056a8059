"""``numpyvae lesson``: list the course lessons, run one, copy one, or make it a notebook.

    numpyvae lesson list                          the outline: number and title of each lesson
    numpyvae lesson run 06                        run lessons/06_*.py (figures to lesson_out/)
    numpyvae lesson run 8 --quick --out /tmp/l8   a small version, figures to /tmp/l8
    numpyvae lesson run 09 --seed 3 --threads 1   another seed, one BLAS thread
    numpyvae lesson copy 06 mine/                 a copy to change (never overwrites yours)
    numpyvae lesson notebook 06 [DIR]             06_gradient_estimators.ipynb, to open with
                                                  jupyter lab (pip install "numpyvae[notebooks]"
                                                  installs jupytext, JupyterLab and nbconvert)

The lessons are installed with the package, so these work from any folder.

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
    sub = parser.add_subparsers(dest="lesson_action", metavar="{list,run,copy,notebook}")
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
    run.add_argument("--threads", metavar="N", type=int, default=None,
                     help="BLAS threads (default 1, the faster choice on a shared machine and for "
                          "--quick)")
    copy = sub.add_parser("copy", help="copy a lesson into DIR to change it",
                          description="copy lessons/NN_topic.py into DIR (a file already there "
                                      "is never overwritten); run your copy with 'numpyvae "
                                      "lesson run NN --lessons-dir DIR' or 'python DIR/NN_*.py'")
    _add_lessons_dir(copy)
    copy.add_argument("number", metavar="NN", help="the lesson's number, e.g. 06")
    copy.add_argument("dir", metavar="DIR", help="the folder to copy it into (created)")
    nb = sub.add_parser("notebook", help="write the lesson as a Jupyter notebook (jupytext)",
                        description="write NN_topic.ipynb from the lesson's # %% cells with "
                                    "jupytext (pip install \"numpyvae[notebooks]\"); an existing "
                                    "notebook is kept unless --force.  In the notebook figures "
                                    "show inline; set NUMPYVAE_LESSON_ARGS=--quick for quick mode")
    _add_lessons_dir(nb)
    nb.add_argument("number", metavar="NN", help="the lesson's number, e.g. 06")
    nb.add_argument("dir", metavar="DIR", nargs="?", default=".",
                    help="the folder to write it into (default: the current folder)")
    nb.add_argument("--force", action="store_true", help="overwrite an existing notebook")


def _lessons(lessons_dir):
    from .. import lessonkit
    return lessonkit.list_lessons(lessons_dir)


def _outline(lessons):
    return "\n".join(f"{number:02d}  {title or path.stem}" for number, title, path in lessons)


def _find(spec, lessons):
    """The lesson whose number is ``spec`` ("06", "6"); ValueError naming the known ones."""
    text = str(spec).strip()
    known = ", ".join(f"{n:02d}" for n, _, _ in lessons) or "none"
    by_name = [path for _, _, path in lessons               # a name: "elbo", "04_elbo", "reparam"
               if path.stem.lower() == text.lower()
               or path.stem.split("_", 1)[-1].lower().startswith(text.lower().replace("-", "_"))]
    if not text.isdigit() and len(by_name) == 1:
        return by_name[0]
    if not text.isdigit():
        raise ValueError(f"NN must be a lesson number such as 06 or a name such as elbo, got {spec!r} "
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
    if args.lesson_action == "copy":
        from .exercises import copy_files
        copy_files([path], args.dir)
        print(f"run it with: numpyvae lesson run {args.number} --lessons-dir {args.dir}")
        return 0
    if args.lesson_action == "notebook":
        target = write_notebook(path, args.dir, force=args.force)
        if target is not None:
            print(notebook_instructions(target))
        return 0
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


def notebook_instructions(target):
    """What to run next, with the commands pip install "numpyvae[notebooks]" provides."""
    return (f"wrote {target}\n"
            f"open it with:       jupyter lab {target}\n"
            f"quick mode:         NUMPYVAE_LESSON_ARGS=--quick jupyter lab {target}\n"
            f"run it headless:    NUMPYVAE_LESSON_ARGS=--quick jupyter nbconvert --to notebook "
            f"--execute --inplace {target}\n"
            f"(jupyter lab and jupyter nbconvert come with: pip install \"numpyvae[notebooks]\")")


def write_notebook(path, directory=".", force=False):
    """Write the lesson ``path`` as ``directory/NN_topic.ipynb`` with jupytext; returns the path,
    or None (saying so) when a notebook is there already and ``force`` is false."""
    try:
        import jupytext
    except ImportError:
        raise FileNotFoundError(
            "the notebook needs jupytext: pip install \"numpyvae[notebooks]\" "
            "(or pip install jupytext)") from None
    from pathlib import Path
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / (Path(path).stem + ".ipynb")
    if target.exists() and not force:
        print(f"kept {target}: it exists (perhaps with your changes); --force overwrites it")
        return None
    nb = jupytext.read(str(path), fmt="py:percent")
    _docstring_cell_to_doc(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    jupytext.write(nb, str(target), fmt="ipynb")
    return target


def _docstring_cell_to_doc(nb):
    """The lesson's docstring, a cell of its own in the notebook, becomes an assignment to
    ``__doc__``: the cell then shows nothing (a bare string would be echoed) and
    ``parse_args(__doc__)`` sees it."""
    import ast
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return
        if (tree.body and isinstance(tree.body[0], ast.Expr)
                and isinstance(tree.body[0].value, ast.Constant)
                and isinstance(tree.body[0].value.value, str)):
            cell.source = "__doc__ = " + src.lstrip()
        return
