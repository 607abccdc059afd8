"""Small pieces of English every output shares, so "1 exercises" cannot happen twice."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, in the plural unless it is 1: "1 exercise", "3 questions"."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"
