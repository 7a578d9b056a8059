"""Helpers behind :mod:`numpyvae.datasets`.

formats.py   readers for the three file formats (IDX, ``.amat`` text, MATLAB ``.mat``)
download.py  where data files live on disk, and downloading a missing one safely

Users and lessons import from :mod:`numpyvae.datasets`, which re-exports what they need.
"""
