"""The command line: parse, call the library, render. Errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from chainrule.version import __version__
from chainrule.errors import ChainruleError
from chainrule.cli.terminal import columns

FORMATS = ("text", "markdown", "latex", "json", "html")
# verify --impl's levels, strongest first (chainrule.verify.sandbox.LEVELS, not imported here
# so that parsing stays fast; tests/test_impl_sandbox.py checks the two agree)
SANDBOX_LEVELS = ("auto", "bubblewrap", "unshare", "basic")
PHASES = ("forward", "backward", "update")
MARKINGS = ("carried-forward", "strict")  # chainrule.verify.judging.MARKINGS, not imported


# Every command, with the line --help lists for it. A command chosen has its parser built, and
# no other: each costs argparse's formatters and translations, and the parsers of train and
# exercise import their feature's modules, so `chainrule explain` pays for none of them.
# Without a known command (--help, nothing, a misspelling) every command is listed.
COMMANDS = {
    "explain": "a training step worked out: every number, every chain-rule product",
    "verify": "check gradients three independent ways, or diagnose someone's numbers",
    "train": "train an MLP on real small data, with progress, plots and checkpoints",
    "exercise": "backprop worksheets with answer keys, and grading that names the mistake",
    "export": "a network as PyTorch code with safetensors weights, or as ONNX",
}


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized to the terminal without importing shutil, as argparse's
    own does each time it makes one (for every argument added)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named: the first argument that is not an option (the top-level parser
    has only options of its own)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule", formatter_class=_HelpFormatter,
        description="A backpropagation workbench: every number of a training step, exact.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command not in COMMANDS:
        for name, summary in COMMANDS.items():
            commands.add_parser(name, help=summary, formatter_class=_HelpFormatter)
    elif command == "explain":
        _explain_parser(commands)
    elif command == "verify":
        _verify_parser(commands)
    elif command == "train":
        from chainrule.cli.train import add_train_parser

        add_train_parser(commands)
    elif command == "export":
        from chainrule.cli.export import add_export_parser

        add_export_parser(commands, COMMANDS["export"], _HelpFormatter)
    else:
        from chainrule.cli.exercise import add_exercise_parser

        add_exercise_parser(commands)
    return parser


def _explain_parser(commands) -> None:
    explain = commands.add_parser(
        "explain", help=COMMANDS["explain"], formatter_class=_HelpFormatter,
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
    explain.add_argument("--notation", metavar="NAME",
                         help="write the symbols as a textbook does: chainrule (default), "
                              "nielsen, ng, cs231n, goodfellow, d2l (formats text, markdown, "
                              "latex)")
    digits = explain.add_mutually_exclusive_group()
    digits.add_argument("--sig", type=int, metavar="N",
                        help="significant digits shown (default 4: 0.2000, 0.0007123); the "
                             "computation stays float64")
    digits.add_argument("--precision", type=int, metavar="K",
                        help="decimals shown instead (0.2000, 0.0007 at 4)")
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
    explain.add_argument("--input", metavar="X1,X2,...",
                         help="with --model or --torch: the input (a .npy file too)")
    explain.add_argument("--target", metavar="T1,... | CLASS",
                         help="with --model or --torch: the target (values, or a class index)")
    explain.add_argument("--lr", type=float, default=None,
                         help="with --model or --torch: the learning rate of the step "
                              "(default 0.1)")
    explain.add_argument("--torch", metavar="WEIGHTS",
                         help="explain a step of a PyTorch model: its state_dict (.pt/.pth "
                              "read with torch.load(weights_only=True), .safetensors, or a "
                              "torch.export .pt2's weights); with --arch, --input and "
                              "--target (docs/pytorch.md)")
    explain.add_argument("--arch", metavar="ARCH",
                         help="with --torch: the architecture, a spec file of layers or "
                              "FILE.py:FUNCTION, a function of your own code that returns "
                              "the torch.nn.Module")
    explain.add_argument("--input-shape", metavar="C,H,W",
                         help="with --torch: the shape of one example, where the model does "
                              "not say it (a Conv2d first)")
    explain.add_argument("--loss", metavar="NAME",
                         help="with --torch: the loss (default: the spec's; else "
                              "cross_entropy for a class index, mse for values)")
    explain.add_argument("--expr", metavar="PROGRAM",
                         help='explain any computation\'s graph instead of a network: '
                              '"q = x + y; f = q * z" (see docs/expressions.md)')
    explain.add_argument("--at", metavar="NAME=VALUE,...",
                         help="with --expr (or an expression spec file): the inputs' values, "
                              "e.g. x=-2,y=5,z=-4")
    explain.add_argument("--symbolic", action="store_true",
                         help="show sympy's derivative of the closed-form loss beside each "
                              "gradient (needs the symbolic extra)")
    explain.add_argument("--example", type=int, metavar="N",
                         help="write out example N of a batch unit by unit, numbered from 1 "
                              "as the text writes ⁽ᴺ⁾ (the others as matrices)")
    explain.add_argument("--graph", action="store_true",
                         help="show a network's step as its recorded computational graph "
                              "(every node and edge, as for --expr) instead of layers and units")


def _verify_parser(commands) -> None:
    verify = commands.add_parser(
        "verify", help=COMMANDS["verify"], formatter_class=_HelpFormatter,
        description="Compare the engine's gradients with finite differences, the textbook "
                    "step in NumPy and sympy (PyTorch with --torch, or where sympy cannot run); "
                    "or judge someone's answers (--answers) or backprop function (--impl) and "
                    "name the mistake behind wrong numbers. Exit status 1 when anything "
                    "disagrees.",
    )
    verify.add_argument("spec", nargs="?", default=None,
                        help="a spec file or a built-in network (default: seed)")
    verify.add_argument("-f", "--format", choices=("text", "json"), default="text")
    given = verify.add_mutually_exclusive_group()
    given.add_argument("--answers", metavar="FILE",
                       help="someone's numbers (JSON, YAML or CSV: quantity -> value; for "
                            "--expr: forward.NAME, gradients.NAME)")
    given.add_argument("--tensors", metavar="FILE",
                       help="someone's intermediate tensors (.npz or JSON: z1, a1, dz1, dW1, "
                            "db1, loss, … or chainrule's names), each against chainrule's: "
                            "exact, close, max |diff|, the first that is off")
    given.add_argument("--impl", metavar="FILE.py:FUNCTION",
                       help="someone's backprop function, run in a sandbox (for --expr: "
                            "fn(values) -> {\"forward\": ..., \"gradients\": ...})")
    verify.add_argument("--layer", metavar="NAME",
                        help="with --impl FILE.py[:FUNCTION]: judge a CS231n-style layer "
                             "function instead of a step (affine_forward, affine_backward, "
                             "relu_*, softmax_loss, svm_loss, conv_*_naive, max_pool_*_naive, "
                             "batchnorm_*, spatial_batchnorm_*, dropout_*)")
    verify.add_argument("--expr", metavar="PROGRAM",
                        help='check an expression\'s gradients instead of a network\'s: '
                             '"q = x + y; f = q * z"')
    verify.add_argument("--at", metavar="NAME=VALUE,...",
                        help="with --expr (or an expression spec file): the inputs' values")
    verify.add_argument("--marking", choices=MARKINGS, default="carried-forward",
                        help="with --answers for a network: judge each answer from the "
                             "answerer's own earlier numbers, crediting what follows "
                             "correctly from a slip (carried-forward, the default), or only "
                             "answers right on their own (strict); rounding is never a mistake")
    verify.add_argument("--torch", action="store_true",
                        help="also check a network's step with PyTorch (seconds to import; "
                             "by default it runs only where sympy cannot)")
    verify.add_argument("--no-cache", action="store_true",
                        help="derive with sympy afresh, not from an earlier run on the same "
                             "network (kept in $XDG_CACHE_HOME/chainrule/symbolic)")
    verify.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="time limit for --impl (default 10)")
    verify.add_argument("--sandbox", choices=SANDBOX_LEVELS, default="auto",
                        help="with --impl: the sandbox to require (default auto: the strongest "
                             "this machine has; see docs/security.md)")


def _explain(args: argparse.Namespace) -> int:
    from chainrule.cli.explain import run_explain

    return run_explain(args)


def _verify(args: argparse.Namespace) -> int:
    from chainrule.cli.verify import run_verify

    return run_verify(args)


def _exercise(args: argparse.Namespace) -> int:
    from chainrule.cli.exercise import run_exercise

    return run_exercise(args)


def _export(args: argparse.Namespace) -> int:
    from chainrule.cli.export import run_export

    return run_export(args)


def _train(args: argparse.Namespace) -> int:
    from chainrule.cli.train import run_train

    return run_train(args)


def _one_line(message: str, limit: int = 1000) -> str:
    """An error as one line of bounded length, whatever text it quotes."""
    message = " ".join(message.split("\n"))
    return message if len(message) <= limit else message[:limit - 1] + "…"


# Options whose value may start with a minus sign (--input -0.9,1.0): argparse would take
# "-0.9,1.0" for an option, so such a value is joined to its option (--input=-0.9,1.0).
_SIGNED = ("--input", "--target", "--at")


def _join_signed(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in _SIGNED and i + 1 < len(argv) and len(argv[i + 1]) > 1 \
                and argv[i + 1][0] == "-" and (argv[i + 1][1].isdigit() or argv[i + 1][1] == "."):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = _join_signed(sys.argv[1:] if argv is None else list(argv))
    parser = _parser(_chosen(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"explain": _explain, "verify": _verify, "train": _train,
                "exercise": _exercise, "export": _export}[args.command](args)
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
