"""fit(): it learns, it is deterministic, it resumes bit for bit, it stops and reports cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import optimizers as optim
from chainrule.train.checkpoint import load_checkpoint
from chainrule.nn import MLP
from chainrule.train.loop import Callback, History, TrainingDiverged, TrainState, fit

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, as scikit-learn's make_moons draws them."""
    rng = np.random.default_rng(seed)
    half = n // 2
    upper, lower = rng.uniform(0, np.pi, half), rng.uniform(0, np.pi, n - half)
    x = np.concatenate([np.c_[np.cos(upper), np.sin(upper)],
                        np.c_[1 - np.cos(lower), 0.5 - np.sin(lower)]])
    y = np.concatenate([np.zeros(half, np.int64), np.ones(n - half, np.int64)])
    return x + rng.normal(0.0, noise, x.shape), y


X, Y = moons(96, 0.2, seed=1)
X_VAL, Y_VAL = moons(48, 0.2, seed=2)


def weights(model: MLP) -> dict[str, bytes]:
    return {name: p.data.tobytes() for name, p in model.named_parameters()}


def run(epochs: int, *, seed: int = 0, callbacks=(), checkpoint=None, resume=None,
        make_optimizer=None, schedule=None, early_stopping=None):
    """A moons network trained with momentum SGD (or ``make_optimizer``), fresh each call."""
    model = MLP([2, 6, 2], ["tanh", "softmax"], seed=3)
    make_optimizer = make_optimizer or (lambda p: optim.SGD(p, lr=0.1, momentum=0.9))
    optimizer = make_optimizer(model.parameters())
    scheduler = schedule(optimizer) if schedule else None
    history = fit(model, X, Y, loss="cross_entropy", optimizer=optimizer, epochs=epochs,
                  batch_size=10, seed=seed, validation=(X_VAL, Y_VAL), scheduler=scheduler,
                  early_stopping=early_stopping, callbacks=callbacks, checkpoint=checkpoint,
                  resume=resume)
    return model, history


class Recorder(Callback):
    def __init__(self, stop_at: tuple[int, int | None] | None = None) -> None:
        self.calls: list[tuple] = []
        self.stop_at = stop_at  # (epoch, step) or (epoch, None) for the epoch's end
        self.weights: dict[int, dict] = {}

    def on_train_begin(self, state):
        self.calls.append(("train_begin", state.epoch, state.global_step))

    def on_epoch_begin(self, epoch, state):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, epoch, step, loss, state):
        assert np.isfinite(loss)
        self.calls.append(("batch_end", epoch, step, state.global_step))
        if self.stop_at == (epoch, step):
            state.stop = True

    def on_epoch_end(self, epoch, logs, state):
        self.calls.append(("epoch_end", epoch, sorted(logs)))
        self.weights[epoch] = state.model.state_dict()
        if self.stop_at == (epoch, None):
            state.stop = True

    def on_train_end(self, history, state):
        self.calls.append(("train_end", history.stop_reason, len(history.epoch)))


@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.SGD(p, lr=0.2, momentum=0.9),
    lambda p: optim.Adam(p, lr=0.05),
], ids=["sgd", "adam"])
def test_xor_2_4_1_tanh_learns_to_100_percent(make_optimizer):
    model = MLP([2, 4, 1], "tanh", seed=0)
    history = fit(model, XOR_X, XOR_Y, loss="mse", epochs=300, batch_size=4,
                  optimizer=make_optimizer(model.parameters()))
    assert history.accuracy[-1] == 1.0
    with cr.no_grad():
        assert np.array_equal(model(XOR_X).data[:, 0] > 0.5, XOR_Y > 0.5)
    assert history.loss[-1] < 0.01 and history.stop_reason == "completed"


def test_moons_reach_95_percent_validation_accuracy():
    x, y = moons(300, 0.1, seed=4)
    x_val, y_val = moons(200, 0.1, seed=5)
    model = MLP([2, 16, 1], ["tanh", "sigmoid"], seed=0)
    history = fit(model, x, y.astype(float), loss="bce", epochs=60, batch_size=16, seed=1,
                  optimizer=optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
                  validation=(x_val, y_val.astype(float)))
    assert history.val_accuracy[-1] >= 0.95
    assert history.val_loss[-1] < history.val_loss[0]


def test_the_same_seed_gives_the_same_weights_bit_for_bit_and_another_seed_does_not():
    first, h1 = run(5, seed=7)
    second, h2 = run(5, seed=7)
    other, _ = run(5, seed=8)
    assert weights(first) == weights(second)
    assert h1.loss == h2.loss and h1.val_loss == h2.val_loss
    assert weights(first) != weights(other)


def test_callbacks_receive_every_call_in_order():
    recorder = Recorder()
    _, history = run(2, callbacks=[recorder])
    batches = -(-len(X) // 10)
    expected = [("train_begin", 0, 0)]
    logs = sorted(["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                   "samples_per_second"])
    for epoch in (1, 2):
        expected.append(("epoch_begin", epoch))
        expected += [("batch_end", epoch, s, (epoch - 1) * batches + s)
                     for s in range(1, batches + 1)]
        expected.append(("epoch_end", epoch, logs))
    expected.append(("train_end", "completed", 2))
    assert recorder.calls == expected
    assert history.epoch == [1, 2] and history.lr == [0.1, 0.1]
    assert all(0 <= a <= 1 for a in history.accuracy + history.val_accuracy)


def history_without_time(history: History) -> dict:
    data = history.to_dict()
    data.pop("seconds")
    return data


@pytest.mark.parametrize("stop_at", [(3, None), (3, 4)], ids=["epoch-end", "mid-epoch"])
def test_interrupted_and_resumed_equals_uninterrupted_bit_for_bit(tmp_path, stop_at):
    straight, straight_history = run(6)
    path = tmp_path / "run.npz"
    stopped, history = run(6, callbacks=[Recorder(stop_at=stop_at)], checkpoint=path)
    assert history.stop_reason == "interrupted" and not history.stopped_early
    assert len(history.epoch) == (3 if stop_at[1] is None else 2)
    state = load_checkpoint(path)
    assert {n: a.tobytes() for n, a in state["params"].items()} == weights(stopped)
    resumed, resumed_history = run(6, resume=state, checkpoint=path)
    assert weights(resumed) == weights(straight)
    assert history_without_time(resumed_history) == history_without_time(straight_history)


@pytest.mark.parametrize("stop_at", [(3, None), (4, 2)], ids=["epoch-end", "mid-epoch"])
def test_adam_with_a_schedule_resumes_bit_for_bit(tmp_path, stop_at):
    options = {"make_optimizer": lambda p: optim.Adam(p, lr=0.02),
               "schedule": lambda o: optim.StepLR(o, 2, gamma=0.5)}
    straight, straight_history = run(6, **options)
    path = tmp_path / "adam.npz"
    run(6, callbacks=[Recorder(stop_at=stop_at)], checkpoint=path, **options)
    resumed, resumed_history = run(6, resume=load_checkpoint(path), **options)
    assert weights(resumed) == weights(straight)
    assert resumed_history.lr == straight_history.lr
    assert len(set(straight_history.lr)) > 1  # the schedule did change the rate


def overfitting_run(callbacks=(), checkpoint=None, resume=None):
    """Validation targets are the training targets flipped, so the validation loss soon rises."""
    model = MLP([2, 6, 2], ["tanh", "softmax"], seed=3)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, X, Y, loss="cross_entropy", optimizer=optimizer, epochs=40,
                  batch_size=10, validation=(X, 1 - Y), early_stopping=3,
                  callbacks=callbacks, checkpoint=checkpoint, resume=resume)
    return model, history


def test_early_stopping_stops_and_restores_the_best_weights():
    recorder = Recorder()
    model, history = overfitting_run(callbacks=[recorder])
    assert history.stop_reason == "early_stopping" and history.stopped_early
    best = history.best_epoch
    assert history.val_loss[best - 1] == min(history.val_loss)
    assert history.epoch[-1] == best + 3 < 40
    assert all(v >= history.val_loss[best - 1] for v in history.val_loss[best:])
    assert {n: a.tobytes() for n, a in model.state_dict().items()} == {
        n: a.tobytes() for n, a in recorder.weights[best].items()}


def test_early_stopping_resumes_bit_for_bit_with_its_best_weights(tmp_path):
    straight, straight_history = overfitting_run()
    path = tmp_path / "early.npz"
    stop = straight_history.epoch[-1] - 1
    overfitting_run(callbacks=[Recorder(stop_at=(stop, 2))], checkpoint=path)
    resumed, history = overfitting_run(resume=load_checkpoint(path))
    assert history.stop_reason == "early_stopping" and history.best_epoch == (
        straight_history.best_epoch)
    assert weights(resumed) == weights(straight)


class ExplodeAt(Callback):
    """Sets an absurd learning rate from one epoch on; keeps the checkpoint's bytes first."""

    def __init__(self, epoch: int, path) -> None:
        self.epoch, self.path, self.before = epoch, path, None

    def on_epoch_begin(self, epoch, state):
        if epoch == self.epoch:
            self.before = self.path.read_bytes()
            state.optimizer.lr = 1e6


def test_an_exploding_learning_rate_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path):
    path = tmp_path / "good.npz"
    model = MLP([2, 16, 16, 1], ["relu", "relu", "identity"], seed=0)
    explode = ExplodeAt(3, path)
    x = np.random.default_rng(0).normal(size=(64, 2)) * 10
    with pytest.raises(TrainingDiverged) as caught:
        fit(model, x, x[:, :1] ** 2, loss="mse", epochs=20, batch_size=8, checkpoint=path,
            optimizer=optim.SGD(model.parameters(), lr=1e-4), callbacks=[explode])
    error = caught.value
    message = str(error)
    assert error.epoch == 3 and error.step >= 1 and error.global_step == 16 + error.step
    assert error.quantity == "loss" or error.quantity.startswith("gradient of ")
    assert f"epoch 3, step {error.step} of 8 (global step {error.global_step})" in message
    assert f"the {error.quantity} is " in message
    assert f"last good checkpoint {path} (epoch 2) was kept" in message
    assert isinstance(error, cr.ChainruleError) and "\n" not in message
    assert path.read_bytes() == explode.before
    assert load_checkpoint(path)["epoch"] == 2
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())


def test_divergence_in_the_first_epoch_says_no_checkpoint_was_written(tmp_path):
    model = MLP([2, 4, 1], "identity", seed=0)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d of 4 .*no checkpoint"):
        fit(model, XOR_X * 1e3, XOR_Y, loss="mse", epochs=200, batch_size=1,
            optimizer=optim.SGD(model.parameters(), lr=1e6), checkpoint=tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()


def test_history_round_trips_through_plain_json():
    _, history = run(3)
    data = json.loads(json.dumps(history.to_dict()))
    again = History.from_dict(data)
    assert again == history and again.best_epoch == history.best_epoch
    with pytest.raises(ValueError, match="missing lr"):
        History.from_dict({k: v for k, v in data.items() if k != "lr"})


def test_state_is_a_plain_dataclass_callbacks_can_stop():
    model, history = run(5, callbacks=[Recorder(stop_at=(2, None))])
    assert history.epoch == [1, 2] and history.stop_reason == "interrupted"
    assert TrainState(model, None).stop is False


def test_bad_arguments_name_what_is_wrong():
    model = MLP([2, 3, 1], "tanh")
    sgd = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(cr.ShapeError, match=r"x: expected shape \(examples, 2\) .*\(4, 3\)"):
        fit(model, np.zeros((4, 3)), XOR_Y, loss="mse", optimizer=sgd, epochs=1)
    with pytest.raises(cr.ShapeError, match="y: expected 4 targets"):
        fit(model, XOR_X, XOR_Y[:3], loss="mse", optimizer=sgd, epochs=1)
    with pytest.raises(cr.SpecError, match="early_stopping needs validation"):
        fit(model, XOR_X, XOR_Y, loss="mse", optimizer=sgd, epochs=1, early_stopping=2)
    with pytest.raises(cr.SpecError, match="loss"):
        fit(model, XOR_X, XOR_Y, loss="hinge", optimizer=sgd, epochs=1)
