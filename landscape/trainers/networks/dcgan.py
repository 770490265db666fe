"""Unconditional generators (classic DCGAN, ResUp) and their discriminators.

Images are RGB in [-1, 1]; latents are standard normal vectors of `latent_dim`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

GENERATOR_ARCHS = ("dcgan", "resup")


@dataclass(frozen=True)
class GeneratorConfig:
    arch: str = "resup"
    resolution: int = 128
    latent_dim: int = 128
    width: int = 64

    def __post_init__(self) -> None:
        if self.arch not in GENERATOR_ARCHS:
            raise ValueError(f"arch must be one of {GENERATOR_ARCHS}, got {self.arch!r}")
        if self.arch == "dcgan" and self.resolution not in (64, 128):
            raise ValueError(f"the classic DCGAN generator is 64 or 128 px, got {self.resolution}")
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {self.resolution}")
        if self.latent_dim < 1 or self.width < 1:
            raise ValueError("latent_dim and width must be positive")


@dataclass(frozen=True)
class DiscriminatorConfig:
    resolution: int = 128
    width: int = 64
    spectral_norm: bool = False
    self_attention: bool = False
    minibatch_discrimination: bool = False
    # "batch" for the classic DCGAN discriminator; "layer" for a WGAN-GP critic, whose
    # gradient penalty is per sample and so must not see batch statistics.
    norm: str = "batch"

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {self.resolution}")
        if self.norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be batch, layer or none, got {self.norm!r}")


def _channels(width: int, level: int, cap: int = 16) -> int:
    return width * min(2**level, cap)


class DCGANGenerator(nn.Module):
    """The classic DCGAN generator: a stack of stride-2 transposed convolutions.

    z (N, latent_dim) -> image (N, 3, R, R) in [-1, 1], R = 64 or 128.
    """

    def __init__(self, *, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        ups = int(math.log2(config.resolution)) - 2  # 4x4 start, doubled `ups` times
        chans = [_channels(config.width, ups - 1 - i) for i in range(ups)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.latent_dim, chans[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class ResUpBlock(nn.Module):
    """BN-ReLU-upsample-conv-BN-ReLU-conv with an upsampled 1x1 shortcut.

    Nearest upsampling followed by a 3x3 convolution avoids the checkerboard artefacts
    of stride-2 transposed convolutions.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
        )
        self.shortcut = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResUpGenerator(nn.Module):
    """Linear projection to 4x4 then ResUp blocks to the target resolution.

    z (N, latent_dim) -> image (N, 3, R, R) in [-1, 1].
    """

    def __init__(self, *, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        ups = int(math.log2(config.resolution)) - 2
        chans = [_channels(config.width, ups - i, cap=8) for i in range(ups + 1)]
        self.start_channels = chans[0]
        self.project = nn.Linear(config.latent_dim, chans[0] * 16)
        self.blocks = nn.Sequential(*(ResUpBlock(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.to_rgb = nn.Sequential(
            nn.BatchNorm2d(chans[-1]), nn.ReLU(inplace=True), nn.Conv2d(chans[-1], 3, 3, 1, 1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).reshape(-1, self.start_channels, 4, 4)
        return self.to_rgb(self.blocks(x))


def build_generator(config: GeneratorConfig) -> nn.Module:
    return DCGANGenerator(config=config) if config.arch == "dcgan" else ResUpGenerator(config=config)


class SelfAttention(nn.Module):
    """SAGAN self-attention: every position attends to every other; gamma starts at 0 so
    the block begins as the identity and the network learns how much to use it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)
        k = self.key(x).flatten(2)
        attn = torch.softmax(q @ k, dim=-1)
        v = self.value(x).flatten(2)
        out = (v @ attn.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.gamma * out


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: features that measure how close each sample is to the others
    in the batch, so that a collapsed generator (all samples alike) is easy to spot."""

    def __init__(self, in_features: int, kernels: int = 32, kernel_dim: int = 8) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x @ self.T).reshape(-1, self.kernels, self.kernel_dim)
        l1 = (m[:, None] - m[None, :]).abs().sum(-1)  # (N, N, kernels)
        closeness = torch.exp(-l1).sum(1) - 1.0  # exclude each sample's match with itself
        return torch.cat([x, closeness], dim=1)


class DCGANDiscriminator(nn.Module):
    """Stride-2 convolutions down to 4x4, then one logit per image.

    image (N, 3, R, R) in [-1, 1] -> logits (N,). Losses apply the sigmoid (or none, for
    WGAN), so the network never does.
    """

    def __init__(self, *, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        sn = spectral_norm if config.spectral_norm else (lambda m: m)
        downs = int(math.log2(config.resolution)) - 2
        chans = [_channels(config.width, i, cap=8) for i in range(downs)]
        layers: list[nn.Module] = [sn(nn.Conv2d(3, chans[0], 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        size = config.resolution // 2
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers.append(sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=config.norm == "none")))
            size //= 2
            if config.norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            elif config.norm == "layer":
                layers.append(nn.GroupNorm(1, c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            # Attention where maps are still big enough to hold long-range structure.
            if config.self_attention and size == 16:
                layers.append(SelfAttention(c_out))
        self.features = nn.Sequential(*layers)
        flat = chans[-1] * 16
        self.minibatch = MinibatchDiscrimination(flat) if config.minibatch_discrimination else None
        head_in = flat + (self.minibatch.kernels if self.minibatch else 0)
        self.head = sn(nn.Linear(head_in, 1))
        if not config.spectral_norm:
            init_dcgan_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = self.features(image).flatten(1)
        if self.minibatch is not None:
            h = self.minibatch(h)
        return self.head(h).squeeze(1)


class WGANCritic(DCGANDiscriminator):
    """The WGAN critic: the DCGAN discriminator without batch norm, read as an unbounded score.

    Batch norm couples samples, which breaks the per-sample gradient penalty of WGAN-GP;
    layer norm (GroupNorm with one group) keeps the critic well conditioned without it.
    """

    def __init__(self, *, resolution: int = 128, width: int = 64, norm: str = "layer") -> None:
        if norm == "batch":
            raise ValueError("a WGAN critic must not use batch norm")
        super().__init__(config=DiscriminatorConfig(resolution=resolution, width=width, norm=norm))


def init_dcgan_weights(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) convs, N(1, 0.02) norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
