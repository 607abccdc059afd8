"""docs/pytorch.md runs as written: its ``sh`` blocks (chainrule commands, the example
script) and ``python`` blocks, in order, in one namespace, in an empty folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "pytorch.md"


def blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(sh|python)\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_page_runs(tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    found = blocks()
    assert [kind for kind, _ in found].count("python") >= 4
    net = next(code for kind, code in found if "class Net" in code)
    source = net[:net.index("torch.manual_seed")]
    (tmp_path / "docs_net.py").write_text(source + "\n\ndef build():\n    return Net()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    outputs = []
    for kind, code in found:
        if kind == "python":
            exec(compile(code, str(PAGE), "exec"), namespace)
            continue
        for line in code.strip().splitlines():
            words = shlex.split(line)
            command = [sys.executable, "-m", "chainrule", *words[1:]] if words[0] == \
                "chainrule" else [sys.executable, *words[1:]]
            result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                    env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
            assert result.returncode == 0, f"{line}\n{result.stderr}"
            outputs.append(result.stdout)
    assert "∂E/∂w¹₁₁" in outputs[0] and "= -0.0005555" in outputs[0]
    assert any("Forward pass" in out and "Conv2d(1, 4, kernel_size=3)" in out
               for out in outputs)
    assert "loss on all 150: PyTorch" in outputs[-1]
    first = re.search(r"PyTorch ([\d.]+), chainrule ([\d.]+)", outputs[-1])
    assert first and first.group(1) == first.group(2)
