"""Every mistake grading can name: the network catalogue (:mod:`chainrule.verify.mistakes`),
then the circuit mistakes (:mod:`chainrule.verify.circuit_mistakes`) and the layer mistakes
(:mod:`chainrule.verify.layer_mistakes`). Reports read the
title and explanation from here; the order breaks ties between diagnoses."""

from __future__ import annotations

from typing import Any

from chainrule.verify.circuit_mistakes import CIRCUIT_MISTAKES
from chainrule.verify.layer_mistakes import LAYER_MISTAKES
from chainrule.verify.mistakes import MISTAKES as NETWORK_MISTAKES

MISTAKES: dict[str, Any] = {**NETWORK_MISTAKES, **CIRCUIT_MISTAKES, **LAYER_MISTAKES}
