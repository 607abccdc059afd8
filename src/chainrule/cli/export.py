"""``chainrule export MODEL --to torch|onnx -o FILE``: a network, from a spec, a built-in
network or a model ``chainrule train --save`` wrote, as files PyTorch or an ONNX runtime
runs (:mod:`chainrule.interop.export`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chainrule.errors import ChainruleError


def add_export_parser(commands, summary: str, formatter) -> None:
    export = commands.add_parser(
        "export", help=summary, formatter_class=formatter,
        description="Write a network as readable PyTorch code with its weights as "
                    "safetensors (--to torch), or as an ONNX model (--to onnx). A model "
                    "trained on standardised features carries its standardiser: the code's "
                    "standardize(x), the ONNX graph's first step (see docs/pytorch.md).")
    export.add_argument("model", nargs="?", default=None,
                        help="a model file (chainrule train --save FILE.npz), a spec file or "
                             "a built-in network (default: seed)")
    export.add_argument("--to", choices=("torch", "onnx"), required=True,
                        help="torch: FILE.py and FILE.safetensors beside it; onnx: FILE.onnx")
    export.add_argument("-o", "--output", metavar="FILE", required=True,
                        help="the file to write (model.py for torch, model.onnx for onnx)")
    export.add_argument("--dtype", choices=("float32", "float64"), default=None,
                        help="with --to onnx: the graph's float type (default float32, what "
                             "runtimes run fastest; the torch code is float64, as chainrule)")


def run_export(args: argparse.Namespace) -> int:
    from chainrule.interop.export import exportable

    out = Path(args.output)
    if args.to == "torch":
        if args.dtype is not None:
            raise ChainruleError("--dtype: for --to onnx; the PyTorch code is float64, "
                                 "model.float() converts it")
        if out.suffix != ".py" or not out.stem.isidentifier():
            raise ChainruleError(f"-o: expected a Python module's file name like model.py "
                                 f"(letters, digits and _), got {args.output!r}")
    elif out.suffix != ".onnx":
        raise ChainruleError(f"-o: expected a file name ending in .onnx, got {args.output!r}")
    item = exportable(args.model)
    if args.to == "torch":
        from chainrule.fileset import write_set
        from chainrule.interop.export import torch_files

        written = write_set(out.parent if str(out.parent) else ".",
                            torch_files(item, out.stem))
    else:
        from chainrule.files import write_atomically
        from chainrule.interop.export import onnx_bytes

        write_atomically(out, onnx_bytes(item, args.dtype or "float32"))
        written = [out]
    names = " and ".join(str(path) for path in written)
    print(f"chainrule: wrote {item.name} ({type(item.model).__name__}, input "
          f"{tuple(item.input_shape)}) to {names}", file=sys.stderr)
    return 0
