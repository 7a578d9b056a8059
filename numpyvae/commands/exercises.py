"""``numpyvae exercises``: a student's workspace for the gradient-check exercises.

    numpyvae exercises init ws        the twelve stubs NN_name.py and a short README.md in ws/
    numpyvae exercises list           the exercises (the same as numpyvae check list)

``init`` never overwrites a file that is already there: a file the student has edited is kept
and named, a file identical to the shipped one is left as it is, and only the missing ones are
copied, so running it again after an update of numpyvae brings in new exercises safely.
"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

HELP = "a student workspace: 'numpyvae exercises init DIR' copies the stubs and a README"
WORKSPACE_README = "WORKSPACE.md"        # in lessons/exercises/, copied as DIR/README.md


def add_arguments(parser):
    sub = parser.add_subparsers(dest="exercises_action", metavar="{init,list}")
    sub.required = True
    init = sub.add_parser("init", help="copy the exercise stubs and a README into DIR",
                          description="copy the twelve exercise stubs and a short README into "
                                      "DIR (created); files already there are never overwritten")
    init.add_argument("dir", metavar="DIR", help="the workspace folder, e.g. ws")
    init.add_argument("--from", dest="source", metavar="SRC",
                      help="folder of the stubs (default: the ones installed with numpyvae)")
    sub.add_parser("list", help="list the exercises")


def copy_files(sources, directory, names=None):
    """Copy each of ``sources`` into ``directory`` (created) under its own name (or the
    matching one of ``names``), never overwriting: prints one line per file and returns
    ``{"copied": [...], "unchanged": [...], "kept": [...]}`` (paths in ``directory``)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"DIR {directory}: exists and is not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    done = {"copied": [], "unchanged": [], "kept": []}
    for i, src in enumerate(sources):
        src = Path(src)
        target = directory / (names[i] if names else src.name)
        if target.exists():
            if target.is_file() and filecmp.cmp(src, target, shallow=False):
                done["unchanged"].append(target)
            else:
                done["kept"].append(target)
                print(f"skipped {target}: it is there already and differs from the shipped "
                      f"{src.name} (your edits are kept)")
            continue
        shutil.copyfile(src, target)
        done["copied"].append(target)
    n = len(done["copied"])
    print(f"copied {n} file{'s' if n != 1 else ''} into {directory}"
          + (f"; {len(done['unchanged'])} already there unchanged" if done["unchanged"] else "")
          + (f"; skipped {len(done['kept'])} you have edited: "
             + ", ".join(p.name for p in done["kept"]) if done["kept"] else ""))
    return done


def init_workspace(directory, source=None):
    """The stubs of every exercise and the workspace README into ``directory`` (see
    :func:`copy_files`)."""
    from ..exercises import catalogue, grader
    src = grader.find_exercises_dir(source)
    stubs = [src / ex.stub for ex in catalogue.EXERCISES]
    missing = [p.name for p in stubs if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no stubs {', '.join(missing)} in {src}")
    sources, names = stubs, [p.name for p in stubs]
    readme = src / WORKSPACE_README
    if readme.is_file():
        sources, names = [*stubs, readme], [*names, "README.md"]
    return copy_files(sources, directory, names)


def run(args):
    if args.exercises_action == "list":
        from .check import say
        from ..exercises import catalogue
        for ex in catalogue.EXERCISES:
            say(f"{ex.number:02d}  {ex.stub:<20} {ex.title}")
        return 0
    init_workspace(args.dir, args.source)
    print(f"next: edit {Path(args.dir) / '03_softplus.py'} (or any NN_*.py), then\n"
          f"  numpyvae check 03 --dir {args.dir}       one exercise\n"
          f"  numpyvae check all --dir {args.dir}      all of them "
          f"(see {Path(args.dir) / 'README.md'})")
    return 0
