"""Minibatch-stddev groups (``model.mbstd_group_size``): the whole batch as before, groups of k against a
hand-written loop, the running value and eval mode, and the option's check."""

from __future__ import annotations

import pytest
import torch

from pacgan_lite.config import load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.layers import MinibatchStddev
from pacgan_lite.networks import Discriminator

pytestmark = pytest.mark.usefixtures("single_thread")


def features(batch: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(batch, 3, 4, 4, generator=torch.Generator().manual_seed(seed)).to(dtype)


def group_statistic(group: torch.Tensor) -> float:
    """Mean over the features of sqrt(biased variance over the group's images + 1e-8), one number at a time."""
    n, values = len(group), []
    for feature in group.double().flatten(1).T:
        mean = sum(feature.tolist()) / n
        variance = sum((value - mean) ** 2 for value in feature.tolist()) / n
        values.append((variance + 1e-8) ** 0.5)
    return sum(values) / len(values)


@pytest.mark.parametrize("batch", [1, 2, 5, 16])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_group_size_0_is_the_whole_batch_as_before(batch, dtype):
    x = features(batch, dtype=dtype)
    layer = MinibatchStddev()
    out = layer(x)
    # PACGAN's statistic, written as the layer computed it before groups existed: one float32 number.
    before = torch.sqrt(x.float().var(dim=0, correction=0) + 1e-8).mean()
    assert torch.equal(out[:, :3], x)
    assert torch.equal(out[:, 3], before.to(dtype).expand(batch, 4, 4))
    assert torch.equal(layer.running_stddev, before)


GROUPS = [
    # batch, k, the group sizes in batch order
    (8, 4, [4, 4]),
    (8, 2, [2, 2, 2, 2]),
    (9, 3, [3, 3, 3]),
    (10, 4, [4, 6]),  # the 2 left over join the last group
    (7, 2, [2, 2, 3]),
    (4, 4, [4]),
    (3, 4, [3]),  # at most k images: one group
]


@pytest.mark.parametrize(("batch", "k", "sizes"), GROUPS)
def test_groups_of_k_against_a_loop(batch, k, sizes):
    x = features(batch, seed=batch * 10 + k)
    layer = MinibatchStddev(group_size=k)
    out = layer(x)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    expected = torch.tensor([group_statistic(x[start:start + size])
                             for start, size in zip(starts, sizes, strict=True) for _ in range(size)])
    torch.testing.assert_close(out[:, 3], expected.float()[:, None, None].expand(batch, 4, 4), rtol=1e-6, atol=0)
    assert torch.equal(out[:, :3], x)
    # The running value starts at the mean over the images of their groups' values.
    torch.testing.assert_close(layer.running_stddev, expected.mean().float(), rtol=1e-6, atol=0)


def test_groups_are_differentiable():
    layer = MinibatchStddev(group_size=2)
    x = features(5, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda images: layer(images)[:, 3], (x,))


def test_eval_mode_gives_every_image_the_running_value():
    layer = MinibatchStddev(momentum=0.5, group_size=2)
    first, second = features(6, seed=1), features(4, seed=2)
    layer(first)
    layer(second)
    expected = 0.5 * layer.batch_stddev(first).mean() + 0.5 * layer.batch_stddev(second).mean()
    torch.testing.assert_close(layer.running_stddev, expected)
    layer.eval()
    for batch in (features(1, seed=3), features(7, seed=4)):
        assert torch.equal(layer(batch)[:, 3], layer.running_stddev.expand(len(batch), 4, 4))


def test_a_grouped_critic_classifies_each_image_whatever_its_batch():
    torch.manual_seed(0)
    D = Discriminator(base_channels=8, channel_factors=(1, 1), aux_hidden=4, mbstd_group_size=2)
    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    D(images, 1, 1.0)  # a training batch sets the running value
    D.eval()
    alone = torch.cat([D(image[None], 1, 1.0)[1] for image in images])
    torch.testing.assert_close(D(images, 1, 1.0)[1], alone)


@pytest.mark.parametrize("group_size", [-1, 1])
def test_a_group_size_of_one_or_less_is_refused(group_size):
    with pytest.raises(ValueError, match=r"group_size must be 0 \(the whole batch\) or at least 2"):
        MinibatchStddev(group_size=group_size)
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", [f"model.mbstd_group_size={group_size}"])
    message = str(err.value)
    assert message.startswith(f"override: model.mbstd_group_size: must be 0 or at least 2, got {group_size}")
    assert message.count("model.mbstd_group_size") == 1 and "Fix: give 0 (one group: the whole batch)" in message


@pytest.mark.parametrize("group_size", [0, 2, 4, 64])
def test_valid_group_sizes_are_accepted(group_size):
    assert load_profile("smoke", [f"model.mbstd_group_size={group_size}"]).model.mbstd_group_size == group_size
