"""The pretrained EfficientNet-Lite0 extractor: real ImageNet weights from the installed package, offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage import data

from pacgan_lite.config import EvaluationOptions
from pacgan_lite.evaluation.evaluate import build_context
from pacgan_lite.metrics import EvaluationSets, compute_metrics
from pacgan_lite.metrics.efficientnet import FEATURES, load_efficientnet_lite0
from pacgan_lite.preprocess.qc import template_slice

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize(("photo", "imagenet_class"), [("chelsea", 285), ("coffee", 967)],
                         ids=["cat: Egyptian cat", "coffee: espresso"])
def test_the_weights_are_the_pretrained_ones(photo, imagenet_class):
    """scikit-image's sample photographs get their ImageNet class through the kit's input convention."""
    network = load_efficientnet_lite0()
    image = torch.tensor(getattr(data, photo)(), dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1
    logits = network.network(network.prepare(image))
    assert logits.argmax().item() == imagenet_class


def test_grey_images_give_batch_independent_features():
    network = load_efficientnet_lite0()
    images = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    features = network(images)
    assert features.shape == (3, FEATURES) and torch.isfinite(features).all()
    torch.testing.assert_close(network(images.expand(-1, 3, -1, -1)), features)
    torch.testing.assert_close(network(images[1:2]), features[1:2], atol=1e-4, rtol=1e-4)


def _brain_slices(blur_mm: float, seed: int) -> torch.Tensor:
    """Template slices 118-141 at 64 px with a little noise, optionally blurred: [24, 1, 64, 64]."""
    rng = np.random.default_rng(seed)
    slices = []
    for k in range(118, 142):
        image = template_slice(k) * 2 - 1 + rng.normal(0, 0.03, (256, 256))
        slices.append(ndi.gaussian_filter(image, blur_mm) if blur_mm else image)
    return torch.tensor(np.stack(slices)[:, None, ::4, ::4], dtype=torch.float32).clamp(-1, 1)


def test_fd_efficientnet_separates_blurred_brains_from_the_real_real_baseline():
    sharp, blurred = _brain_slices(0.0, seed=0), _brain_slices(2.0, seed=1)
    labels = torch.arange(2).repeat(12)
    sets = EvaluationSets(sharp, labels, sharp, labels, blurred, labels, ["CN", "AD"])
    context = build_context(sets, EvaluationOptions(), cache_dir=None)
    result = compute_metrics(context, ["fd_efficientnet"])["fd_efficientnet"]
    assert result["extractor"] == "efficientnet"
    assert result["overall"]["real_fake"] > 3 * result["overall"]["real_real"] > 0
