"""Training an MLP on a data set: mini-batches, epochs, validation, early stopping, checkpoints.

:func:`fit` is the loop a Keras or PyTorch Lightning user expects, and it never prints: it
tells callbacks what happens and returns a :class:`History`. Every run is reproducible — the
mini-batches are shuffled by one ``numpy.random.Generator`` seeded from ``seed`` — and a run
stopped (``state.stop``, set by a callback: how the CLI handles Ctrl-C) and resumed from its
checkpoint ends with the same weights, bit for bit, as the run left alone; even when it stopped
in the middle of an epoch, since the checkpoint records how far that epoch had got.

Numbers reported per epoch: ``loss`` and ``accuracy`` are means over the epoch's training
examples of the values computed batch by batch while the weights changed (each batch's mean
loss weighted by its size, as Keras reports them); ``val_loss`` and ``val_accuracy`` are
computed on the whole validation set with the weights at the end of the epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from chainrule.train.checkpoint import (CheckpointError, check_compatible, restore_generators,
                                        save_checkpoint)
from chainrule.errors import ChainruleError, SpecError
from chainrule.finite import first_non_finite
from chainrule.train.arrays import accuracy_kind, arrays, correct, evaluate, fingerprint
from chainrule.nn import MLP, get_loss, output_loss

STOP_REASONS = ("completed", "early_stopping", "interrupted")


class ResumeMismatch(CheckpointError):
    """``resume`` was saved by a run with another seed, batch size or data: continuing would
    not give the bits of the run left alone. ``field`` is ``seed``, ``batch_size`` or ``data``."""

    WORDS = {"seed": "seed", "batch_size": "batch size"}

    def __init__(self, name: str, field: str, saved: Any, ours: Any) -> None:
        if field == "data":  # a digest says nothing to a reader: only that the data differ
            message = (f"{name}: the checkpoint was trained on other data (its training "
                       "examples or targets differ from this run's)")
        else:
            words = self.WORDS[field]
            message = (f"{name}: the checkpoint was trained with {words} {saved}, this run "
                       f"has {words} {ours}")
        super().__init__(message)
        self.name, self.field, self.saved, self.ours = name, field, saved, ours


class TrainingDiverged(ChainruleError, FloatingPointError):
    """A loss, gradient or weight became inf or NaN; the message says where it happened first."""

    def __init__(self, message: str, *, epoch: int, step: int, global_step: int,
                 quantity: str, checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.global_step = epoch, step, global_step
        self.quantity, self.checkpoint = quantity, checkpoint


@dataclass
class History:
    """One entry per epoch in each list (``None`` where a value does not apply)."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    lr: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False
    stop_reason: str = ""  # "completed", "early_stopping" or "interrupted" once fit returns

    SERIES: ClassVar[tuple[str, ...]] = (
        "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    @property
    def best_epoch(self) -> int | None:
        """The epoch of the lowest validation loss (training loss without validation);
        the first one on a tie, as early stopping counts it."""
        values = self.val_loss if any(v is not None for v in self.val_loss) else self.loss
        scored = [(v, e) for v, e in zip(values, self.epoch) if v is not None]
        return min(scored, key=lambda pair: pair[0])[1] if scored else None

    def append(self, logs: dict[str, Any]) -> None:
        for name in self.SERIES:
            getattr(self, name).append(logs[name])

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: list(getattr(self, name)) for name in self.SERIES}
        data.update(stopped_early=self.stopped_early, stop_reason=self.stop_reason,
                    best_epoch=self.best_epoch)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        missing = [name for name in cls.SERIES if name not in data]
        if missing:
            raise ValueError(f"history: missing {', '.join(missing)}")
        lengths = {len(data[name]) for name in cls.SERIES}
        if len(lengths) != 1:
            raise ValueError(f"history: the per-epoch lists have different lengths {lengths}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: (list(v) if k in cls.SERIES else v)
                      for k, v in data.items() if k in known})


@dataclass
class TrainState:
    """What callbacks see and may change: set ``stop = True`` to end the run after this batch."""

    model: MLP
    optimizer: Any
    epoch: int = 0  # the current epoch, from 1; between runs, the epochs completed
    global_step: int = 0  # optimizer steps taken so far
    stop: bool = False
    history: History = field(default_factory=History)


class Callback:
    """Hooks called by :func:`fit`; each does nothing unless overridden. Epochs and steps
    count from 1; a run resumed within an epoch gets ``on_epoch_begin`` for it again."""

    def on_train_begin(self, state: TrainState) -> None: ...

    def on_epoch_begin(self, epoch: int, state: TrainState) -> None: ...

    def on_batch_end(self, epoch: int, step: int, loss: float, state: TrainState) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], state: TrainState) -> None: ...

    def on_train_end(self, history: History, state: TrainState) -> None: ...


def fit(model: MLP, x: Any, y: Any, *, loss: str, optimizer: Any, epochs: int,
        batch_size: int = 32, seed: int = 0, validation: tuple[Any, Any] | None = None,
        scheduler: Any = None, early_stopping: int | None = None,
        callbacks: Sequence[Any] = (), checkpoint: str | Path | None = None,
        resume: dict | None = None, extra: dict | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs (in total, counting those of a resumed run).

    ``y`` holds class indices (ints) for ``cross_entropy``, else targets of the output's
    shape (a 1-D ``y`` for a one-unit output is taken as a column). ``early_stopping`` is the
    patience in epochs without a lower validation loss; the best weights are put back when the
    run ends by it or by reaching ``epochs`` (not when interrupted, so that it can resume).
    ``checkpoint`` is written at each epoch end and on a stop, with ``extra`` inside it.
    ``resume`` is a :func:`chainrule.train.checkpoint.load_checkpoint` result: the model, optimizer,
    scheduler, generator, history and the position within an epoch continue from it.

    Raises :class:`TrainingDiverged` at the first non-finite loss or gradient (checked in that
    order, parameter by parameter) or weight; the model keeps the last finite weights and the
    checkpoint file from the last epoch end is left as it was.
    """
    get_loss(loss)
    if epochs < 1 or batch_size < 1:
        raise SpecError(f"fit: epochs and batch_size must be positive, got {epochs}, "
                        f"{batch_size}")
    x, y = arrays(model, x, y, loss, "")
    if validation is not None:
        validation = arrays(model, validation[0], validation[1], loss, "validation ")
    if early_stopping is not None and (validation is None or early_stopping < 1):
        raise SpecError("fit: early_stopping needs validation data and a patience of at "
                        f"least 1 epoch, got {early_stopping}")
    run = _Run(model, optimizer, scheduler, loss, list(callbacks), checkpoint, dict(extra or {}),
               accuracy_kind(y, model.output_size), np.random.default_rng(seed))
    # What a bit-identical resume needs besides the state: the same seed, batches and data.
    run.identity = {"seed": seed, "batch_size": batch_size, "data": fingerprint(x, y)}
    if resume is not None:
        run.restore(resume)
    model.train()  # batch statistics and dropout in the steps; evaluate() switches to eval
    for callback in run.callbacks:
        callback.on_train_begin(run.state)
    reason = "completed"
    for epoch in range(run.state.epoch + 1, epochs + 1):
        reason = run.epoch(epoch, x, y, batch_size, validation, early_stopping,
                           last=epoch == epochs)
        if reason:
            break
    history = run.state.history
    history.stop_reason = reason or "completed"
    history.stopped_early = reason == "early_stopping"
    for callback in run.callbacks:
        callback.on_train_end(history, run.state)
    return history


class _Run:
    """The state of one call to :func:`fit`, so each phase of an epoch is a short method."""

    def __init__(self, model: MLP, optimizer: Any, scheduler: Any, loss: str,
                 callbacks: list[Any], checkpoint: str | Path | None, extra: dict,
                 kind: str | None, rng: np.random.Generator) -> None:
        self.model, self.optimizer, self.scheduler, self.loss = model, optimizer, scheduler, loss
        self.callbacks, self.checkpoint, self.extra, self.kind = callbacks, checkpoint, extra, kind
        self.rng = rng
        self.state = TrainState(model, optimizer)
        self.partial: dict[str, Any] = {}  # how far a resumed epoch had got
        self.best: dict[str, Any] = {"loss": None, "epoch": None, "wait": 0, "weights": None}
        self.saved_epoch: int | None = None  # the epoch of the checkpoint file on disk
        self.identity: dict[str, Any] = {}  # seed, batch size, data fingerprint (see fit)

    def restore(self, resume: dict[str, Any]) -> None:
        check_compatible(resume, self.model)
        self.model.load_state_dict({**resume["params"], **resume.get("buffers", {})})
        try:
            restore_generators(self.model, resume.get("generators") or {})
        except (ValueError, TypeError, KeyError) as error:
            raise CheckpointError(f"{Path(resume.get('path', 'checkpoint')).name}: a dropout "
                                  f"generator's state cannot be restored ({error})") from None
        name = Path(resume.get("path", "checkpoint")).name
        saved = resume.get("optimizer")
        try:
            if saved is not None:
                ours = self.optimizer.state_dict().get("name")
                if saved.get("name") != ours:
                    raise ValueError(f"saved with optimizer {saved.get('name')!r}, "
                                     f"resuming with {ours!r}")
                self.optimizer.load_state_dict(saved)
            if self.scheduler is not None and resume.get("scheduler") is not None:
                self.scheduler.load_state_dict(resume["scheduler"])
            if resume.get("history") is not None:
                self.state.history = History.from_dict(resume["history"])
        except (ValueError, TypeError, KeyError) as error:
            raise CheckpointError(f"{name}: {error}") from None
        saved_loop = resume.get("loop") or {}
        for field, ours in self.identity.items():
            saved = saved_loop.get(field)  # absent in checkpoints of older versions
            if saved is not None and saved != ours:
                raise ResumeMismatch(name, field, saved, ours)
        if resume.get("rng") is not None:
            bit_generator = getattr(np.random, resume["rng"]["bit_generator"])()
            bit_generator.state = resume["rng"]
            self.rng = np.random.Generator(bit_generator)
        self.state.epoch, self.state.global_step = resume["epoch"], resume["global_step"]
        loop = resume.get("loop") or {}
        self.partial = loop.get("partial") or {}
        self.best = loop.get("best") or self.best
        self.saved_epoch = resume["epoch"]

    def epoch(self, epoch: int, x: np.ndarray, y: np.ndarray, batch_size: int,
              validation: tuple[np.ndarray, np.ndarray] | None, patience: int | None,
              last: bool) -> str | None:
        """Run one epoch; return why training stops after it, or None to go on."""
        state, started = self.state, time.perf_counter()
        state.epoch = epoch
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, state)
        rng_at_start = self.rng.bit_generator.state  # a copy: resuming redraws this order
        order = self.rng.permutation(len(x))
        starts = range(0, len(x), batch_size)
        partial, self.partial = self.partial, {}
        done = partial.get("batch", 0)
        sums = {k: partial.get(k, 0) for k in ("loss_sum", "correct", "seen")}
        for step, start in enumerate(starts, 1):
            if step <= done:
                continue
            batch = order[start:start + batch_size]
            value, correct = self.step(x[batch], y[batch], epoch, step, len(starts))
            sums["loss_sum"] += value * len(batch)
            sums["correct"] += correct
            sums["seen"] += len(batch)
            state.global_step += 1
            for callback in self.callbacks:
                callback.on_batch_end(epoch, step, value, state)
            if state.stop and step < len(starts):  # stopped inside the epoch: note how far
                self.save(epoch - 1, rng_at_start, {"batch": step, **sums})
                return "interrupted"
        logs = self.logs(epoch, sums, validation, len(starts), started,
                         sums["seen"] - partial.get("seen", 0))
        state.history.append(logs)
        if self.scheduler is not None:
            self.scheduler.step()
        reason = self.early_stopping(epoch, logs["val_loss"], patience)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs, state)
        if state.stop and reason is None:
            reason = "interrupted"
        if self.best["weights"] is not None and (reason == "early_stopping"
                                                 or (last and reason is None)):
            self.model.load_state_dict(self.best["weights"])
        self.save(epoch, self.rng, {})
        return reason

    def step(self, xb: np.ndarray, yb: np.ndarray, epoch: int, step: int,
             steps: int) -> tuple[float, int]:
        """One optimizer step on a batch: the batch's loss and its correct predictions."""
        self.model.zero_grad()
        # Overflow is expected when training diverges and is reported below as a
        # TrainingDiverged naming the first non-finite quantity, not as NumPy warnings.
        with np.errstate(all="ignore"):
            z, a, activation = self.model.head(xb, fused=True)
            value = output_loss(self.loss, z, a, activation, yb)
            value.backward()
        where = (epoch, step, steps)
        self.check("loss", value.data, where)
        for name, p in self.model.named_parameters():
            if p.grad is not None:
                self.check(f"gradient of {name}", p.grad, where)
        with np.errstate(all="ignore"):
            self.optimizer.step()
        for name, p in self.model.named_parameters():
            self.check(f"{name} after the update", p.data, where)
        return float(value.data), correct(self.kind, a.data, yb)

    def check(self, quantity: str, values: np.ndarray, where: tuple[int, int, int]) -> None:
        found = first_non_finite(values)
        if found is None:
            return
        epoch, step, steps = where
        bad = found[1]
        message = (f"training diverged at epoch {epoch}, step {step} of {steps} (global step "
                   f"{self.state.global_step + 1}): the {quantity} is {bad}; "
                   "try a smaller learning rate")
        kept = None
        if self.checkpoint is not None:
            if self.saved_epoch is not None and Path(self.checkpoint).exists():
                kept = str(self.checkpoint)
                message += f"; the last good checkpoint {kept} (epoch {self.saved_epoch}) was kept"
            else:
                message += f"; no checkpoint was written to {self.checkpoint}"
        raise TrainingDiverged(message, epoch=epoch, step=step,
                               global_step=self.state.global_step + 1, quantity=quantity,
                               checkpoint=kept)

    def logs(self, epoch: int, sums: dict[str, Any],
             validation: tuple[np.ndarray, np.ndarray] | None, steps: int,
             started: float, trained_now: int) -> dict[str, Any]:
        seen = sums["seen"]
        val_loss = val_accuracy = None
        if validation is not None:
            val_loss, val_accuracy = evaluate(self.model, self.loss, *validation, self.kind)
            self.check("validation loss", np.array(val_loss), (epoch, steps, steps))
        seconds = time.perf_counter() - started
        return {
            "epoch": epoch, "loss": sums["loss_sum"] / seen,
            "accuracy": None if self.kind is None else sums["correct"] / seen,
            "val_loss": val_loss, "val_accuracy": val_accuracy,
            "lr": float(self.optimizer.lr) if hasattr(self.optimizer, "lr") else None,
            "seconds": seconds,
            "samples_per_second": trained_now / seconds if seconds > 0 else None,
        }

    def early_stopping(self, epoch: int, val_loss: float | None,
                       patience: int | None) -> str | None:
        if patience is None:
            return None
        best = self.best
        if best["loss"] is None or val_loss < best["loss"]:
            best.update(loss=val_loss, epoch=epoch, wait=0, weights=self.model.state_dict())
            return None
        best["wait"] += 1
        return "early_stopping" if best["wait"] >= patience else None

    def save(self, completed: int, rng: Any, partial: dict[str, Any]) -> None:
        if self.checkpoint is None:
            return
        save_checkpoint(self.checkpoint, model=self.model, optimizer=self.optimizer,
                        scheduler=self.scheduler, epoch=completed,
                        global_step=self.state.global_step, rng=rng,
                        history=self.state.history, extra=self.extra,
                        loop={"partial": partial or None, "best": self.best, **self.identity})
        self.saved_epoch = completed
