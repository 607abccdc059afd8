"""The convolutional modules of chainrule.nn against PyTorch's: the same weights give the same
outputs, the same gradients of every parameter for a random cotangent, the same running
statistics after a training step, and the same evaluation-mode outputs."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ShapeError

torch = pytest.importorskip("torch")
tnn = torch.nn

RNG = np.random.default_rng(11)


def copy_into_torch(mine, theirs) -> None:
    """chainrule's parameters into the PyTorch twin, module by module (Linear transposed)."""
    for a, b in zip(mine, theirs):
        if isinstance(a, nn.Linear):
            b.weight.data = torch.tensor(a.weight.data.T.copy())
            b.bias.data = torch.tensor(a.bias.data.copy())
        elif getattr(a, "weight", None) is not None:
            b.weight.data = torch.tensor(a.weight.data.copy())
            if a.bias is not None:
                b.bias.data = torch.tensor(a.bias.data.copy())


def compare(mine, theirs, x, cotangent_seed=0):
    out = mine(cr.Tensor(x))
    twin_x = torch.tensor(x, requires_grad=True)
    expected = theirs(twin_x)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(cotangent_seed).normal(size=out.shape)
    (out * cr.Tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    twins = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        grad = twins[name].grad.numpy()
        if p.ndim == 2 and p.shape == grad.shape[::-1] and p.shape[0] != p.shape[1]:
            grad = grad.T  # a Linear's W is (fan_in, fan_out), PyTorch's (out, in)
        np.testing.assert_allclose(p.grad, grad, rtol=1e-9, atol=1e-11, err_msg=name)
    return out


def small_cnn():
    mine = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, generator=1), nn.BatchNorm2d(3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(3, 2, (2, 3), stride=(1, 2), generator=2), nn.Tanh(),
        nn.AvgPool2d(2, stride=1), nn.Flatten(),
        nn.Linear(2, 4, weight=RNG.normal(size=(2, 4)), bias=RNG.normal(size=4)))
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 3, 3, padding=1), tnn.BatchNorm2d(3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(3, 2, (2, 3), stride=(1, 2)), tnn.Tanh(), tnn.AvgPool2d(2, stride=1),
        tnn.Flatten(), tnn.Linear(2, 4)).double()
    copy_into_torch(mine, theirs)
    return mine, theirs


def test_a_small_cnn_trains_and_evaluates_as_torch():
    mine, theirs = small_cnn()
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    x = RNG.normal(size=(5, 1, 6, 10))
    compare(mine, theirs, x)
    # the running statistics after one training step: momentum 0.1, the unbiased variance
    np.testing.assert_allclose(mine[1].running_mean, theirs[1].running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mine[1].running_var, theirs[1].running_var.numpy(), rtol=1e-12)
    mine.eval(), theirs.eval()
    assert not mine[1].training
    mine.zero_grad(), theirs.zero_grad()
    compare(mine, theirs, RNG.normal(size=(2, 1, 6, 10)), cotangent_seed=1)


def test_conv1d_batchnorm1d_avgpool1d_as_torch():
    mine = nn.Sequential(nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=1, groups=2,
                                   generator=3),
                         nn.BatchNorm1d(4, eps=1e-3, momentum=0.3), nn.LeakyReLU(0.2),
                         nn.AvgPool1d(3, stride=1, padding=1), nn.MaxPool1d(2))
    theirs = tnn.Sequential(tnn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2),
                            tnn.BatchNorm1d(4, eps=1e-3, momentum=0.3), tnn.LeakyReLU(0.2),
                            tnn.AvgPool1d(3, stride=1, padding=1), tnn.MaxPool1d(2)).double()
    copy_into_torch(mine, theirs)
    compare(mine, theirs, RNG.normal(size=(3, 2, 9)))
    np.testing.assert_allclose(mine[1].running_var, theirs[1].running_var.numpy(), rtol=1e-12)


def test_a_residual_block_sums_the_gradients_of_its_two_paths():
    block = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, generator=4), nn.ReLU())
    mine = nn.Residual(block)
    conv = tnn.Conv2d(2, 2, 3, padding=1).double()
    copy_into_torch([block[0]], [conv])
    x = RNG.normal(size=(2, 2, 4, 4))
    out = mine(cr.Tensor(x))
    twin = torch.tensor(x)
    expected = torch.relu(conv(twin)) + twin
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    w = RNG.normal(size=out.shape)
    (out * cr.Tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(block[0].weight.grad, conv.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(block[0].bias.grad, conv.bias.grad.numpy(), rtol=1e-10)
    assert [n for n, _ in mine.named_parameters()] == ["block.0.weight", "block.0.bias"]
    with pytest.raises(ShapeError, match=r"Residual: the block gives shape \(2, 3, 4, 4\) and "
                                         r"the shortcut \(2, 2, 4, 4\)"):
        nn.Residual(nn.Conv2d(2, 3, 3, padding=1, generator=0))(cr.Tensor(x))


def test_dropout_keeps_its_mask_for_the_backward_pass_and_is_off_in_eval():
    layer = nn.Dropout(0.4, generator=7)
    x = cr.Tensor(RNG.normal(size=(3, 5)), requires_grad=True)
    out = layer(x)
    mask = layer.mask
    assert mask.shape == (3, 5) and mask.dtype == bool
    np.testing.assert_allclose(out.data, x.data * mask / 0.6, rtol=1e-15)
    w = RNG.normal(size=(3, 5))
    (out * cr.Tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad, w * mask / 0.6, rtol=1e-15)
    again = nn.Dropout(0.4, generator=7)(x)
    np.testing.assert_array_equal(again.data, out.data)  # the same seed, the same mask
    layer.eval()
    assert layer(x) is x


def test_pytorch_shapes_and_defaults():
    conv = nn.Conv2d(4, 6, 3, groups=2, generator=0)
    assert conv.weight.shape == (6, 2, 3, 3) and conv.bias.shape == (6,)
    bound = 1 / np.sqrt(2 * 3 * 3)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert nn.Conv1d(2, 3, 5, bias=False, generator=0).named_parameters()[0][1].shape == \
        (3, 2, 5)
    bn = nn.BatchNorm2d(3)
    assert bn.weight.data.tolist() == [1.0] * 3 and bn.running_var.tolist() == [1.0] * 3
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3\): expected an input of 4 "
                                         r"dimensions with 3 channels, got shape \(2, 4, 5, 5\)"):
        bn(cr.Tensor(np.ones((2, 4, 5, 5))))
    with pytest.raises(ShapeError, match=r"conv2d: expected an input \(N, C, H, W\), got "
                                         r"shape \(3, 4\)"):
        conv(cr.Tensor(np.ones((3, 4))))


def test_batch_norms_running_statistics_are_saved_and_loaded_with_the_model():
    theirs = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2)).double()
    for _ in range(5):
        theirs(torch.tensor(RNG.normal(size=(4, 1, 5, 5)) * 3 + 2))
    mine = nn.Sequential(nn.Conv2d(1, 2, 3, generator=0), nn.BatchNorm2d(2))
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert set(mine.state_dict()) == set(state)  # 1.running_mean, ..., num_batches_tracked
    mine.load_state_dict(state)
    mine.eval(), theirs.eval()
    x = RNG.normal(size=(2, 1, 5, 5))
    np.testing.assert_allclose(mine(cr.Tensor(x)).data,
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert int(mine[1].num_batches_tracked) == 5
    # a state missing a buffer is one line, and nothing is loaded
    before = mine.state_dict()
    with pytest.raises(cr.SpecError, match=r"state: no '1.running_var'"):
        mine.load_state_dict({k: v for k, v in state.items() if k != "1.running_var"})
    assert all(np.array_equal(before[k], v) for k, v in mine.state_dict().items())


def test_cumulative_running_statistics_with_momentum_none_as_torch():
    mine, theirs = nn.BatchNorm1d(3, momentum=None), tnn.BatchNorm1d(3, momentum=None).double()
    for _ in range(4):
        x = RNG.normal(size=(6, 3)) * 2 + 1
        mine(cr.Tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(mine.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mine.running_var, theirs.running_var.numpy(), rtol=1e-12)


def test_a_float32_model_stays_float32_on_float64_data():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, generator=0, dtype=np.float32),
                          nn.BatchNorm2d(3, dtype=np.float32), nn.ReLU(), nn.MaxPool2d(2))
    out = model(RNG.normal(size=(2, 2, 6, 6)))  # float64 NumPy data, as loaded
    assert out.dtype == np.float32
    out.sum().backward()
    assert model[0].weight.grad.dtype == np.float32 and model[1].running_var.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(3, 2, 2.5), r"Conv2d: channels, groups and kernel_size must be "
                                   r"integers ≥ 1, .*kernel_size 2.5"),
    (lambda: nn.Conv2d(3, 2, 0), r"kernel_size 0"),
    (lambda: nn.Conv1d(3, 2, 3, groups=0), r"groups 0"),
    (lambda: nn.Conv2d(3, 2, 3, groups=2), r"Conv2d: kernel_size 3, groups 2 for 3 → 2 "
                                           r"channels do not fit"),
])
def test_layers_that_cannot_be_built_are_one_line(make, message):
    with pytest.raises(ShapeError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_batch_norm_with_running_statistics_of_the_wrong_shape_changes_nothing():
    from chainrule.nn import functional as F

    mean, var = np.ones(2), np.ones(3)
    with pytest.raises(ShapeError, match=r"batch_norm: expected running_var of shape \(2,\) "
                                         r"for 2 channels, got \(3,\)"):
        F.batch_norm(cr.Tensor(RNG.normal(size=(4, 2))), mean, var, training=True)
    assert mean.tolist() == [1.0, 1.0]
    with pytest.raises(ShapeError, match=r"running_mean must be a float NumPy array"):
        F.batch_norm(cr.Tensor(RNG.normal(size=(4, 2))), [0.0, 0.0], np.ones(2),
                     training=True)
