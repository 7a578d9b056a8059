"""Figures (matplotlib).  Import a submodule: ``from numpyvae.plots import estimators``.

This file imports nothing heavy.  On a machine without a display it selects the non-interactive
Agg backend, so that saving a figure never tries to open a window; with a display, or when the
user has chosen a backend (``MPLBACKEND``), it leaves matplotlib alone.
"""
import os
import sys


def _headless():
    if sys.platform.startswith(("win", "darwin")):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


if _headless() and not os.environ.get("MPLBACKEND"):
    if "matplotlib" in sys.modules:          # already imported: switch it (cheap, it is loaded)
        sys.modules["matplotlib"].use("Agg")
    else:                                    # not imported yet: matplotlib reads this on import
        os.environ["MPLBACKEND"] = "Agg"
