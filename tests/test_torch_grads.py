"""check_torch_grads: a live PyTorch model's .grad against chainrule's engine, and the
PyTorch-code mistake named from how they differ (accumulation, reduction, sign, frozen)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from chainrule.interop import TorchImportError, check_torch_grads  # noqa: E402


@pytest.fixture
def setup():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                torch.nn.Tanh(), torch.nn.Flatten(),
                                torch.nn.Linear(8, 3)).double()
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    t = torch.randint(0, 3, (5,))
    return model, x, t


def backward(model, x, t, *, times=1, reduction="mean", sign=1.0):
    model.zero_grad()
    for _ in range(times):
        (sign * F.cross_entropy(model(x), t, reduction=reduction)).backward()


def test_right_gradients_agree(setup):
    model, x, t = setup
    backward(model, x, t)
    report = check_torch_grads(model, x, t, loss="cross_entropy")
    assert report.ok, str(report)
    assert len(report.report.rows) == 6 and not report.causes


@pytest.mark.parametrize("how, cause", [
    (dict(times=3), "every gradient is 3 times chainrule's. .grad added up over 3 backward"),
    (dict(reduction="sum"), "every gradient is 5 times chainrule's. Either the loss is "
                            "summed over the batch (reduction='sum')"),
    (dict(sign=-1.0), "every gradient is the negative of chainrule's"),
    (dict(sign=0.25), "every gradient is 0.25 times chainrule's. The loss is scaled by 0.25"),
])
def test_the_cause_is_named(setup, how, cause):
    model, x, t = setup
    backward(model, x, t, **how)
    report = check_torch_grads(model, x, t, loss="cross_entropy")
    assert not report.ok and report.report.first_off.name == "4.weight"
    assert any(cause in line for line in report.causes), report.causes


def test_a_parameter_without_its_gradient_is_named(setup):
    model, x, t = setup
    model[4].weight.requires_grad_(False)
    backward(model, x, t)
    model[4].weight.requires_grad_(True)  # set after the backward pass: no .grad
    report = check_torch_grads(model, x, t, loss="cross_entropy")
    assert not report.ok and report.missing == ["4.weight"]
    assert "4.weight: no .grad, though it requires one" in str(report)


def test_a_frozen_parameter_is_not_compared(setup):
    model, x, t = setup
    model[0].weight.requires_grad_(False)
    backward(model, x, t)
    report = check_torch_grads(model, x, t, loss="cross_entropy")
    assert report.ok, str(report)
    assert report.frozen == ["0.weight"] and "requires_grad=False, not compared" in str(report)


def test_a_wrong_mse_target_layout_is_not_silently_passed():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Sigmoid()).double()
    x, t = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    model.zero_grad()
    F.mse_loss(model(x), t.T.contiguous().T).backward()  # the same target: agrees
    assert check_torch_grads(model, x, t, loss="mse").ok
    model.zero_grad()
    F.mse_loss(model(x), t.flip(1)).backward()  # a permuted target: disagrees, named
    report = check_torch_grads(model, x, t, loss="mse")
    assert not report.ok and report.report.first_off is not None


def test_random_or_eval_only_parts_are_refused(setup):
    model, x, t = setup
    dropout = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5)).double()
    with pytest.raises(TorchImportError, match=r"model.1 \(Dropout, p=0.5\) in training mode"):
        check_torch_grads(dropout, torch.zeros(2, 2), torch.zeros(2, 2))
    model.eval()
    with pytest.raises(TorchImportError, match=r"model.1 \(BatchNorm2d\) in eval mode"):
        check_torch_grads(model, x, t, loss="cross_entropy")
    model.train().zero_grad()
    with pytest.raises(TorchImportError, match="no parameter has a .grad"):
        check_torch_grads(model, x, t, loss="cross_entropy")
