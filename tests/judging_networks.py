"""The ten small networks the judging cases are worked on (tests/judging_cases.py): what a
person works by hand, the seed first, with their weights written out."""

from __future__ import annotations

import copy
from typing import Any

import chainrule
from chainrule.spec.network import PRESETS


def networks() -> dict[str, chainrule.Spec]:
    """Ten small networks a person works by hand (the seed first), parsed by chainrule."""
    return {name: chainrule.parse_spec(data, default_name=name)
            for name, data in network_data().items()}


def network_data() -> dict[str, dict[str, Any]]:
    """The networks as spec files hold them (what the worksheet grader's key stores)."""
    _spec = dict
    return {
        "seed": copy.deepcopy(PRESETS["seed"]),
        "softmax_ce_232": _spec(
            name="softmax_ce_232", layers=[2, 3, 2], activations=["sigmoid", "softmax"],
            loss="cross_entropy", weights=[[[0.1, -0.2, 0.4], [0.3, 0.5, -0.1]],
                                           [[0.2, -0.3], [0.4, 0.1], [-0.5, 0.6]]],
            biases=[[0.0, 0.1, -0.1], [0.05, -0.05]], input=[1.0, 0.5], target=1,
            learning_rate=0.5),
        "tanh_bce_321": _spec(
            name="tanh_bce_321", layers=[3, 2, 1], activations=["tanh", "sigmoid"], loss="bce",
            weights=[[[0.2, -0.1], [0.4, 0.3], [-0.5, 0.2]], [[0.7], [-0.4]]],
            biases=[[0.1, -0.2], [0.3]], input=[1.0, 0.5, -1.0], target=[1.0],
            learning_rate=0.1),
        "batched_mse_221": _spec(
            name="batched_mse_221", layers=[2, 2, 1], activations="sigmoid", loss="mse",
            weights=[[[0.15, 0.25], [0.2, 0.3]], [[0.4], [0.5]]], biases=[[0.35, 0.35], [0.6]],
            inputs=[[0.05, 0.1], [0.5, 0.9], [1.0, 0.2]], targets=[[0.01], [0.99], [0.5]],
            learning_rate=0.5),
        "leaky_half_231": _spec(
            name="leaky_half_231", layers=[2, 3, 1], activations=["leaky_relu", "identity"],
            loss="half_sse", weights=[[[0.5, -0.4, 0.3], [0.2, 0.6, -0.7]], [[0.3], [0.8],
                                                                             [-0.5]]],
            biases=[[0.1, 0.0, 0.2], [-0.1]], input=[1.0, 2.0], target=[0.5],
            learning_rate=0.1),
        "mazur_222": _spec(
            name="mazur_222", layers=[2, 2, 2], activations="sigmoid", loss="half_sse",
            bias="shared_per_layer", weights=[[[0.15, 0.25], [0.2, 0.3]],
                                              [[0.4, 0.5], [0.45, 0.55]]],
            biases=[[0.35], [0.6]], input=[0.05, 0.1], target=[0.01, 0.99],
            learning_rate=0.5),
        "batched_relu_ce_223": _spec(
            name="batched_relu_ce_223", layers=[2, 2, 3], activations=["relu", "softmax"],
            loss="cross_entropy", weights=[[[0.6, -0.3], [0.2, 0.8]],
                                           [[0.5, -0.2, 0.1], [-0.4, 0.3, 0.7]]],
            biases=[[0.1, 0.05], [0.0, 0.1, -0.1]],
            inputs=[[1.0, 0.5], [0.2, 1.5], [0.8, 0.1], [1.2, 1.0]], targets=[0, 2, 1, 2],
            learning_rate=0.2),
        "nobias_tanh_332": _spec(
            name="nobias_tanh_332", layers=[3, 3, 2], activations=["tanh", "sigmoid"],
            loss="sse", bias="none", weights=[[[0.3, -0.2, 0.1], [0.5, 0.4, -0.3],
                                                [-0.1, 0.2, 0.6]],
                                               [[0.4, -0.6], [0.2, 0.3], [-0.5, 0.1]]],
            input=[0.8, -0.4, 0.6], target=[0.2, 0.9], learning_rate=0.3),
        "deep_sigmoid_2221": _spec(
            name="deep_sigmoid_2221", layers=[2, 2, 2, 1], activations="sigmoid", loss="sse",
            weights=[[[0.1, 0.3], [0.2, 0.4]], [[0.5, -0.6], [0.7, 0.8]], [[0.9], [-0.2]]],
            biases=[[0.1, 0.1], [0.2, 0.2], [0.3]], input=[1.0, -1.0], target=[0.8],
            learning_rate=0.5),
        "softmax_sse_223": _spec(  # a softmax whose Jacobian is multiplied in (no fusion)
            name="softmax_sse_223", layers=[2, 2, 3], activations=["tanh", "softmax"],
            loss="sse", weights=[[[0.4, -0.3], [0.6, 0.2]], [[0.5, -0.4, 0.3], [0.2, 0.7, -0.6]]],
            biases=[[0.1, -0.1], [0.0, 0.2, -0.2]], input=[0.9, 0.4], target=[0.0, 1.0, 0.0],
            learning_rate=0.5),
    }
