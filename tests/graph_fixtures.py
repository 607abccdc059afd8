"""Hand-built ``chainrule.graph/1`` traces for the graph page's tests.

The numbers are worked here with ``math``, independently of the engine: a value per node, a
local derivative per input, and each gradient accumulated from the output back.
"""

from __future__ import annotations

import math

HOSTILE = "<img src=x onerror=alert(1)>"

# op: forward, local derivatives, their formulas in terms of the input names {0}, {1}
_OPS = {
    "add": (lambda a, b: a + b, lambda a, b: (1.0, 1.0), ("1", "1")),
    "mul": (lambda a, b: a * b, lambda a, b: (b, a), ("{1}", "{0}")),
    "neg": (lambda a: -a, lambda a: (-1.0,), ("−1",)),
    "exp": (math.exp, lambda a: (math.exp(a),), ("exp({0})",)),
    "div": (lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2), ("1/{1}", "−{0}/{1}²")),
    "tanh": (math.tanh, lambda a: (1 - math.tanh(a) ** 2,), ("1 − tanh²({0})",)),
}


def build(rows: list[tuple]) -> dict:
    """``rows``: ``(name, value)`` for an input, ``(name, op, [inputs])`` for an op node; an
    input name means the latest node of that name. The last row is the output."""
    nodes: list[dict] = []
    sources: list[list[int]] = []
    for row in rows:
        if len(row) == 2:
            name, value = row
            nodes.append({"name": name, "op": None, "inputs": [], "value": float(value),
                          "grad": 0.0, "local": []})
            sources.append([])
            continue
        name, op, inputs = row
        index = [max(i for i, node in enumerate(nodes) if node["name"] == ref) for ref in inputs]
        forward, derivative, forms = _OPS[op]
        args = [nodes[i]["value"] for i in index]
        local = [{"input": ref, "formula": f"∂{name}/∂{ref} = " + forms[k].format(*inputs),
                  "latex": rf"\frac{{\partial {name}}}{{\partial {ref}}}",
                  "value": derivative(*args)[k]} for k, ref in enumerate(inputs)]
        nodes.append({"name": name, "op": op, "inputs": list(inputs), "value": forward(*args),
                      "grad": 0.0, "local": local})
        sources.append(index)
    nodes[-1]["grad"] = 1.0
    for j in range(len(nodes) - 1, -1, -1):
        for k, i in enumerate(sources[j]):
            nodes[i]["grad"] += nodes[j]["grad"] * nodes[j]["local"][k]["value"]
    return {"schema": "chainrule.graph/1", "output": nodes[-1]["name"], "nodes": nodes}


# CS231n's circuit, written out in full: f = (x + y) z at x = -2, y = 5, z = -4.
CS231N = {
    "schema": "chainrule.graph/1", "output": "f",
    "nodes": [
        {"name": "x", "op": None, "inputs": [], "value": -2.0, "grad": -4.0, "local": []},
        {"name": "y", "op": None, "inputs": [], "value": 5.0, "grad": -4.0, "local": []},
        {"name": "z", "op": None, "inputs": [], "value": -4.0, "grad": 3.0, "local": []},
        {"name": "q", "op": "add", "inputs": ["x", "y"], "value": 3.0, "grad": -4.0, "local": [
            {"input": "x", "formula": "∂q/∂x = 1", "latex": r"\frac{\partial q}{\partial x} = 1",
             "value": 1.0},
            {"input": "y", "formula": "∂q/∂y = 1", "latex": r"\frac{\partial q}{\partial y} = 1",
             "value": 1.0}]},
        {"name": "f", "op": "mul", "inputs": ["q", "z"], "value": -12.0, "grad": 1.0, "local": [
            {"input": "q", "formula": "∂f/∂q = z", "latex": r"\frac{\partial f}{\partial q} = z",
             "value": -4.0},
            {"input": "z", "formula": "∂f/∂z = q", "latex": r"\frac{\partial f}{\partial z} = q",
             "value": 3.0}]},
    ],
}

# (a·b)·(a+b): a and b each take two paths to f.
REUSED = build([("a", 3.0), ("b", -2.0), ("p", "mul", ["a", "b"]), ("s", "add", ["a", "b"]),
                ("f", "mul", ["p", "s"])])

# A two-layer scalar network with a squared error: 29 nodes, inputs used twice, d·d.
NETWORK = build([
    ("x1", 0.5), ("x2", -1.5), ("w11", 0.8), ("w12", -0.4), ("w21", 0.3), ("w22", 0.9),
    ("b1", 0.1), ("b2", -0.2),
    ("m11", "mul", ["w11", "x1"]), ("m12", "mul", ["w12", "x2"]), ("s1", "add", ["m11", "m12"]),
    ("z1", "add", ["s1", "b1"]), ("h1", "tanh", ["z1"]),
    ("m21", "mul", ["w21", "x1"]), ("m22", "mul", ["w22", "x2"]), ("s2", "add", ["m21", "m22"]),
    ("z2", "add", ["s2", "b2"]), ("h2", "tanh", ["z2"]),
    ("v1", 1.2), ("v2", -0.7), ("c", 0.05), ("t", 1.0),
    ("o1", "mul", ["v1", "h1"]), ("o2", "mul", ["v2", "h2"]), ("s3", "add", ["o1", "o2"]),
    ("y", "add", ["s3", "c"]), ("nt", "neg", ["t"]), ("d", "add", ["y", "nt"]),
    ("L", "mul", ["d", "d"]),
])

# A 2-D sigmoid neuron, CS231n's second circuit, with a reassigned name (s) and a hostile one.
NEURON = build([
    ("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0), ("w2", -3.0),
    ("m0", "mul", ["w0", "x0"]), ("m1", "mul", ["w1", "x1"]), ("s", "add", ["m0", "m1"]),
    ("s", "add", ["s", "w2"]), ("n", "neg", ["s"]), (HOSTILE, "exp", ["n"]), ("one", 1.0),
    ("d", "add", ["one", HOSTILE]), ("f", "div", ["one", "d"]),
])


def edges_of(graph: dict) -> list[tuple[int, int, int]]:
    """(source, target, slot) per wire, in the page's order: by target, then input slot."""
    latest: dict[str, int] = {}
    edges = []
    for j, node in enumerate(graph["nodes"]):
        for slot, ref in enumerate(node["inputs"]):
            edges.append((latest[ref], j, slot))
        latest[node["name"]] = j
    return edges
