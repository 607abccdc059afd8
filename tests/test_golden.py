"""Golden files: each renderer's output on the seed network and a wider 3-class network.

Each golden file was read by eye once. Regenerate only on purpose, after a deliberate change
to a renderer: ``pytest tests/test_golden.py --update-golden``, then review ``git diff``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import chainrule as cr

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
NETWORKS = {"seed": "seed", "softmax": str(ROOT / "examples" / "softmax.yaml")}
FORMATS = {
    "txt": lambda trace: cr.render(trace, "text", precision=6),
    "md": lambda trace: cr.render(trace, "markdown", precision=6),
    "tex": lambda trace: cr.render(trace, "latex", precision=6),
    "json": lambda trace: trace.to_json(),
    "html": lambda trace: _without_assets(cr.render(trace, "html", precision=6)),
}


def _without_assets(page: str) -> str:
    """The page with each inlined asset (render/assets/*) replaced by its name: the golden
    file pins what Python writes around the scripts, not a second copy of the scripts."""
    from importlib.resources import files

    for asset in sorted(files("chainrule.explain.render").joinpath("assets").iterdir(),
                        key=lambda a: a.name):
        if not asset.is_file():  # assets/vendor/: the graph page's libraries
            continue
        text = asset.read_text(encoding="utf-8")
        for variant in (text, text.strip()):
            if variant and variant in page:
                page = page.replace(variant, f"/* asset: {asset.name} */")
                break
    return page


@pytest.mark.parametrize("suffix", sorted(FORMATS))
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_golden(network, suffix, request):
    rendered = FORMATS[suffix](cr.explain(NETWORKS[network]))
    assert_matches_golden(rendered, GOLDEN / f"{network}.{suffix}", request)


def assert_matches_golden(rendered: str, path: Path, request) -> None:
    """``rendered`` against the golden file ``path`` (rewritten with --update-golden).

    Numbers are compared as numbers, text exactly: the last bit of a BLAS sum differs from
    one CPU to another (z¹₂ is 0.49000000000000005 with OpenBLAS's Haswell kernels).
    """
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        _assert_same_numbers(json.loads(rendered), json.loads(expected))
    else:
        assert_same_text_and_numbers(rendered, expected, path.name)


# A number as renderers write one: digits with a point or an exponent (integers such as the 1
# of W1 are text). Whatever surrounds the numbers must match exactly.
NUMBER = re.compile(r"(-?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+)")


def assert_same_text_and_numbers(actual: str, expected: str, name: str) -> None:
    """The same text around the numbers, and the same numbers to 1e-12 relative."""
    got, want = NUMBER.split(actual), NUMBER.split(expected)
    for i, (a, e) in enumerate(zip(got, want)):
        line = "".join(want[:i]).count("\n") + 1
        if i % 2 == 0:
            assert a == e, f"{name}:{line}: text differs: {a[:80]!r} != {e[:80]!r}"
        else:
            assert float(a) == pytest.approx(float(e), rel=1e-12, abs=1e-15), \
                f"{name}:{line}: {a} != {e}"
    assert len(got) == len(want), f"{name}: {len(got) // 2} numbers, expected {len(want) // 2}"


def _assert_same_numbers(actual, expected, where="$"):
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            _assert_same_numbers(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_same_numbers(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-15), where
    elif isinstance(expected, str):  # a derivation's line: its numbers as numbers too
        assert isinstance(actual, str), where
        assert_same_text_and_numbers(actual, expected, where)
    else:
        assert actual == expected, where


# Networks of typed layers: the layer lens's every format (chainrule.explain.render.layers).
LAYERED = {"cnn": ROOT / "examples" / "cnn.yaml",
           "cnn-batchnorm": ROOT / "examples" / "cnn-batchnorm.yaml",
           "rnn": ROOT / "examples" / "rnn.yaml", "lstm": ROOT / "examples" / "lstm.yaml",
           "attention": ROOT / "examples" / "attention.yaml"}
LAYERED_FORMATS = {"txt": "text", "md": "markdown", "tex": "latex", "json": "json",
                   "html": "html"}


@pytest.mark.parametrize("suffix", sorted(LAYERED_FORMATS))
@pytest.mark.parametrize("network", sorted(LAYERED))
def test_golden_layers(network, suffix, request):
    from chainrule.explain.render.layers import render_layers

    trace = cr.explain(str(LAYERED[network]))
    fmt = LAYERED_FORMATS[suffix]
    rendered = render_layers(trace, fmt, **({} if fmt == "json" else {"precision": 6}))
    assert_matches_golden(rendered, GOLDEN / "layers" / f"{network}.{suffix}", request)
