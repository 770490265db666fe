"""ESRGAN's perceptual loss: L1 between VGG19 conv5_4 features (before the ReLU) of the
super-resolved and the real image. VGG19 weights are never downloaded: they come from a
file the user names or from torchvision's cache, and a run that asks for the loss without
them stops before training (it is never silently dropped)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from landscape.trainers.checkpoint import WeightsError, read_weights

VGG19_FILE = "vgg19-dcbbe6be.pth"  # the name torchvision caches ImageNet VGG19 weights under
CONV5_4 = 35  # features[:35] ends with conv5_4, before its ReLU


class PerceptualWeightsMissing(ValueError):
    pass


def find_vgg19_weights(explicit: str) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise PerceptualWeightsMissing(f"--vgg-weights {path}: no such file")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    if cached.is_file():
        return cached
    raise PerceptualWeightsMissing(
        f"the perceptual loss needs ImageNet VGG19 weights and none were found: give --vgg-weights FILE "
        f"(torchvision's {VGG19_FILE}, .pth or .safetensors), place it in {cached.parent}, "
        f"or set --perceptual-weight 0 to train without it")


class PerceptualLoss(nn.Module):
    def __init__(self, weights: Path) -> None:
        super().__init__()
        from torchvision.models import vgg19

        features = vgg19(weights=None).features[:CONV5_4]
        try:
            loaded = read_weights(weights)
        except WeightsError as exc:
            raise PerceptualWeightsMissing(str(exc)) from None
        state = {k[len("features."):]: v for k, v in loaded.items() if k.startswith("features.")}
        try:
            features.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < CONV5_4}, strict=True)
        except RuntimeError as exc:
            raise PerceptualWeightsMissing(f"{weights}: not VGG19 weights ({str(exc).splitlines()[0]})") from None
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """sr, hr in [0, 1]."""
        f = lambda x: self.features((x - self.mean) / self.std)  # noqa: E731
        return F.l1_loss(f(sr), f(hr).detach())
