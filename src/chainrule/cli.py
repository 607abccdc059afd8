"""The command line: parse, call the library, render. Errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from chainrule import __version__
from chainrule.errors import ChainruleError

FORMATS = ("text", "markdown", "latex", "json", "html")
# verify --impl's levels, strongest first (chainrule.verify.sandbox.LEVELS, not imported here
# so that parsing stays fast; tests/test_impl_sandbox.py checks the two agree)
SANDBOX_LEVELS = ("auto", "bubblewrap", "unshare", "basic")
MAX_TIMEOUT = 3600.0  # seconds for --impl: an hour is already more than any step needs
MAX_OPTION_NUMBERS = 10_000  # numbers in --input or --target
PHASES = ("forward", "backward", "update")


# Commands whose parsers import their feature's modules: built in full only when chosen, so
# `chainrule explain` does not pay for importing the training and exercise code.
HEAVY_COMMANDS = {
    "train": "train an MLP on real small data, with progress, plots and checkpoints",
    "exercise": "backprop worksheets with answer keys, and grading that names the mistake",
}


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="A backpropagation workbench: every number of a training step, exact.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    explain = commands.add_parser(
        "explain", help="a training step worked out: every number, every chain-rule product",
        description="Run a forward pass, backward pass and gradient-descent update and show "
                    "every number, in the terminal or as Markdown, LaTeX, JSON or HTML.",
    )
    explain.add_argument("spec", nargs="?", default=None,
                         help="a spec file (JSON, TOML or YAML) or a built-in network "
                              "(default: seed)")
    explain.add_argument("-f", "--format", choices=FORMATS, default="text",
                         help="output format (default: text)")
    explain.add_argument("-o", "--output", metavar="FILE",
                         help="write to FILE (atomically) instead of standard output")
    explain.add_argument("--precision", type=int, default=10, metavar="K",
                         help="decimals shown (default 10); computation stays float64")
    explain.add_argument("--param", metavar="NAME[I,J]",
                         help="focus on one parameter element's derivation, e.g. W1[0,1] "
                              "(0-based indices)")
    explain.add_argument("--only", choices=PHASES, help="show one phase of the step")
    explain.add_argument("--steps", type=int, metavar="N",
                         help="record N gradient-descent steps (default: the spec's, or 1)")
    explain.add_argument("--fragment", action="store_true",
                         help="latex/html: a snippet to include rather than a whole document")
    explain.add_argument("--model", metavar="FILE.npz",
                         help="explain a step of a trained network (chainrule train --save)")
    explain.add_argument("--input", metavar="X1,X2,...", help="with --model: the input")
    explain.add_argument("--target", metavar="T1,... | CLASS",
                         help="with --model: the target (values, or a class index)")
    explain.add_argument("--lr", type=float, default=0.1,
                         help="with --model: the learning rate of the step (default 0.1)")
    explain.add_argument("--expr", metavar="PROGRAM",
                         help='explain any computation\'s graph instead of a network: '
                              '"q = x + y; f = q * z" (see docs/expressions.md)')
    explain.add_argument("--at", metavar="NAME=VALUE,...",
                         help="with --expr (or an expression spec file): the inputs' values, "
                              "e.g. x=-2,y=5,z=-4")
    explain.add_argument("--symbolic", action="store_true",
                         help="show sympy's derivative of the closed-form loss beside each "
                              "gradient (needs the symbolic extra)")
    _verify_parser(commands)
    for name, summary in HEAVY_COMMANDS.items():
        if name != command:
            commands.add_parser(name, help=summary)  # listed in --help; unused unless chosen
        elif name == "train":
            from chainrule.cli_train import add_train_parser

            add_train_parser(commands)
        else:
            from chainrule.cli_exercise import add_exercise_parser

            add_exercise_parser(commands)
    return parser


def _verify_parser(commands) -> None:
    verify = commands.add_parser(
        "verify", help="check gradients three independent ways, or diagnose someone's numbers",
        description="Compare the engine's gradients with finite differences, PyTorch and "
                    "sympy; or judge someone's answers (--answers) or backprop function "
                    "(--impl) and name the mistake behind wrong numbers. Exit status 1 when "
                    "anything disagrees.",
    )
    verify.add_argument("spec", nargs="?", default=None,
                        help="a spec file or a built-in network (default: seed)")
    verify.add_argument("-f", "--format", choices=("text", "json"), default="text")
    given = verify.add_mutually_exclusive_group()
    given.add_argument("--answers", metavar="FILE",
                       help="someone's numbers (JSON, YAML or CSV: quantity -> value)")
    given.add_argument("--impl", metavar="FILE.py:FUNCTION",
                       help="someone's backprop function, run in a subprocess")
    verify.add_argument("--expr", metavar="PROGRAM",
                        help='check an expression\'s gradients instead of a network\'s: '
                             '"q = x + y; f = q * z"')
    verify.add_argument("--at", metavar="NAME=VALUE,...",
                        help="with --expr (or an expression spec file): the inputs' values")
    verify.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="time limit for --impl (default 10)")
    verify.add_argument("--sandbox", choices=SANDBOX_LEVELS, default="auto",
                        help="with --impl: the sandbox to require (default auto: the strongest "
                             "this machine has; see docs/security.md)")


def _render(trace, args: argparse.Namespace, terminal: bool) -> str:
    if args.format == "json":
        return trace.to_json() + "\n"
    options = {"precision": args.precision, "param": args.param, "only": args.only}
    if args.symbolic and args.format in ("text", "markdown", "latex"):
        from chainrule.verify.symbolic import symbolic_gradients

        options["symbolic"] = symbolic_gradients(trace.spec)
    elif args.symbolic:
        raise ChainruleError("--symbolic: only for --format text, markdown or latex")
    if args.format == "text":
        from chainrule.render.text import render_text

        return render_text(trace, color=terminal, **options)
    if args.format == "markdown":
        from chainrule.render.markdown import render_markdown

        return render_markdown(trace, **options)
    if args.format == "latex":
        from chainrule.render.latex import render_latex

        return render_latex(trace, fragment=args.fragment, **options)
    from chainrule.render.html import render_html

    return render_html(trace, fragment=args.fragment, **options)


def _verify(args: argparse.Namespace) -> int:
    from chainrule.spec import check_explainable, load_spec

    network, expression = _computation(args)
    if expression is not None:
        if args.answers or args.impl:
            raise ChainruleError("--answers and --impl judge a network's step, not an "
                                 "expression's gradients")
        from chainrule.verify.expression import verify_expression

        return _report(verify_expression(*expression), args)
    spec = load_spec(network) if isinstance(network, str) else network
    check_explainable(spec, 1, "verify")
    if args.answers:
        from chainrule.verify.answers import judge_answers, load_answers

        report = judge_answers(spec, load_answers(args.answers))
    elif args.impl:
        from chainrule.verify.impl import run_impl

        if not 0 < args.timeout <= MAX_TIMEOUT:
            raise ChainruleError(f"--timeout: expected a number of seconds from 0 to "
                                 f"{MAX_TIMEOUT:g}, got {args.timeout:g}")
        report = run_impl(spec, args.impl, timeout=args.timeout, sandbox=args.sandbox)
    else:
        from chainrule.verify.report import verify

        report = verify(spec)
    return _report(report, args)


def _computation(args: argparse.Namespace) -> tuple[Any, tuple | None]:
    """What explain or verify is about, its file read once: ``(network, None)`` — a preset
    name, a path not found (load_spec names it) or a parsed Spec — or ``(None, (program,
    values))`` for ``--expr``/``--at`` or a spec file holding ``expression`` and ``at``."""
    from chainrule.spec import PRESETS, parse_spec, read_spec_file

    if args.expr is not None:
        return None, _expression(args)
    path = None if args.spec is None or args.spec in PRESETS else Path(args.spec)
    if path is not None and (path.exists() or path.is_symlink()):
        from chainrule.expr import is_expression_spec, load_expression_spec

        data = read_spec_file(path)
        if is_expression_spec(data):
            return None, _expression(args, load_expression_spec(data, path))
        network: Any = parse_spec(data, default_name=path.stem)
    else:
        network = args.spec or "seed"
    if args.at is not None:
        raise ChainruleError("--at: only with --expr or an expression spec file")
    return network, None


def _report(report, args: argparse.Namespace) -> int:
    import json

    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        text = str(report)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0 if report.ok else 1


def _expression(args: argparse.Namespace, from_file: tuple | None = None) -> tuple:
    """(program, values) of ``--expr``/``--at``, or of an expression spec file with ``--at``
    overriding its values."""
    from chainrule.expr import parse_at, parse_program

    if from_file is None:
        if args.spec is not None:
            raise ChainruleError("--expr: give an expression or a spec file, not both")
        if args.at is None:
            raise ChainruleError("--expr: also give --at with the inputs' values, like "
                                 "--at x=-2,y=5")
        return (_with_option("--expr", parse_program, args.expr),
                _with_option("--at", parse_at, args.at))
    program, at = from_file
    if args.at is not None:  # values typed on the command line win over the file's
        at = {**at, **_with_option("--at", parse_at, args.at)}
    return program, at


def _numbers(text: str | None, option: str) -> list[float]:
    from chainrule.inputs import plain_number

    parts = [part for part in (text or "").split(",") if part.strip()]
    if len(parts) > MAX_OPTION_NUMBERS:
        raise ChainruleError(f"{option}: {len(parts):,} numbers; at most {MAX_OPTION_NUMBERS:,}")
    values = []
    for position, part in enumerate(parts, 1):
        value = plain_number(part)
        if value is None or value != value or abs(value) == float("inf"):
            raise ChainruleError(f"{option}: number {position}, {part.strip()[:40]!r}, is not a "
                                 f"finite decimal number (expected numbers separated by commas, "
                                 f"like 0.5,-1.2e-3)")
        values.append(value)
    return values


def _trained_step(args: argparse.Namespace):
    """One step of a saved network on one example; inputs are standardised as in training."""
    import numpy as np

    from chainrule.checkpoint import load_model, standardized_input
    from chainrule.loss_table import LOSS_TABLE
    from chainrule.trace import explain

    if args.input is None or args.target is None:
        raise ChainruleError("--model: also give --input and --target for the step to explain")
    model, meta = load_model(args.model)
    extra = meta.get("extra") or {}
    x = np.array(_numbers(args.input, "--input"))
    if x.shape != (model.sizes[0],):
        raise ChainruleError(f"--input: expected {model.sizes[0]} numbers for the network's "
                             f"{model.sizes[0]} inputs ({args.model}), got {x.size}")
    x = standardized_input(meta, x, "--input")
    loss = extra.get("loss", "mse")
    target = _numbers(args.target, "--target")
    takes_classes = (isinstance(loss, str) and loss in LOSS_TABLE  # a damaged checkpoint: a list
                     and LOSS_TABLE[loss].target == "classes")
    if takes_classes and len(target) == 1 and model.sizes[-1] > 1:
        if target[0] != int(target[0]) or not 0 <= target[0] < model.sizes[-1]:
            raise ChainruleError(f"--target: expected a class index from 0 to "
                                 f"{model.sizes[-1] - 1}, got {target[0]:g}")
        target = int(target[0])
    elif len(target) != model.sizes[-1]:
        classes = " (or one class index)" if takes_classes else ""
        raise ChainruleError(f"--target: expected {model.sizes[-1]} numbers for the network's "
                             f"{model.sizes[-1]} outputs{classes}, got {len(target)}")
    if not args.lr > 0:
        raise ChainruleError(f"--lr: expected a positive number, got {args.lr}")
    return explain(model, input=x, target=target, loss=loss, learning_rate=args.lr,
                   steps=args.steps)


def _explain(args: argparse.Namespace) -> int:
    from chainrule.spec import MAX_STEPS
    from chainrule.trace import explain

    if not 0 <= args.precision <= 17:
        raise ChainruleError(f"--precision: expected 0 to 17 digits, got {args.precision}")
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise ChainruleError(f"--steps: expected 1 to {MAX_STEPS}, got {args.steps}")
    if args.fragment and args.format not in ("latex", "html"):
        raise ChainruleError("--fragment: only for --format latex or html")
    if args.model:
        if args.expr is not None or args.spec is not None:
            raise ChainruleError("--model: explains a saved network; give no spec or --expr")
        trace = _trained_step(args)
    else:
        network, expression = _computation(args)
        if expression is not None:
            return _explain_expression(args, *expression)
        trace = explain(network, steps=args.steps)
    _write(_render(trace, args, terminal=_colour()), args)
    return 0


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _write(text: str, args: argparse.Namespace) -> None:
    if args.output:
        from chainrule.files import write_atomically

        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)


def _explain_expression(args: argparse.Namespace, program, at: dict[str, float]) -> int:
    """An expression's recorded graph, node by node (chainrule.graph), in any format."""
    from chainrule.expr import evaluate
    from chainrule.graph import explain_graph

    for option, given in (("--param", args.param), ("--only", args.only),
                          ("--steps", args.steps), ("--model", args.model),
                          ("--symbolic", args.symbolic or None)):
        if given is not None:
            raise ChainruleError(f"{option}: for a network's step, not an expression's graph")
    evaluation = evaluate(program, at)
    trace = explain_graph(evaluation.output, names=evaluation.names)
    options: dict = {"precision": args.precision}
    if args.format == "text":
        options["color"] = _colour() and not args.output
    elif args.format in ("latex", "html"):
        options["fragment"] = args.fragment
    text = trace.render(args.format, **options)
    _write(text if text.endswith("\n") else text + "\n", args)
    return 0


def _with_option(option: str, parse, text: str):
    """``parse(text)``, its error prefixed by the option it came from."""
    from chainrule.errors import ExprError

    try:
        return parse(text)
    except ExprError as error:
        raise ExprError(f"{option}: {error}", line=error.line, column=error.column) from None


def _exercise(args: argparse.Namespace) -> int:
    from chainrule.cli_exercise import run_exercise

    return run_exercise(args)


def _train(args: argparse.Namespace) -> int:
    from chainrule.cli_train import run_train

    return run_train(args)


def _one_line(message: str, limit: int = 1000) -> str:
    """An error as one line of bounded length, whatever text it quotes."""
    message = " ".join(message.split("\n"))
    return message if len(message) <= limit else message[:limit - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(next((a for a in argv if a in HEAVY_COMMANDS), None))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"explain": _explain, "verify": _verify, "train": _train,
                "exercise": _exercise}[args.command](args)
    except ChainruleError as error:
        print(f"chainrule: error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `chainrule explain | head`: the reader left, nothing to say
        sys.stderr.close()
        return 0
    except OSError as error:
        where = error.filename or ""
        print(f"chainrule: error: {where}{': ' if where else ''}{error.strerror or error}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (RecursionError, MemoryError) as error:  # a limit missed: still one line
        what = "nested too deeply" if isinstance(error, RecursionError) else "out of memory"
        print(f"chainrule: error: the input is too large ({what}); see docs/limits.md",
              file=sys.stderr)
        return 2
    except Exception as error:  # a bug: one line, and the traceback on request
        if os.environ.get("CHAINRULE_TRACEBACK"):
            raise
        first = (str(error).strip().splitlines() or [""])[0][:200]
        print(f"chainrule: internal error: {type(error).__name__}: {first} (this is a bug; "
              f"set CHAINRULE_TRACEBACK=1 for the traceback and please report it)",
              file=sys.stderr)
        return 70
