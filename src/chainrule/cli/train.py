"""``chainrule train``: parse, build the network and data, call ``fit``, show progress.

The library trains and never prints; this module owns the terminal: a progress bar (or a line
per tenth of the run when the output is not a terminal), a summary table, the plot, and the
signal handlers that turn Ctrl-C or SIGTERM into a clean stop (:mod:`.train_output`).
Which options a run has — defaults, those stored in a checkpoint, those typed beside
``--resume`` — is :mod:`.train_options`' job. A checkpoint is written only where
``--checkpoint`` says (a resumed run: where the stopped run wrote it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

import numpy as np

from chainrule.cli.train_options import resolve, stored_options, train_actions
from chainrule.cli.train_output import (Progress, StopOnSignal, Stopper, stopped_where,
                                        summary_table)
from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import ChainruleError
from chainrule.train.loop import ResumeMismatch

# Every elementwise activation of the table: softmax belongs on an output layer only.
HIDDEN_ACTIVATIONS = tuple(name for name, entry in ACTIVATION_TABLE.items() if entry.elementwise)


def add_train_parser(commands) -> None:
    train = commands.add_parser(
        "train", help="train an MLP on real small data, with progress, plots and checkpoints",
        description="Train a network on a built-in dataset or a CSV file. Ctrl-C (or SIGTERM) "
                    "stops cleanly after the current batch (saving a checkpoint if --checkpoint "
                    "names one); --resume FILE alone continues it, bit for bit: the run's "
                    "options are stored in the checkpoint.")
    train.add_argument("spec", nargs="?", help="a spec file: its network, loss, optimizer "
                                               "and seed (and its examples, without --data)")
    net = train.add_argument_group("network")
    net.add_argument("--arch", metavar="2-8-1", help="units per layer, input first")
    net.add_argument("--activation", choices=HIDDEN_ACTIVATIONS,
                     help="hidden-layer activation (default tanh); the output's follows the task")
    net.add_argument("--loss", help="loss (default: cross_entropy or bce for classes, mse)")
    net.add_argument("--init", help="weight initialisation (default auto)")
    data = train.add_argument_group("data")
    data.add_argument("--data", help="xor, moons, circles, spirals, blobs, digits, iris, "
                                     "macbeth (a text, for a sequence model's spec), or a CSV "
                                     "file")
    data.add_argument("--target", help="the target column of a CSV file")
    data.add_argument("--samples", type=int, help="examples drawn by a generator")
    data.add_argument("--noise", type=float, help="noise of a generator")
    data.add_argument("--classes", type=int, help="spiral arms or blob centres of a generator")
    data.add_argument("--task", choices=("classification", "regression"),
                      help="for a CSV file: how to read the target (default: guessed)")
    data.add_argument("--validation", type=float, help="fraction (default 0.2)")
    data.add_argument("--test", type=float, help="fraction (default 0)")
    data.add_argument("--no-standardize", action="store_true", default=None,
                      help="keep features as they are (default: standardise on the training split)")
    opt = train.add_argument_group("optimisation")
    opt.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"),
                     help="default adam (or the spec's)")
    opt.add_argument("--lr", type=float, help="learning rate (default: 0.01 adam/rmsprop, 0.1 sgd)")
    opt.add_argument("--momentum", type=float, help="default 0")
    opt.add_argument("--nesterov", action="store_true", default=None)
    opt.add_argument("--weight-decay", type=float, help="L2 weight decay (default 0)")
    opt.add_argument("--schedule", metavar="step:EVERY:GAMMA | cosine",
                     help="learning-rate schedule, stepped per epoch")
    opt.add_argument("--epochs", type=int, help="in all, counting a resumed run's (default 100)")
    opt.add_argument("--batch-size", type=int, help="default 32")
    opt.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                     help="stop when the validation loss has not improved for PATIENCE epochs")
    opt.add_argument("--seed", type=int, help="default 0")
    out = train.add_argument_group("output")
    out.add_argument("--plot", metavar="FILE.png", help="loss/accuracy curves (+ boundary in 2-D)")
    out.add_argument("--save", metavar="FILE.npz", help="write the trained network")
    out.add_argument("--checkpoint", metavar="FILE.npz",
                     help="saved at every epoch end and on interruption (default: none)")
    out.add_argument("--resume", metavar="FILE.npz",
                     help="continue from a checkpoint, with the options stored in it")
    out.add_argument("--quiet", action="store_true", default=None, help="no progress output")
    out.add_argument("--sample", type=int, metavar="N",
                     help="after training on a text, write N generated characters (default 300;"
                          " 0: none)")
    out.add_argument("--temperature", type=float, help="of the sampling softmax (default 0.8)")
    out.add_argument("--prompt", help="the text a sample starts from (default: the text's "
                                      "first line)")


def _network(args: argparse.Namespace, dataset) -> tuple[list[int], list[str], str]:
    """Layer sizes, activations and loss from --arch and the task."""
    classification = dataset.task == "classification"
    n_out = dataset.n_outputs
    if args.arch:
        try:
            layers = [int(n) for n in args.arch.split("-")]
        except ValueError:
            raise ChainruleError(f"--arch: expected sizes like 2-8-1, got {args.arch!r}") from None
    else:
        layers = [dataset.x.shape[1], 16, 1 if classification and n_out == 2 else n_out]
    if len(layers) < 2 or min(layers) < 1:
        raise ChainruleError(f"--arch: expected at least two positive sizes, got {args.arch!r}")
    if layers[0] != dataset.x.shape[1]:
        raise ChainruleError(f"--arch: the input layer has {layers[0]} units but {dataset.name} "
                             f"has {dataset.x.shape[1]} features")
    binary = classification and n_out == 2 and layers[-1] == 1
    if classification and not binary and layers[-1] != n_out:
        raise ChainruleError(f"--arch: the output layer has {layers[-1]} units but "
                             f"{dataset.name} has {n_out} classes (or 1 unit for 2 classes)")
    if not classification and layers[-1] != n_out:
        raise ChainruleError(f"--arch: the output layer has {layers[-1]} units but "
                             f"{dataset.name} has {n_out} targets")
    output, loss = (("sigmoid", "bce") if binary else ("softmax", "cross_entropy")
                    if classification else ("identity", "mse"))
    return layers, [args.activation] * (len(layers) - 2) + [output], args.loss or loss


def _targets(dataset, loss: str, outputs: int) -> np.ndarray:
    """Class indices for cross-entropy, a 0/1 column for one sigmoid unit, else as given."""
    if dataset.task != "classification" or loss == "cross_entropy":  # sequences: the tokens
        return dataset.y
    if outputs == 1:
        return dataset.y.astype(float)[:, None]
    from chainrule.train.data import one_hot

    return one_hot(dataset.y, outputs)


def _dataset(args: argparse.Namespace, spec):
    from chainrule.train.data import Dataset, load_dataset

    if args.data:
        options = {k: v for k, v in (("classes", args.classes), ("task", args.task))
                   if v is not None}
        if args.data.strip().lower() == "macbeth":
            from chainrule.cli.train_text import text_dataset

            return text_dataset(args, spec)
        return load_dataset(args.data, target=args.target, n=args.samples, noise=args.noise,
                            seed=args.seed, **options)
    if spec is None:
        raise ChainruleError("train: give --data (a dataset name or a CSV file) or a spec file")
    x = spec.inputs if spec.batched else spec.inputs[None]
    x = x.reshape(len(x), -1)  # an image's pixels as features: fit() lays them out again
    targets = np.asarray(spec.targets)
    if targets.dtype.kind in "iu":
        classes = tuple(str(k) for k in range(_outputs(spec)))
        return Dataset(spec.name, x, np.atleast_1d(targets), "classification", classes,
                       tuple(f"x{i + 1}" for i in range(x.shape[1])), spec.description)
    return Dataset(spec.name, x, np.atleast_2d(targets).astype(float), "regression", (),
                   tuple(f"x{i + 1}" for i in range(x.shape[1])), spec.description)


def _optimizer(args: argparse.Namespace, spec, params):
    from chainrule.optim.optimizers import OPTIMIZERS

    if spec is not None and args.optimizer is None and args.lr is None:
        return spec.optimizer.build(params, spec.learning_rate)
    name = args.optimizer or "adam"
    lr = args.lr if args.lr is not None else (0.1 if name == "sgd" else 0.01)
    options: dict[str, Any] = {"lr": lr, "weight_decay": args.weight_decay}
    if name == "sgd":
        options.update(momentum=args.momentum, nesterov=args.nesterov)
    elif name == "rmsprop":
        options.update(momentum=args.momentum)
    try:
        return OPTIMIZERS[name](params, **options)
    except ValueError as error:
        raise ChainruleError(f"--optimizer {name}: {error}") from None


def _scheduler(text: str | None, optimizer, epochs: int):
    if not text:
        return None
    from chainrule.optim.optimizers import CosineAnnealingLR, StepLR

    parts = text.split(":")
    try:
        if parts[0] == "cosine" and len(parts) == 1:
            return CosineAnnealingLR(optimizer, T_max=epochs)
        if parts[0] == "step" and len(parts) == 3:
            return StepLR(optimizer, step_size=int(parts[1]), gamma=float(parts[2]))
    except ValueError:
        pass
    raise ChainruleError(f"--schedule: expected step:EVERY:GAMMA (e.g. step:50:0.5) or cosine, "
                         f"got {text!r}")


def run_train(args: argparse.Namespace) -> int:
    from chainrule.train.data import Standardizer, split
    from chainrule.nn import MLP
    from chainrule.spec.network import load_spec
    from chainrule.train.checkpoint import load_checkpoint
    from chainrule.train.loop import fit

    # Read first: a resume's stored options decide the rest (the --plot check included).
    state = load_checkpoint(args.resume) if args.resume else None
    resolve(args, train_actions(add_train_parser), state)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ChainruleError(f"--{name.replace('_', '-')}: expected a positive number, "
                                 f"got {getattr(args, name)}")
    from chainrule.train.checkpoint import MAX_EPOCHS

    if args.epochs > MAX_EPOCHS:
        raise ChainruleError(f"--epochs: expected at most {MAX_EPOCHS}, got {args.epochs}")
    if args.plot:  # a bad path or a missing matplotlib fails now, not after the whole run
        from chainrule.train.plot import plot_format

        plot_format(args.plot)
    spec = load_spec(args.spec) if args.spec else None
    dataset = _dataset(args, spec)
    if spec is not None:
        loss, title = spec.loss, _title(spec)
        outputs = _outputs(spec)
    else:
        layers, activations, loss = _network(args, dataset)
        outputs, title = layers[-1], f"{'-'.join(map(str, layers))} {activations[0]}"
    tiny = len(dataset.x) < 20  # XOR's four points: train on all, judge on all
    parts = split(dataset, validation=0.0 if tiny else args.validation,
                  test=0.0 if tiny else args.test, seed=args.seed)
    text = dataset.task == "sequence"  # token indices: never standardised
    if text:
        from chainrule.cli.train_text import check_sampling, sample_text

        check_sampling(args, spec, dataset)
    scaler = None if args.no_standardize or tiny or text else Standardizer.fit(parts.train.x)
    scale = (lambda x: x) if scaler is None else scaler.transform
    model = spec.build_model() if spec is not None else MLP(layers, activations, init=args.init,
                                                            seed=args.seed)
    if tuple(model.input_shape) != (dataset.x.shape[1],) and \
            int(np.prod(model.input_shape)) != dataset.x.shape[1]:
        shape = list(model.input_shape)
        raise ChainruleError(f"{args.spec}: the network takes inputs of shape {shape} but "
                             f"{dataset.name} has {dataset.x.shape[1]} features per example")
    optimizer = _optimizer(args, spec, model.parameters())
    scheduler = _scheduler(args.schedule, optimizer, args.epochs)
    resume = _resume(args.resume, state, model, dataset.name) if state is not None else None
    validation = None
    if parts.validation is not None and len(parts.validation.x):
        validation = (scale(parts.validation.x), _targets(parts.validation, loss, outputs))
    progress = Progress(args.epochs, quiet=args.quiet)
    extra = {"dataset": dataset.name, "loss": loss, "classes": list(dataset.classes),
             **({"standardizer": scaler.state_dict()} if scaler is not None else {})}
    started = time.perf_counter()
    with Stopper() as stopper:
        stop = StopOnSignal(stopper)
        try:
            history = fit(model, scale(parts.train.x), _targets(parts.train, loss, outputs),
                          loss=loss, optimizer=optimizer, epochs=args.epochs,
                          batch_size=args.batch_size, seed=args.seed, validation=validation,
                          scheduler=scheduler, early_stopping=args.early_stopping,
                          checkpoint=args.checkpoint, resume=resume,
                          callbacks=[progress, stop],
                          extra={**extra, "options": stored_options(args)})
        except ResumeMismatch as mismatch:  # raised before any training: say it in options
            progress.close()
            raise ChainruleError(_mismatch_message(args.resume, mismatch)) from None
    progress.close()
    elapsed = time.perf_counter() - started
    sys.stdout.write(_summary(model, loss, parts, scale, outputs, history, elapsed, args))
    if args.save:
        from chainrule.train.checkpoint import save_model

        save_model(args.save, model, extra=extra)
        if history.stop_reason == "interrupted":  # the file looks like any finished model
            where = stopped_where(stop.at, len(parts.train.x), args.batch_size)
            sys.stdout.write(f"saved {args.save} is partial: training was interrupted {where}; "
                             f"{args.epochs} epochs were asked for\n")
    if args.plot:
        from chainrule.train.plot import plot_run

        shown = parts.validation if validation is not None else parts.train
        plot_run(args.plot, history, predict=lambda x: _predict(model, scale(x), outputs),
                 x=None if text else shown.x,
                 y=shown.y if dataset.task == "classification" else None,
                 title=f"{dataset.name}: {title}")
    if text:  # after the model and the plot are saved: nothing written waits on it
        sys.stdout.write(sample_text(model, dataset, args))
    if history.stop_reason == "interrupted":  # 128 + the signal's number, as shells expect
        return 128 + getattr(signal, stopper.requested or "SIGINT").value
    return 0


def _resume(path: str, state: dict, model, dataset: str) -> dict:
    from chainrule.train.checkpoint import check_compatible

    check_compatible(state, model)
    saved = state["extra"].get("dataset")
    if saved is not None and saved != dataset:
        raise ChainruleError(f"--resume {path}: the checkpoint was trained with --data "
                             f"{saved}, this run has --data {dataset}")
    return state


# How a resume mismatch found by fit() reads in the options a user typed.
_OPTIONS = {"seed": "--seed", "batch_size": "--batch-size"}


def _mismatch_message(path: str, mismatch: ResumeMismatch) -> str:
    if mismatch.field == "data":
        return (f"--resume {path}: the checkpoint was trained on other data (--samples, "
                "--noise, --classes, --validation, --test, --no-standardize or the CSV file "
                "differ)")
    option = _OPTIONS[mismatch.field]
    return (f"--resume {path}: the checkpoint was trained with {option} {mismatch.saved}, "
            f"this run has {option} {mismatch.ours}")


def _outputs(spec) -> int:
    return spec.output_size if hasattr(spec, "output_size") else spec.layers[-1]


def _title(spec) -> str:
    if hasattr(spec, "input_shape"):  # typed layers
        return spec.architecture
    return f"{spec.architecture} {spec.activations[0]}"


def _predict(model, x: np.ndarray, outputs: int) -> np.ndarray:
    from chainrule.autodiff.engine import no_grad
    from chainrule.train.arrays import shaped

    model.eval()
    with no_grad():
        out = model.head(shaped(model, x))[1].data
    return (out[:, 0] > 0.5).astype(int) if outputs == 1 else out.argmax(axis=-1)


def _evaluate(model, loss: str, x: np.ndarray, y: np.ndarray, classes: bool,
              outputs: int) -> tuple[float, float | None]:
    from chainrule.train.arrays import arrays, evaluate

    x, y = arrays(model, x, y, loss, "")
    value, _ = evaluate(model, loss, x, y, None)
    if not classes:
        return value, None
    truth = y if y.ndim == 1 or y.dtype.kind in "iu" else \
        (y[:, 0] > 0.5).astype(int) if y.shape[1] == 1 else y.argmax(1)
    return value, float(np.mean(_predict(model, x, outputs) == truth))


def _summary(model, loss, parts, scale, outputs, history, elapsed, args) -> str:
    classes = parts.train.task in ("classification", "sequence")
    rows = []
    for name, part in (("train", parts.train), ("validation", parts.validation),
                       ("test", parts.test)):
        if part is None or not len(part.x):
            continue
        value, accuracy = _evaluate(model, loss, scale(part.x), _targets(part, loss, outputs),
                                    classes, outputs)
        rows.append((name, len(part.x), value, accuracy))
    lines = ["", *summary_table(rows)]
    epochs = history.epoch[-1] if history.epoch else 0
    resume = (f"resume with --resume {args.checkpoint}" if args.checkpoint else
              "no checkpoint to resume from: --checkpoint FILE.npz writes one")
    reason = {"interrupted": f"interrupted; {resume}",
              "early_stopping": f"early stopping (best epoch {history.best_epoch})"}.get(
        history.stop_reason, "completed")
    lines += ["", f"epochs {epochs} ({reason}), {elapsed:.1f} s"]
    if args.checkpoint:
        lines.append(f"checkpoint: {args.checkpoint}")
    return "\n".join(lines) + "\n"
