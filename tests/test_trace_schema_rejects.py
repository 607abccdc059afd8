"""The trace schema rejects structurally wrong traces: each mutation fails for its reason."""

from __future__ import annotations

import copy

import pytest

import chainrule as cr
from tests.test_trace_schema import CASES, errors


def _set(path: str, value):
    def mutate(data: dict) -> None:
        *parents, last = path.split("/")
        target = data
        for part in parents:
            target = target[int(part) if isinstance(target, list) else part]
        target[int(last) if isinstance(target, list) else last] = value
    return mutate


def _delete(path: str):
    def mutate(data: dict) -> None:
        *parents, last = path.split("/")
        target = data
        for part in parents:
            target = target[int(part) if isinstance(target, list) else part]
        del target[last]
    return mutate


def _rename(path: str, old: str, new: str):
    def mutate(data: dict) -> None:
        target = data
        for part in path.split("/"):
            target = target[part]
        target[new] = target.pop(old)
    return mutate


SEED_MUTATIONS = {
    "missing loss_after": _delete("loss_after"),
    "missing schema": _delete("schema"),
    "missing network": _delete("network"),
    "missing chain": _delete("chain"),
    "missing deltas": _delete("deltas"),
    "wrong schema string": _set("schema", "chainrule.trace/2"),
    "string for the loss": _set("forward/loss", "0.000427"),
    "string in a gradient": _set("gradients/W1/0/1", "-0.0006"),
    "string for loss_after": _set("loss_after", "0.0004"),
    "boolean in an activation": _set("forward/a1/0", True),
    "NaN as a string": _set("forward/z1/0", "NaN"),
    "unknown top-level key": _set("extra", 1),
    "a step number at the top level": _set("step", 1),
    "a single step list": _set("steps", []),
    "unknown network key": _set("network/epochs", 1),
    "unknown loss": _set("network/loss", "hinge"),
    "unknown activation": _set("network/activations/0", "gelu"),
    "negative learning rate": _set("network/learning_rate", -0.1),
    "layers of one": _set("network/layers", [2]),
    "bad frozen name": _set("network/frozen", ["w1"]),
    "unknown optimizer": _set("network/optimizer/name", "adam"),
    "batch size zero": _set("network/batch_size", 0),
    "missing input in the network": _delete("network/input"),
    "a batch example_losses in a single trace": _set("forward/example_losses", [0.1]),
    "a 2-D activation in a single trace": _set("forward/a1", [[0.5, 0.6]]),
    "a layer 0 net input": _set("forward/z0", [0.1]),
    "an unknown forward key": _set("forward/y", [0.1]),
    "missing input a0": _delete("forward/a0"),
    "missing dE_da": _delete("backward/dE_da2"),
    "missing delta1": _delete("backward/delta1"),
    "a 1-D weight": _set("parameters/W1", [0.2, 0.4]),
    "a 2-D bias": _set("updated/b1", [[0.1, 0.2]]),
    "an empty bias": _set("gradients/b1", []),
    "a parameter of layer 0": _set("gradients/W0", [[1.0]]),
    "a lower-case parameter": _rename("parameters", "W2", "w2"),
    "malformed chain key (two brackets)": _rename("chain", "W1[0,1]", "W1[0][1]"),
    "malformed chain key (spaces)": _rename("chain", "W1[0,1]", "W1[0, 1]"),
    "malformed chain key (one index for W)": _rename("chain", "W1[0,1]", "W1[1]"),
    "malformed chain key (two indices for b)": _rename("chain", "b1[0]", "b1[0,0]"),
    "malformed chain key (1-based layer 0)": _rename("chain", "W1[0,1]", "W0[0,1]"),
    "malformed chain key (no index)": _rename("chain", "W1[0,1]", "W1"),
    "a batch delta key in a single trace": _rename("deltas", "delta1[0]", "delta1[0,0]"),
    "malformed delta key": _rename("deltas", "delta1[0]", "δ1[0]"),
    "a parameter key among the deltas": _set("deltas/W1[0,0]", {}),
    "expansion without value": _delete("chain/W1[0,0]/value"),
    "expansion without symbol": _delete("chain/W1[0,0]/symbol"),
    "expansion without factors or terms": _delete("chain/W2[0,0]/factors"),
    "expansion with an empty factor list": _set("chain/W2[0,0]/factors", []),
    "expansion with an unknown key": _set("chain/W1[0,0]/note", "x"),
    "expansion with zero paths": _set("chain/W1[0,0]/paths", 0),
    "expansion with fractional paths": _set("chain/W1[0,0]/paths", 1.5),
    "expansion pointing at a bad delta": _set("chain/W1[0,0]/delta", "delta1"),
    "factor without formula": _delete("chain/W1[0,0]/factors/0/formula"),
    "factor with an unknown key": _set("chain/W1[0,0]/factors/0/unit", 1),
    "string factor value": _set("chain/W1[0,0]/factors/2/value", "0.5"),
    "term without value": _delete("deltas/delta1[0]/terms/0/value"),
    "term without factors": _set("deltas/delta1[0]/terms/0/factors", []),
    "delta without rule": _delete("deltas/delta2[0]/rule"),
    "delta resting on a delta": _set("deltas/delta2[0]/delta", "delta2[0]"),
    "chain_omitted with a chain": _set("chain_omitted", "too large"),
    "empty chain_omitted": _set("chain_omitted", ""),
}


@pytest.mark.parametrize("mutate", SEED_MUTATIONS.values(), ids=SEED_MUTATIONS.keys())
def test_mutated_seed_trace_is_rejected(mutate):
    data = cr.explain("seed").to_dict()
    assert errors(data) == []
    mutate(data)
    assert errors(data), "the mutated trace should not validate"


BATCH_MUTATIONS = {
    "missing example_losses": _delete("forward/example_losses"),
    "a 1-D activation in a batch": _set("forward/a1", [0.5, 0.6, 0.7]),
    "a 1-D delta in a batch": _set("backward/delta1", [0.5, 0.6, 0.7]),
    "a single-example delta key in a batch": _rename("deltas", "delta1[0,0]", "delta1[0]"),
    "batch_size null with batch shapes": _set("network/batch_size", None),
    "a step without its number": _delete("steps/1/step"),
    "a step number zero": _set("steps/1/step", 0),
    "a step with an unknown key": _set("steps/2/schema", "chainrule.trace/1"),
    "a step missing loss_after": _delete("steps/2/loss_after"),
    "a step with 1-D shapes": _set("steps/2/forward/a0", [0.0, 1.0]),
    "a string in a step": _set("steps/1/updated/b2/0", "0.0"),
}


@pytest.mark.parametrize("mutate", BATCH_MUTATIONS.values(), ids=BATCH_MUTATIONS.keys())
def test_mutated_batch_trace_is_rejected(mutate):
    data = cr.explain(CASES["plain steps, batch"]).to_dict()
    assert errors(data) == []
    mutate(data)
    assert errors(data), "the mutated trace should not validate"


def test_a_chain_beside_chain_omitted_is_rejected():
    spec = {"layers": [40, 50, 10], "loss": "mse", "input": [0.1] * 40, "target": [0.5] * 10,
            "learning_rate": 0.1}
    data = cr.explain(spec).to_dict()
    assert errors(data) == []
    broken = copy.deepcopy(data)
    del broken["chain_omitted"]
    assert errors(broken) == []  # an empty chain alone is structurally fine ...
    broken["chain"]["W1[0,0]"] = data["deltas"]["delta1[0]"] | {"key": "W1[0,0]"}
    broken["chain_omitted"] = data["chain_omitted"]
    assert errors(broken)  # ... but a chain beside chain_omitted is not
