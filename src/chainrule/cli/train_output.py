"""What ``chainrule train`` shows while and after it trains, and how it hears Ctrl-C.

The training loop never prints (principle 1); these callbacks and functions own the terminal:
a progress bar (or a line per tenth of the run when stderr is not a terminal), the summary
table, and the signal handlers that turn Ctrl-C or SIGTERM into a request to stop after the
current batch — remembering where, so the output can say how far a partial model got.
"""

from __future__ import annotations

import math
import signal
import sys
from typing import Any

from chainrule.train.loop import Callback


class Stopper:
    """Turns SIGINT/SIGTERM into a request that a training callback honours after the batch."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "Stopper":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class StopOnSignal(Callback):
    """A callback: when a signal arrived, ask ``fit`` to stop after this batch, and note which
    batch that was (``at``: epoch and step, both from 1)."""

    def __init__(self, stopper: Stopper) -> None:
        self.stopper = stopper
        self.at: tuple[int, int] | None = None

    def on_batch_end(self, epoch, step, loss, state) -> None:
        if self.stopper.requested and not state.stop:
            state.stop = True
            self.at = (epoch, step)


def stopped_where(at: tuple[int, int] | None, examples: int, batch_size: int) -> str:
    """``at epoch 3, step 5 of 12`` inside an epoch, ``after epoch 3`` at its end."""
    if at is None:
        return "before its first batch"
    epoch, step = at
    steps = math.ceil(examples / batch_size)
    return f"after epoch {epoch}" if step >= steps else f"at epoch {epoch}, step {step} of {steps}"


class Progress(Callback):
    """A rich progress bar on a terminal; elsewhere a plain line every tenth of the run."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        self.epochs, self.quiet, self.bar, self.task = epochs, quiet, None, None
        self.every = max(1, epochs // 10)
        if not quiet and sys.stderr.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                                TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                transient=False)
            self.bar.start()
            self.task = self.bar.add_task("train", total=epochs, status="")

    def on_epoch_end(self, epoch, logs, state) -> None:
        status = _status(logs)
        if self.bar is not None:
            self.bar.update(self.task, completed=epoch, status=status)
        elif not self.quiet and (epoch % self.every == 0 or epoch == self.epochs):
            print(f"epoch {epoch}/{self.epochs}  {status}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _status(logs: dict) -> str:
    parts = [f"loss {logs['loss']:.4f}"]
    if logs.get("accuracy") is not None:
        parts.append(f"acc {logs['accuracy']:.3f}")
    if logs.get("val_loss") is not None:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    if logs.get("val_accuracy") is not None:
        parts.append(f"val_acc {logs['val_accuracy']:.3f}")
    if logs.get("samples_per_second"):
        parts.append(f"{logs['samples_per_second']:,.0f} samples/s")
    return "  ".join(parts)


def loss_text(value: float) -> str:
    """Six decimals up to a million; beyond, six significant digits (1.000000e+10), so a
    diverging loss stays a readable, bounded cell."""
    return f"{value:.6f}" if math.isfinite(value) and abs(value) < 1e6 else f"{value:.6e}"


def summary_table(rows: list[tuple[str, int, float, float | None]]) -> list[str]:
    """The end-of-run table, one row per split (name, examples, loss, accuracy or None):
    every column as wide as its widest cell, two spaces between columns, so no value runs
    into the next however large."""
    accuracy = any(acc is not None for *_, acc in rows)
    header = ["split", "examples", "loss"] + ["accuracy"] * accuracy
    cells = [header] + [[name, str(count), loss_text(loss)]
                        + ([f"{acc:.2%}" if acc is not None else ""] if accuracy else [])
                        for name, count, loss, acc in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
            for line in cells]
