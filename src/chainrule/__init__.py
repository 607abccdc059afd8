"""chainrule: a backpropagation workbench.

Compute a training step with a reverse-mode autodiff engine on NumPy, and see every number.

>>> import chainrule as cr
>>> x = cr.Tensor([0.5, 0.3])
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([1. , 0.6])

The public names are loaded on first use (PEP 562): ``import chainrule`` itself imports
nothing but the version, so that ``chainrule --version`` and ``chainrule explain`` start
without the modules they do not use. ``cr.Tensor``, ``from chainrule import explain`` and
``dir(cr)`` work as if everything had been imported here.
"""

from importlib import import_module
from typing import Any

from chainrule import display
from chainrule.version import __version__  # noqa: F401 (public)

# public name → the module that defines it (a subpackage's name: the subpackage itself)
_EXPORTS = {
    **dict.fromkeys(["ChainruleError", "GradcheckError", "GradError", "MissingDependency",
                     "ShapeError", "SpecError"], "chainrule.errors"),
    "NonFiniteError": "chainrule.finite",
    **dict.fromkeys(["enable_grad", "is_grad_enabled", "no_grad"], "chainrule.autodiff.engine"),
    **dict.fromkeys(["PRIMITIVES", "Primitive"], "chainrule.autodiff.ops"),
    "Tensor": "chainrule.autodiff.tensor",
    **dict.fromkeys(["cat", "clamp", "clip", "concatenate", "maximum", "minimum", "pad",
                     "stack", "where"], "chainrule.autodiff.tensor_ops"),
    "nn": "chainrule.nn",
    "optim": "chainrule.optim",
    **dict.fromkeys(["Spec", "load_spec", "parse_spec"], "chainrule.spec.network"),
    **dict.fromkeys(["GraphTrace", "explain_function", "explain_graph"],
                    "chainrule.explain.graph"),
    **dict.fromkeys(["Trace", "explain"], "chainrule.explain.trace"),
    "render": "chainrule.explain.render",
    **dict.fromkeys(["from_torch", "torch_spec"], "chainrule.interop.torch_in"),
    **dict.fromkeys(["GradcheckReport", "GradcheckWarning", "gradcheck", "gradcheck_spec"],
                    "chainrule.verify.gradcheck"),
}

__all__ = sorted(["__version__", *_EXPORTS])


def __getattr__(name: str) -> Any:
    """A public name, imported on first use and kept; any other submodule of the package
    (``cr.spec``), as ``import chainrule.spec`` would have made it."""
    module = _EXPORTS.get(name)
    if module is not None:
        loaded = import_module(module)
        value = loaded if module == f"{__name__}.{name}" else getattr(loaded, name)
    elif not name.startswith("_"):
        try:
            value = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{__name__}.{name}":  # the submodule exists; its import failed
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# ``chainrule.explain`` names both a subpackage and, here, a function. Importing a subpackage
# for the first time binds its name on this module, which would then hide the function from
# __getattr__; so the subpackage (its __init__ is a docstring) is imported now and the
# binding dropped: later imports of chainrule.explain.* do not bind it again.
import_module("chainrule.explain")
del globals()["explain"]


def _renderers() -> None:
    """Jupyter's pictures of a Tensor, a Trace or a GraphTrace are drawn by the renderers,
    which register in chainrule.display when imported: imported when a picture is first
    asked for, so that a session that never shows one never imports them."""
    from chainrule.explain import render  # noqa: F401  (registers its drawers)


display.register_later(_renderers)
