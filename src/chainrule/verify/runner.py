"""Run someone's step function in its own process; :mod:`chainrule.verify.channel` starts this.

A standalone script (standard library and NumPy only, no chainrule import), run by path as
``python -I -S runner.py`` inside the sandbox (:mod:`chainrule.verify.sandbox`). Protocol:

* stdin: one JSON object ``{"file", "function", "call", ..., "site", "work", "channel",
  "nonce"}``; ``site`` holds NumPy, ``channel`` is the fd of the result pipe; ``call`` says
  how the function is called (:data:`CALLS`): ``"step"`` (a network's training step, with
  ``"params", "x", "t", "t_integer", "learning_rate"``; the default), ``"values"`` (an
  expression's gradients, with ``"values"``, the inputs by name) or ``"layer"`` (a CS231n-style
  layer function, with ``"args"`` and the names of the outputs judged, ``"returns"``; with
  ``"forward": {"function", "args"}`` the function is a backward pass, called with ``args``
  and then the cache its own forward function returns, whose output comes back as
  ``"forward.out"``);
* the result pipe: the nonce, a newline, then ``{"ok": true, "result": {...}}`` or
  ``{"ok": false, "error": "one line"}`` and a newline, written once, after which the
  process ends at once (no ``atexit`` handler of the user's runs). Everything the user's
  code prints goes to stdout/stderr, which the parent reads only as text for messages.

The nonce and the fd live only in a closure, and stdin is closed before the user's file is
imported, so a file that merely prints or writes a made-up result is not believed. This is
not a wall against code that inspects this process's memory (docs/security.md): such code
can at most hand back numbers, which the parent judges itself.

In the result, each returned key holds ``{"array": {"shape": [...], "values": [...]}}`` or
``{"mapping": {name: {"shape": ..., "values": ...}}}``; NaN and infinities pass as JSON's
``NaN``/``Infinity`` extensions, which Python's json reads back.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(Exception):
    """A problem with the user's code, already worded for the report."""


def main() -> None:
    request = json.loads(sys.stdin.read())
    send = channel(request.pop("channel"), request.pop("nonce"))
    sys.stdin.close()
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0 again: input() sees an empty stdin
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    # NumPy first; the user's folder last, so a file named like a standard module (json.py)
    # cannot stand in for it
    sys.path[:0] = [request["site"]]
    sys.path.append(request["work"])
    sys.dont_write_bytecode = True
    try:
        response = {"ok": True, "result": run(request)}
    except Failure as failure:
        response = {"ok": False, "error": str(failure)}
    send(json.dumps(response))


def channel(fd: int, nonce: str) -> Callable[[str], None]:
    """The one way to send the result; keeps the fd and nonce out of any global."""

    def send(text: str) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        data = (nonce + "\n" + text + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
        os.close(fd)
        os._exit(0)  # nothing of the user's (atexit, finalizers, threads) runs after this

    return send


def run(request: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    path, name = request["file"], request["function"]
    function = getattr(load(path), name, None)
    if function is None:
        module = sys.modules["_chainrule_impl"]
        defined = [key for key, value in vars(module).items()
                   if inspect.isfunction(value) and value.__module__ == module.__name__]
        known = f" (functions defined there: {', '.join(defined)})" if defined else \
            " (it defines no functions)"
        raise Failure(f"no function {name!r} in {os.path.basename(path)}{known}")
    if not callable(function):
        raise Failure(f"{name!r} is {type(function).__name__}, not a function")
    call = request.get("call", "step")
    arguments, returns = CALLS[call]
    args = arguments(request, np)
    forward_out = None
    if call == "layer" and request.get("forward"):  # backward(dout, the forward's own cache)
        forward_out, cache = forward_cache(request["forward"], path, np)
        args = args + (cache,)
    try:
        result = function(*args)
    except BaseException as error:  # the user's exception, reported as one line
        raise Failure(f"{name}() raised {describe(error, path)}") from None
    if call == "layer":
        result = outputs(result, name, request["returns"])
        if forward_out is not None:
            result["forward.out"] = forward_out
    return encode(result, name, returns)


def forward_cache(forward: dict[str, Any], path: str, np: Any) -> tuple[Any, Any]:
    """(out, cache) of the user's forward function, called on ``forward["args"]``: the
    cache a CS231n backward function is given is its own forward pass's."""
    name = forward["function"]
    function = getattr(sys.modules["_chainrule_impl"], name, None)
    if not callable(function):
        raise Failure(f"no function {name!r} in {os.path.basename(path)}: the backward pass "
                      f"is given the cache of its forward pass, {name}()")
    try:
        result = function(*layer_arguments(forward, np))
    except BaseException as error:
        raise Failure(f"{name}() raised {describe(error, path)}") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Failure(f"{name}() returned {type(result).__name__}, expected (out, cache)")
    return result[0], result[1]


def step_arguments(request: dict[str, Any], np: Any) -> tuple:
    """``step(params, x, t, learning_rate)``: copies, float64 (a class target as int)."""
    params = {key: np.array(value, dtype=float) for key, value in request["params"].items()}
    x = np.array(request["x"], dtype=float)
    t = np.array(request["t"], dtype=int if request["t_integer"] else float)
    return params, x, t, float(request["learning_rate"])


def values_arguments(request: dict[str, Any], np: Any) -> tuple:
    """``fn(values)``: an expression's inputs by name, plain floats in a fresh dict."""
    return ({str(key): float(value) for key, value in request["values"].items()},)


def layer_arguments(request: dict[str, Any], np: Any) -> tuple:
    """A layer function's arguments (CS231n's ``affine_backward(dout, cache)``): each an
    array (``{"array": nested list, "integer": bool}``) or a tuple of them (a cache)."""
    def decode(item: dict[str, Any]) -> Any:
        if "tuple" in item:
            return tuple(decode(part) for part in item["tuple"])
        if "dict" in item:  # conv_param, bn_param: a fresh dict the function may change
            return {str(key): decode(value) for key, value in item["dict"].items()}
        if "scalar" in item:  # a stride, eps or mode, as a plain int, float or str
            return item["scalar"]
        return np.array(item["array"], dtype=int if item.get("integer") else float)
    return tuple(decode(item) for item in request["args"])


def outputs(result: Any, name: str, returns: list[str]) -> dict[str, Any]:
    """A layer function's outputs by name: its tuple's first ``len(returns)`` items (a cache
    after them is the function's own business), or the one value it returns."""
    many = isinstance(result, tuple) or (isinstance(result, list) and len(returns) > 1)
    items = list(result) if many else [result]
    if len(items) < len(returns):
        raise Failure(f"{name}() returned {len(items)} value{'s' if len(items) != 1 else ''}, "
                      f"expected {', '.join(returns)}")
    return dict(zip(returns, items))


# How the function is called, and what its result is described as in a message.
CALLS = {
    "step": (step_arguments, '"gradients", "updated", "loss", "forward" and/or "backward"'),
    "values": (values_arguments, '"forward" and/or "gradients"'),
    "layer": (layer_arguments, "its outputs"),
}


def load(path: str):
    loader = importlib.machinery.SourceFileLoader("_chainrule_impl", path)
    spec = importlib.util.spec_from_loader("_chainrule_impl", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_chainrule_impl"] = module
    try:
        loader.exec_module(module)
    except SyntaxError as error:
        where = f"{os.path.basename(error.filename or path)}:{error.lineno}"
        raise Failure(f"syntax error at {where}: {error.msg}") from None
    except BaseException as error:
        raise Failure(f"importing {os.path.basename(path)} raised "
                      f"{describe(error, path)}") from None
    return module


def describe(error: BaseException, path: str) -> str:
    """``ZeroDivisionError: division by zero (impl.py:12 in step: return 1 / 0)``: the
    exception and the last line of the user's file it passed through."""
    if isinstance(error, SystemExit):
        return f"SystemExit (it called sys.exit({error.code!r}))"
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    text = " ".join(text.splitlines()[-1:]) or type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(path)]
    theirs = [f for f in frames if os.path.dirname(os.path.abspath(f.filename)) != HERE]
    frame = (mine or theirs or [None])[-1]
    if frame is None:
        return text
    line = f": {frame.line.strip()}" if frame.line else ""
    return f"{text} ({os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}{line})"


def encode(result: Any, name: str, returns: str) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise Failure(f"{name}() returned {type(result).__name__}, expected a dict with "
                      f"{returns}")
    out = {}
    for key, value in result.items():
        if isinstance(value, Mapping):
            out[str(key)] = {"mapping": {str(k): array(v, f"{name}()[{key!r}][{k!r}]")
                                         for k, v in value.items()}}
        else:
            out[str(key)] = {"array": array(value, f"{name}()[{key!r}]")}
    return out


def array(value: Any, where: str) -> dict[str, Any]:
    import numpy as np

    for method in ("detach", "cpu"):  # a PyTorch tensor
        if callable(getattr(value, method, None)):
            value = getattr(value, method)()
    try:
        if value is None:  # np.asarray(None, dtype=float) would be a silent NaN
            raise TypeError
        values = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise Failure(f"{where} is {shown}: not a number or an array of numbers") from None
    return {"shape": list(values.shape), "values": values.ravel().tolist()}


if __name__ == "__main__":
    main()
