"""The package's layers: imports run one way, and no module imports back into itself.

Every import of a chainrule module is counted, at the top of a file or inside a function (a
lazy import is still a dependency; it only runs later). Layers, lowest first::

    base       errors, frozen, files, fileset, escape, inputs, finite, version, tables/
    autodiff/  the op table, the engine, the Tensor
    nn/        layers, activations, losses, init
    optim/     optimizers and schedules
    spec/      network specs and their limits
    expr/      the expression language
    explain/   the recorded graph, the trace, the layer lens, the renderers
    verify/, train/
    exercises/
    cli/       and chainrule/__init__.py, the public API

A module may import its own layer and those below, and modules form no circle, with no
exception: Jupyter's display hooks, which its protocol puts on the objects themselves (a
Tensor, a Trace), find their renderers in :mod:`chainrule.display`, where the renderers
register.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chainrule

SRC = Path(chainrule.__file__).parent
BASE = ("errors", "frozen", "files", "fileset", "escape", "inputs", "finite", "version",
        "display", "words", "tables")
LAYERS = [BASE, ("autodiff",), ("nn",), ("optim",), ("spec",), ("expr",), ("explain",),
          ("verify", "train", "interop"), ("exercises",), ("cli", "__init__", "__main__")]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
EXCEPTIONS: set[tuple[str, str]] = set()  # (importer, imported): none


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The chainrule modules ``path`` imports (``from chainrule import inputs``: inputs), but
not those under ``if TYPE_CHECKING:``."""
    found = set()
    modules = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for n in ast.walk(block)}  # annotations only: never imported at run time
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chainrule"):
            # a submodule imported from its package (``from chainrule.tables import losses``)
            # is a dependency on that submodule; any other name, on the module that holds it
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {n for n in names if n in modules}
            if any(n not in modules for n in names):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("chainrule")}
    return found


_MODULES: set[str] = set()


def _modules() -> set[str]:
    if not _MODULES:
        _MODULES.update(_module(p) for p in SRC.rglob("*.py"))
    return _MODULES


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    """Module → the modules its imports run. Importing ``a.b.c`` runs the ``__init__`` of
    ``a`` and ``a.b`` first, unless the importer is inside them (then they are running)."""
    graph = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module(path)
        own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        targets = set()
        for target in _imports(path):
            parts = target.split(".")
            targets |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
        graph[module] = targets - own - {module}
    return graph


def test_every_module_belongs_to_a_layer():
    assert {_unit(m) for m in _modules()} - set(RANK) == set()


def test_imports_run_down_the_layers():
    upward = [f"{module} imports {target} ({_unit(module)} → {_unit(target)})"
              for module, targets in _graph().items() for target in sorted(targets)
              if RANK[_unit(target)] > RANK[_unit(module)]
              and (module, target) not in EXCEPTIONS]
    assert upward == []


def test_layers_of_one_rank_do_not_import_each_other_both_ways():
    graph = _graph()
    between = {(_unit(m), _unit(t)) for m, ts in graph.items() for t in ts
               if _unit(m) != _unit(t) and RANK[_unit(m)] == RANK[_unit(t)]}
    assert {(a, b) for a, b in between if (b, a) in between} == set()


def test_no_module_imports_back_into_itself():
    """No circle of imports between modules, lazy ones included (Tarjan's strongly
    connected components over the module graph)."""
    graph = {m: {t for t in ts if t in _modules() and (m, t) not in EXCEPTIONS}
             for m, ts in _graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []
