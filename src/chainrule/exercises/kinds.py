"""Which sheet module writes an exercise that is not an MLP's: a circuit's
(:mod:`chainrule.exercises.circuit_sheet`) or a network of typed layers'
(:mod:`chainrule.exercises.layered_sheet`). Each holds ``markdown_lines``, ``latex_lines``,
``notebook_text``, ``worked_markdown``, ``worked_latex`` and ``working``; the MLP's sheet is
written by the format modules themselves."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def special_sheet(spec: Any) -> ModuleType | None:
    from chainrule.exercises.circuit import is_circuit
    from chainrule.exercises.layered import is_layered

    if is_circuit(spec):
        from chainrule.exercises import circuit_sheet

        return circuit_sheet
    if is_layered(spec):
        from chainrule.exercises import layered_sheet

        return layered_sheet
    return None
