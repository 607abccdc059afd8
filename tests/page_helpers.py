"""What the page tests share: dragging a diagram's scrolling region."""

from __future__ import annotations

import pytest


def assert_drag_pans(page, scroller) -> None:
    """A 200 px mouse drag to the left scrolls the region 200 px right (pan.js)."""
    box = scroller.bounding_box()
    before = scroller.evaluate("(s) => s.scrollLeft")
    page.mouse.move(box["x"] + 300, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 100, box["y"] + 40, steps=5)
    page.mouse.up()
    assert scroller.evaluate("(s) => s.scrollLeft") == pytest.approx(before + 200, abs=2)
