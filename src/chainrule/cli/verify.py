"""``chainrule verify``: what it checks, chosen from its arguments, and its report written.
A network's spec, an expression, someone's answers, tensors, function or layer function;
the spec and expression are read as ``explain`` reads them (:mod:`chainrule.cli.explain`)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from chainrule.cli.explain import _computation, _layered, _report
from chainrule.errors import ChainruleError

if TYPE_CHECKING:
    from pathlib import Path

MAX_TIMEOUT = 3600.0  # seconds for --impl: an hour is already more than any step needs


def run_verify(args: argparse.Namespace) -> int:
    from chainrule.spec.network import check_explainable, load_spec

    given = next((flag for flag, value in (("--answers", args.answers), ("--impl", args.impl),
                                           ("--tensors", args.tensors)) if value), None)
    if args.torch and given:
        raise ChainruleError(f"--torch: checks the engine's gradients; not with {given}")
    if args.layer:
        return _report(_layer_function(args), args)
    network, expression = _computation(args)
    if expression is not None and args.tensors:
        raise ChainruleError("--tensors: checks a network's step; an expression's numbers are "
                             "checked with --answers")
    if expression is not None:  # PyTorch is one of an expression's methods already
        return _report(_verify_expression(args, *expression), args)
    spec = load_spec(network) if isinstance(network, str) else network
    if _layered(spec):
        if args.tensors:
            from chainrule.verify.layered_tensors import check_layered_tensors
            from chainrule.verify.tensors import load_tensors

            return _report(check_layered_tensors(spec, load_tensors(args.tensors),
                                                 source=args.tensors), args)
        if given:
            raise ChainruleError(f"{given}: judges an MLP's numbers; {spec.name!r} is a network "
                                 f"of typed layers ({spec.architecture}): give its numbers "
                                 "with --tensors FILE, or judge its layers' functions with "
                                 "--layer NAME --impl FILE.py")
        from chainrule.verify.layered import verify_layered

        return _report(verify_layered(spec), args)
    check_explainable(spec, 1, "verify")
    if args.answers:
        from chainrule.verify.answers import judge_answers, load_answers

        report = judge_answers(spec, load_answers(args.answers), marking=args.marking)
    elif args.tensors:
        from chainrule.verify.tensors import check_tensors, load_tensors

        report = check_tensors(spec, load_tensors(args.tensors), source=args.tensors)
    elif args.impl:
        from chainrule.verify.impl import run_impl

        _check_timeout(args)
        report = run_impl(spec, args.impl, timeout=args.timeout, sandbox=args.sandbox)
    else:
        from chainrule.verify.report import verify

        report = verify(spec, torch=args.torch, cache=None if args.no_cache else _cache())
    return _report(report, args)


def _layer_function(args: argparse.Namespace):
    """``--layer NAME --impl FILE.py[:FUNCTION]``: a CS231n-style layer function judged."""
    from chainrule.verify.layer_functions import check_layer_function

    if not args.impl:
        raise ChainruleError("--layer: needs --impl FILE.py[:FUNCTION], the function to judge")
    if args.spec or args.expr:
        raise ChainruleError("--layer: judges a layer function on its own inputs; give no "
                             "network or --expr")
    _check_timeout(args)
    return check_layer_function(args.layer, args.impl, timeout=args.timeout,
                                sandbox=args.sandbox)


def _cache() -> Path | None:
    """Where verify keeps sympy's values between runs: $XDG_CACHE_HOME/chainrule/symbolic."""
    from pathlib import Path

    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory: nothing kept
        return None
    return base / "chainrule" / "symbolic"


def _verify_expression(args: argparse.Namespace, program, at: dict[str, float]):
    """An expression's gradients checked independent ways, or someone's numbers (--answers)
    or function (--impl) for its graph judged against the engine's."""
    if args.answers:
        from chainrule.verify.answers import load_answers
        from chainrule.verify.expression_answers import judge_expression_answers

        return judge_expression_answers(program, at, load_answers(args.answers))
    if args.impl:
        from chainrule.verify.expression_answers import run_expression_impl

        _check_timeout(args)
        return run_expression_impl(program, at, args.impl, timeout=args.timeout,
                                   sandbox=args.sandbox)
    from chainrule.verify.expression import verify_expression

    return verify_expression(program, at)


def _check_timeout(args: argparse.Namespace) -> None:
    if not 0 < args.timeout <= MAX_TIMEOUT:
        raise ChainruleError(f"--timeout: expected a number of seconds from 0 to "
                             f"{MAX_TIMEOUT:g}, got {args.timeout:g}")
