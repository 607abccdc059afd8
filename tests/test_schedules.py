"""Learning-rate schedules: StepLR and cosine annealing, value for value with PyTorch's."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from chainrule.optim.optimizers import (SGD, Adam, CosineAnnealingLR, StepLR, optimizer_from_state,
                             scheduler_from_state)
from tests.test_optim import one, plain, through_a_file, torch  # noqa: F401 (a fixture)


def lr_sequences(torch, ours_factory, torch_factory, epochs: int):
    optimizer = SGD(one(), lr=0.1)
    scheduler = ours_factory(optimizer)
    torch_optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    torch_scheduler = torch_factory(torch_optimizer)
    ours, theirs = [optimizer.lr], [torch_optimizer.param_groups[0]["lr"]]
    for _ in range(epochs):
        optimizer.step()  # no gradients: nothing moves, but the order is the real one
        torch_optimizer.step()
        scheduler.step()
        torch_scheduler.step()
        assert scheduler.get_last_lr() == torch_scheduler.get_last_lr()
        ours.append(optimizer.lr)
        theirs.append(torch_optimizer.param_groups[0]["lr"])
    return ours, theirs


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (3, 0.1), (4, 0.9), (2, 1.5)])
def test_step_lr_matches_torch(torch, step_size, gamma):
    ours, theirs = lr_sequences(
        torch, lambda o: StepLR(o, step_size, gamma),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 25)
    assert ours == theirs  # the same floats, not merely close


@pytest.mark.parametrize("T_max, eta_min", [(1, 0.0), (3, 0.0), (5, 0.001), (10, 0.0),
                                            (7, 0.05), (50, 0.0)])
def test_cosine_annealing_matches_torch_for_three_periods(torch, T_max, eta_min):
    ours, theirs = lr_sequences(
        torch, lambda o: CosineAnnealingLR(o, T_max, eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max, eta_min), 3 * T_max)
    assert max(abs(a - b) for a, b in zip(ours, theirs)) <= 1e-15
    assert ours == theirs


def test_cosine_follows_the_closed_form_closely():
    optimizer = SGD(one(), lr=0.1)
    scheduler = CosineAnnealingLR(optimizer, T_max=8, eta_min=0.01)
    for epoch in range(1, 25):
        scheduler.step()
        expected = 0.01 + (0.1 - 0.01) * (1 + np.cos(np.pi * epoch / 8)) / 2
        assert optimizer.lr == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("make", [lambda o: StepLR(o, 3, 0.5),
                                  lambda o: CosineAnnealingLR(o, 4, 0.0)])
def test_schedule_state_round_trip_continues_exactly(make):
    optimizer = Adam(one(), lr=0.1)
    scheduler = make(optimizer)
    expected = []
    for _ in range(12):
        scheduler.step()
        expected.append(optimizer.lr)

    optimizer = Adam(one(), lr=0.1)
    scheduler = make(optimizer)
    for _ in range(4):  # epoch 4 of cosine with T_max 4 and eta_min 0: lr is exactly 0
        scheduler.step()
    saved_optimizer = through_a_file(optimizer.state_dict())
    saved_scheduler = json.loads(json.dumps(scheduler.state_dict()))
    assert plain(saved_scheduler)
    resumed_optimizer = optimizer_from_state(one(), saved_optimizer)
    resumed = scheduler_from_state(resumed_optimizer, saved_scheduler)
    assert type(resumed) is type(scheduler) and resumed.get_last_lr() == [expected[3]]
    continued = []
    for _ in range(8):
        resumed.step()
        continued.append(resumed_optimizer.lr)
    assert continued == expected[4:]


@pytest.mark.parametrize("build, message", [
    (lambda o: StepLR(o, 0), "step_size: expected a whole number ≥ 1, got 0"),
    (lambda o: StepLR(o, 2.5), "step_size: expected a whole number ≥ 1, got 2.5"),
    (lambda o: StepLR(o, 3, gamma=0), "gamma: expected a number > 0, got 0.0"),
    (lambda o: StepLR(o, 3, gamma=float("inf")), "gamma: expected a number > 0, got inf"),
    (lambda o: CosineAnnealingLR(o, 0), "T_max: expected a whole number ≥ 1, got 0"),
    (lambda o: CosineAnnealingLR(o, 5, eta_min=-0.1), "eta_min: expected a number ≥ 0"),
    (lambda o: StepLR(o, 3).load_state_dict({"name": "cosine"}),
     "scheduler state is for 'cosine', not 'step'"),
    (lambda o: StepLR(o, 3).load_state_dict({**StepLR(o, 3).state_dict(), "last_epoch": -1}),
     "scheduler state: last_epoch must be a count, got -1"),
])
def test_bad_schedules_raise_one_line(build, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)) as error:
        build(SGD(one(), lr=0.1))
    assert "\n" not in str(error.value)


def test_a_schedule_needs_an_optimizer():
    with pytest.raises(TypeError, match="optimizer: expected an optimizer with a float .lr"):
        StepLR(object(), 3)


def test_unknown_saved_kinds_are_named():
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; known: sgd, adam, rmsprop"):
        optimizer_from_state(one(), {"name": "lbfgs"})
    with pytest.raises(ValueError, match="unknown scheduler 'plateau'; known: step, cosine"):
        scheduler_from_state(SGD(one(), lr=0.1), {"name": "plateau"})
    with pytest.raises(ValueError, match="hyperparameters don't fit sgd"):
        optimizer_from_state(one(), {"name": "sgd", "hyperparameters": {"betas": [0.9, 0.9]}})
