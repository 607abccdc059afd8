"""``chainrule explain``: what the command is about (a network, a saved model or an
expression, its file read once), the step or graph it asks for, and where the text goes; the
reading and reporting ``chainrule verify`` shares (:mod:`chainrule.cli.verify`). cli.py parses
and turns errors into one line; this does the work.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from chainrule.errors import ChainruleError

MAX_OPTION_NUMBERS = 10_000  # numbers in --input or --target


def _render(trace, args: argparse.Namespace, terminal: bool) -> str:
    if args.format == "json":
        return trace.to_json() + "\n"
    options = {"precision": args.precision, "param": args.param, "only": args.only}
    if args.example is not None:
        if args.format not in ("text", "markdown", "latex"):
            raise ChainruleError("--example: only for --format text, markdown or latex")
        options["example"] = args.example
    if args.symbolic and args.format in ("text", "markdown", "latex"):
        from chainrule.verify.symbolic import symbolic_gradients

        options["symbolic"] = symbolic_gradients(trace.spec)
    elif args.symbolic:
        raise ChainruleError("--symbolic: only for --format text, markdown or latex")
    if args.format == "text":
        from chainrule.explain.render.text import render_text

        return render_text(trace, color=terminal, width=_width(args), **options)
    if args.format == "markdown":
        from chainrule.explain.render.markdown import render_markdown

        return render_markdown(trace, **options)
    if args.format == "latex":
        from chainrule.explain.render.latex import render_latex

        return render_latex(trace, fragment=args.fragment, **options)
    from chainrule.explain.render.html import render_html

    return render_html(trace, fragment=args.fragment, **options)


def _layered(spec: Any) -> bool:
    return hasattr(spec, "input_shape")  # a LayeredSpec, without importing it


def _computation(args: argparse.Namespace) -> tuple[Any, tuple | None]:
    """What explain or verify is about, its file read once: ``(network, None)`` — a preset
    name, a path not found (load_spec names it) or a parsed Spec — or ``(None, (program,
    values))`` for ``--expr``/``--at`` or a spec file holding ``expression`` and ``at``."""
    from chainrule.spec.network import PRESETS, parse_spec, read_spec_file

    if args.expr is not None:
        return None, _expression(args)
    path = None
    if args.spec is not None and args.spec not in PRESETS:
        from pathlib import Path

        path = Path(args.spec)
    if path is not None and (path.exists() or path.is_symlink()):
        from chainrule.expr.program import is_expression_spec, load_expression_spec

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
    from chainrule.expr.program import parse_at, parse_program

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


def _npy(path: str) -> list[float]:
    """The numbers of a .npy file (never pickled objects), at most MAX_OPTION_NUMBERS."""
    import io

    import numpy as np

    from chainrule.inputs import read_bytes

    data = read_bytes(path, ChainruleError, "--input", limit=MAX_OPTION_NUMBERS * 8 + 4096)
    try:
        values = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ChainruleError(f"--input: {path}: not a NumPy .npy file of numbers "
                             f"({str(error)[:100]})") from None
    if values.dtype.kind not in "iuf" or not np.isfinite(values).all():
        raise ChainruleError(f"--input: {path}: expected finite numbers, got "
                             f"{values.dtype} values" + ("" if values.dtype.kind not in "f"
                                                          else " with NaN or infinity"))
    return values.astype(float).ravel().tolist() if values.ndim else [float(values)]


def _trained_step(args: argparse.Namespace):
    """One step of a saved network on one example; inputs are standardised as in training."""
    import numpy as np

    from chainrule.train.checkpoint import load_model, standardized_input
    from chainrule.tables.losses import LOSS_TABLE
    from chainrule.explain.trace import explain

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
    if not isinstance(loss, str) or loss not in LOSS_TABLE:
        from chainrule.spec.validate import shown

        raise ChainruleError(f"{args.model}: extra.loss: expected one of "
                             f"{', '.join(LOSS_TABLE)}, got {shown(loss)}")
    takes_classes = LOSS_TABLE[loss].target == "classes"
    if takes_classes and len(target) == 1 and model.sizes[-1] > 1:
        if target[0] != int(target[0]) or not 0 <= target[0] < model.sizes[-1]:
            raise ChainruleError(f"--target: expected a class index from 0 to "
                                 f"{model.sizes[-1] - 1}, got {target[0]:g}")
        target = int(target[0])
    elif len(target) != model.sizes[-1]:
        classes = " (or one class index)" if takes_classes else ""
        raise ChainruleError(f"--target: expected {model.sizes[-1]} numbers for the network's "
                             f"{model.sizes[-1]} outputs{classes}, got {len(target)}")
    lr = 0.1 if args.lr is None else args.lr
    if not lr > 0:
        raise ChainruleError(f"--lr: expected a positive number, got {lr}")
    return explain(model, input=x, target=target, loss=loss, learning_rate=lr,
                   steps=args.steps)


def _torch_step(args: argparse.Namespace):
    """The spec of one step of a saved PyTorch model (chainrule.interop.torch_files)."""
    from chainrule.interop.torch_files import torch_step_spec
    from chainrule.spec.network import parse_spec

    if args.arch is None:
        raise ChainruleError("--torch: also give --arch, the architecture (a spec file or "
                             "FILE.py:FUNCTION)")
    shape = None
    if args.input_shape is not None:
        shape = [int(n) if float(n) == int(n) and n > 0 else -1
                 for n in _numbers(args.input_shape, "--input-shape")]
        if not 1 <= len(shape) <= 3 or min(shape) < 1:
            raise ChainruleError(f"--input-shape: expected 1 to 3 positive integers like "
                                 f"3,32,32, got {args.input_shape!r}")
    values = None
    if args.input is not None:
        if args.input.endswith(".npy"):
            values = _npy(args.input)
        else:
            values = _numbers(args.input, "--input")
    target = None if args.target is None else _numbers(args.target, "--target")
    spec = torch_step_spec(args.torch, args.arch, input_shape=shape, loss=args.loss,
                           learning_rate=args.lr, input=values, target=target)
    return parse_spec(spec, default_name=spec["name"])


def run_explain(args: argparse.Namespace) -> int:
    from chainrule.explain.profiles import profile, using

    notation = getattr(args, "notation", None)
    if notation is not None:
        try:
            profile(notation)
        except ValueError as error:
            raise ChainruleError(f"--{error}") from None
        if args.format in ("html", "json") or args.graph:
            raise ChainruleError(f"--notation: for --format text, markdown or latex (the "
                                 f"{'graph' if args.graph else args.format} names quantities "
                                 f"as chainrule does)")
    with using(notation):
        return _run_explain(args)


def _run_explain(args: argparse.Namespace) -> int:
    from chainrule.spec.network import MAX_STEPS
    from chainrule.explain.trace import explain

    args.precision = _digits(args)
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise ChainruleError(f"--steps: expected 1 to {MAX_STEPS}, got {args.steps}")
    if args.fragment and args.format not in ("latex", "html"):
        raise ChainruleError("--fragment: only for --format latex or html")
    if args.graph:
        _refuse_layer_options(args, "--graph shows one step's graph, not its layers")
    if args.torch is None:
        for flag, value in (("--arch", args.arch), ("--input-shape", args.input_shape),
                            ("--loss", args.loss)):
            if value is not None:
                raise ChainruleError(f"{flag}: only with --torch WEIGHTS")
    else:
        if args.model or args.expr is not None or args.spec is not None:
            raise ChainruleError("--torch: explains a saved PyTorch model; give no spec, "
                                 "--model or --expr")
        return _explain_layers(_torch_step(args), args)
    if args.model:
        if args.expr is not None or args.spec is not None:
            raise ChainruleError("--model: explains a saved network; give no spec or --expr")
        trace = _trained_step(args)
    else:
        network, expression = _computation(args)
        if expression is not None:
            return _explain_expression(args, *expression)
        if _layered(network):
            return _explain_layers(network, args)
        trace = explain(network, steps=args.steps)
    if args.graph:
        return _write_graph(trace.graph, args)
    if args.param is not None:  # any spelling (w¹₁₂, w1_12, W1[0,1]) to the one key
        import numpy as np

        from chainrule.explain.element_names import element_key

        args.param = element_key(args.param, {name: np.shape(values)
                                              for name, values in trace.parameters.items()})
    _write(_render(trace, args, terminal=_colour()), args)
    return 0


def _explain_layers(spec: Any, args: argparse.Namespace) -> int:
    """A network of typed layers, layer by layer (chainrule.explain.lens.layers)."""
    from chainrule.explain.lens.layer_derivations import Focus
    from chainrule.explain.lens.layers import explain_layers
    from chainrule.explain.render.layers import render_layers

    for flag, value in (("--graph", args.graph), ("--example", args.example),
                        ("--symbolic", args.symbolic)):
        if value:
            raise ChainruleError(f"{flag}: for MLP specs; a network of typed layers is "
                                 "explained layer by layer")
    focus = Focus.parse(args.param) if args.param else None
    if focus is not None:
        names = {name for name, _ in spec.build_model().named_parameters()}
        if focus.name not in names and not focus.name.endswith(".input"):
            raise ChainruleError(f"--param: no parameter {focus.name!r}; this network has "
                                 f"{', '.join(sorted(names))} (or LAYER.input[...] for a "
                                 f"layer's input)")
    trace = explain_layers(spec, steps=args.steps, focus=focus)
    options: dict[str, Any] = {"precision": args.precision, "only": args.only}
    if args.format == "text":
        options["width"] = _width(args)
    if args.format in ("html", "latex"):
        options["fragment"] = args.fragment
    _write(render_layers(trace, args.format, **options), args)
    return 0


def _digits(args: argparse.Namespace):
    """The digits every number is shown with: ``--precision`` decimals, ``--sig``
    significant digits, or by default 4 significant digits (the pages too: their scripts
    write both)."""
    from chainrule.explain.numfmt import DEFAULT_SIGNIFICANT, Significant

    if args.precision is not None:
        if not 0 <= args.precision <= 17:
            raise ChainruleError(f"--precision: expected 0 to 17 decimals, got {args.precision}")
        return args.precision
    if args.sig is not None:
        if not 1 <= args.sig <= 17:
            raise ChainruleError(f"--sig: expected 1 to 17 significant digits, got {args.sig}")
        return Significant(args.sig)
    return DEFAULT_SIGNIFICANT


def _width(args: argparse.Namespace) -> int:
    """The terminal's width (or $COLUMNS); 100 columns for a file (-o) or a pipe."""
    from chainrule.explain.render.text import WIDTH

    if args.output or ("COLUMNS" not in os.environ and not sys.stdout.isatty()):
        return WIDTH
    from chainrule.cli.terminal import columns

    return max(40, columns(WIDTH))


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _write(text: str, args: argparse.Namespace) -> None:
    if args.output:
        from chainrule.files import write_atomically

        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)


def _explain_expression(args: argparse.Namespace, program, at: dict[str, float]) -> int:
    """An expression's recorded graph, node by node (chainrule.explain.graph), in any format."""
    from chainrule.expr.program import evaluate
    from chainrule.explain.graph import explain_graph

    _refuse_layer_options(args, "for a network's step, not an expression's graph",
                          model=True)
    evaluation = evaluate(program, at)
    return _write_graph(explain_graph(evaluation.output, names=evaluation.names), args)


def _refuse_layer_options(args: argparse.Namespace, why: str, model: bool = False) -> None:
    """The options of the layer view have no meaning for a graph: one line, not ignored."""
    options = [("--param", args.param), ("--only", args.only), ("--steps", args.steps),
               ("--symbolic", args.symbolic or None), ("--example", args.example)]
    if model:
        options.append(("--model", args.model))
    for option, given in options:
        if given is not None:
            raise ChainruleError(f"{option}: {why}")


def _write_graph(trace, args: argparse.Namespace) -> int:
    """A recorded graph (chainrule.explain.graph_data.GraphTrace) in the chosen format."""
    options: dict = {"precision": args.precision}
    if args.format == "text":
        options["color"] = _colour() and not args.output
        options["width"] = _width(args)
    elif args.format in ("latex", "html"):
        options["fragment"] = args.fragment
    from chainrule.explain.render import render

    text = render(trace, args.format, **options)
    _write(text if text.endswith("\n") else text + "\n", args)
    return 0


def _with_option(option: str, parse, text: str):
    """``parse(text)``, its error prefixed by the option it came from."""
    from chainrule.errors import ExprError

    try:
        return parse(text)
    except ExprError as error:
        raise ExprError(f"{option}: {error}", line=error.line, column=error.column) from None
