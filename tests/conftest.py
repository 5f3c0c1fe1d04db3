"""Session-wide hooks. They live here, at the top of the test paths, because with
pytest-xdist only this conftest is loaded by the process that runs the session (the
workers load the others as they collect)."""

import shutil


def _controller(config) -> bool:
    """The process that runs the session, not one of pytest-xdist's workers."""
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session):
    if _controller(session.config):
        from tests.e2e.test_faults import CELLS

        shutil.rmtree(CELLS, ignore_errors=True)


def pytest_sessionfinish(session):
    if _controller(session.config):
        from tests.e2e.test_faults import write_table

        write_table()
