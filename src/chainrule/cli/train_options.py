"""The options of a ``chainrule train`` run: defaults, what a checkpoint stores, and a resume.

A checkpoint written by ``chainrule train`` keeps the run's options (``extra.options``, plain
JSON: every option of the train parser but ``--resume``), so ``--resume run.npz`` alone
continues the run. Options typed beside ``--resume`` win where that is safe — those that do
not change what is computed up to the stop: ``--epochs`` (continue further), ``--early-stopping``,
``--plot``, ``--save``, ``--checkpoint``, ``--quiet``. Any other option typed with a value
other than the stored one (data, network, optimizer, seed, batch size) is refused in one line
naming both values: the run would no longer be the one that was stopped. Checkpoints without
stored options (older ones, ``fit`` called from Python) resume as before, with every option
typed again, and the training loop's own checks (seed, batch size, data fingerprint) apply.

To know what was typed, the parser's defaults are ``None`` and the real ones live in
``DEFAULTS`` below: one table, applied after the stored options.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from chainrule.errors import ChainruleError
from chainrule.train.checkpoint import CheckpointError

# The defaults of the train options (argparse's are None, so that typed options show).
DEFAULTS: dict[str, Any] = {
    "activation": "tanh", "init": "auto", "validation": 0.2, "test": 0.0, "momentum": 0.0,
    "weight_decay": 0.0, "epochs": 100, "batch_size": 32, "seed": 0, "no_standardize": False,
    "nesterov": False, "quiet": False, "temperature": 0.8,
}
# Options a resume may change: what happens after the stop, or only what is shown and written.
SAFE_ON_RESUME = ("epochs", "early_stopping", "plot", "save", "checkpoint", "quiet", "sample",
                  "temperature", "prompt")
NOT_STORED = ("resume", "command")


def stored_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options as a checkpoint keeps them (after defaults and a resume's merge)."""
    return {k: v for k, v in sorted(vars(args).items()) if k not in NOT_STORED}


def resolve(args: argparse.Namespace, actions: dict[str, argparse.Action],
            state: dict[str, Any] | None) -> None:
    """Fill ``args`` in place: typed options, else the checkpoint's (``state``, on --resume),
    else ``DEFAULTS``; refuse a typed option that would change a resumed run."""
    typed = {k: v for k, v in vars(args).items() if v is not None and k not in NOT_STORED}
    stored = _read(state, actions) if state is not None else {}
    for name, value in typed.items():
        if name in stored and name not in SAFE_ON_RESUME and stored[name] != value:
            raise ChainruleError(
                f"--resume {args.resume}: the checkpoint was trained {_with(name, stored[name])}"
                f", this run has {_flag(name)}{_value(value)}; a resumed run keeps the options "
                f"that shape it (only {', '.join(_flag(n) for n in SAFE_ON_RESUME)} may "
                "change)")
    for name in actions:
        if name not in NOT_STORED:
            setattr(args, name, typed.get(name, stored.get(name, DEFAULTS.get(name))))


def train_actions(add_parser) -> dict[str, argparse.Action]:
    """The train parser's options by destination, from ``add_parser`` (the one definition)."""
    commands = argparse.ArgumentParser(add_help=False).add_subparsers()
    add_parser(commands)
    (parser,) = commands.choices.values()
    return {a.dest: a for a in parser._actions if a.dest != "help"}


def _read(state: dict[str, Any], actions: dict[str, argparse.Action]) -> dict[str, Any]:
    """The options stored in a checkpoint, each checked against the parser: a forged or newer
    file is one line naming the field, never a crash in the middle of a run."""
    options = (state.get("extra") or {}).get("options")
    if options is None:
        return {}
    name = Path(state.get("path", "checkpoint")).name
    if not isinstance(options, dict):
        raise CheckpointError(f"{name}: extra.options: expected an object, got "
                              f"{type(options).__name__}")
    for key, value in options.items():
        where = f"{name}: extra.options.{key}"
        action = actions.get(key)
        if action is None or key in NOT_STORED:
            raise CheckpointError(f"{where}: not an option of this chainrule's train")
        problem = _problem(action, value)
        if problem:
            raise CheckpointError(f"{where}: {problem}, got {str(value)[:60]!r}")
    return dict(options)


def _problem(action: argparse.Action, value: Any) -> str | None:
    """Why ``value`` is not what the parser would have produced for ``action`` (None: fine)."""
    if value is None:
        return None
    if action.nargs == 0:  # a flag (store_true): stored as true or false
        return None if type(value) is bool else "expected true or false"
    kind = action.type or str
    if kind is int and type(value) is not int:
        return "expected an integer"
    if kind is float and not (type(value) in (int, float) and math.isfinite(value)):
        return "expected a finite number"
    if kind is str and not isinstance(value, str):
        return "expected text"
    if action.choices is not None and value not in action.choices:
        return f"expected one of {', '.join(map(str, action.choices))}"
    return None


def _flag(name: str) -> str:
    return "spec" if name == "spec" else f"--{name.replace('_', '-')}"


def _value(value: Any) -> str:
    return "" if value is True else f" {value}"


def _with(name: str, value: Any) -> str:
    """``with --seed 0``, ``with --nesterov``, ``without --schedule``."""
    if value is None or value is False:
        return f"without {_flag(name)}"
    return f"with {_flag(name)}{_value(value)}"
