"""The terminal's width, as :func:`shutil.get_terminal_size` finds it, without importing
shutil (and with it bz2, lzma and zlib: some 4 ms of a start-up that needs none of them)."""

from __future__ import annotations

import os
import sys


def columns(default: int = 80) -> int:
    """$COLUMNS if it is a positive number, else the width of the terminal standard output
    is (if any), else ``default``."""
    try:
        given = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        given = 0
    if given > 0:
        return given
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or default
    except (AttributeError, ValueError, OSError):
        return default
