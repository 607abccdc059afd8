"""The command line: parse, call the library, render. Errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from chainrule import __version__
from chainrule.errors import ChainruleError

FORMATS = ("text", "json")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="A backpropagation workbench: every number of a training step, exact.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    explain = commands.add_parser(
        "explain", help="one gradient-descent step, every number labelled",
        description="Run one forward pass, backward pass and SGD update and show every number.",
    )
    explain.add_argument("spec", nargs="?", default="seed",
                         help="a spec file (JSON) or a built-in network name (default: seed)")
    explain.add_argument("--format", choices=FORMATS, default="text",
                         help="output format (default: text)")
    explain.add_argument("--precision", type=int, default=10, metavar="K",
                         help="decimals shown in text output; computation stays float64")
    return parser


def _explain(args: argparse.Namespace) -> int:
    from chainrule.trace import explain

    trace = explain(args.spec)
    if args.format == "json":
        sys.stdout.write(trace.to_json() + "\n")
    else:
        from chainrule.render.text import render_text

        if not 0 <= args.precision <= 17:
            raise ChainruleError(f"--precision: expected 0 to 17 digits, got {args.precision}")
        sys.stdout.write(render_text(trace, precision=args.precision))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"explain": _explain}[args.command](args)
    except ChainruleError as error:
        print(f"chainrule: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"chainrule: error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
