"""chainrule.frozen: dataclasses whose fields are set once, as frozen=True made them."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError, dataclass, field, replace

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain.notation import Symbol
from chainrule.frozen import Frozen
from chainrule.tables.activations import ACTIVATION_TABLE


@dataclass(unsafe_hash=True)
class Point(Frozen):
    x: float
    label: str = "p"
    tags: tuple = ()


@dataclass(slots=True, eq=False)
class Slotted(Frozen):
    values: np.ndarray
    extra: dict = field(default_factory=dict)


@pytest.mark.parametrize("make, name", [(lambda: Point(1.0), "x"), (lambda: Point(1.0), "label"),
                                        (lambda: Slotted(np.zeros(2)), "values"),
                                        (lambda: Slotted(np.zeros(2)), "extra")])
def test_a_field_cannot_be_assigned_again_or_deleted(make, name):
    record = make()
    with pytest.raises(FrozenInstanceError, match=f"cannot assign to field '{name}'"):
        setattr(record, name, 2.0)
    with pytest.raises(FrozenInstanceError, match=f"cannot delete field '{name}'"):
        delattr(record, name)


def test_defaults_and_factories_are_set_by_init():
    assert Point(2.0).label == "p" and Point(2.0, "q").label == "q"
    first, second = Slotted(np.ones(1)), Slotted(np.ones(1))
    assert first.extra == {} and first.extra is not second.extra
    assert not hasattr(first, "__dict__")  # slots stay slots


def test_equal_records_hash_alike_as_frozen_ones_did():
    assert Point(1.0, "a") == Point(1.0, "a") and hash(Point(1.0, "a")) == hash(Point(1.0, "a"))
    assert len({Symbol("w", "w"), Symbol("w", "w"), Symbol("b", "b")}) == 2


def test_replace_copy_and_pickle_make_new_records():
    point = Point(1.0, "a", (1, 2))
    assert replace(point, x=3.0) == Point(3.0, "a", (1, 2)) and point.x == 1.0
    assert copy.copy(point) == point and copy.deepcopy(point) == point
    assert pickle.loads(pickle.dumps(point)) == point
    slotted = pickle.loads(pickle.dumps(Slotted(np.arange(3.0), {"k": 1})))
    assert slotted.values.tolist() == [0.0, 1.0, 2.0] and slotted.extra == {"k": 1}


def test_the_library_records_are_frozen():
    spec = cr.load_spec("seed")
    with pytest.raises(FrozenInstanceError):
        spec.learning_rate = 0.5
    with pytest.raises(FrozenInstanceError):
        ACTIVATION_TABLE["sigmoid"].symbol = "s"
    node = cr.explain("seed").graph.nodes[0]
    with pytest.raises(FrozenInstanceError):
        node.value = np.zeros(1)
    assert replace(spec, learning_rate=0.5).learning_rate == 0.5 and spec.learning_rate == 0.1
