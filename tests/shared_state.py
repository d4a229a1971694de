"""State shared by the test session: figures a test measures and the run prints at its end (pytest_terminal_summary
in conftest.py: the twins' sensitivity, for instance), and facts recorded before any library was imported."""

import os

FIGURES: list[str] = []
OMP_NUM_THREADS_AT_START = os.environ.get("OMP_NUM_THREADS")   # conftest imports this module first


def report_figure(line: str) -> None:
    FIGURES.append(line)
