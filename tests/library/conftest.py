"""Fixtures the library's tests share."""
import pytest

from numpyvae import _threads


@pytest.fixture
def parts():
    """Set the optimizer's and log-likelihood's split (``_threads.run_split``) into ``n`` parts
    for one test, and restore it after: ``parts(2)``."""
    before = _threads._workers

    def use(n):
        _threads._workers = n
    yield use
    _threads._workers = before
