"""Held-out quality metrics: PSNR and SSIM (paired tasks), sliced Wasserstein distance and
FID (unconditional generation). Images are float tensors in [0, 1], (N, 3, H, W)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch.nn import functional as F

from landscape.trainers.checkpoint import read_weights

# BT.601 luma, as the super-resolution literature measures PSNR on the Y channel.
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def to_y(img: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_Y_WEIGHTS, device=img.device, dtype=img.dtype).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True) + 16.0 / 255.0


def psnr(pred: torch.Tensor, target: torch.Tensor, *, weight: torch.Tensor | None = None, border: int = 0) -> float:
    """Mean PSNR in dB over the batch; `weight` (N, 1, H, W) restricts it to some pixels
    (the hole, for inpainting); `border` pixels are cropped first."""
    if border:
        pred, target = pred[..., border:-border, border:-border], target[..., border:-border, border:-border]
        weight = None if weight is None else weight[..., border:-border, border:-border]
    err = (pred.clamp(0, 1).double() - target.double()) ** 2
    if weight is None:
        mse = err.flatten(1).mean(1)
    else:
        w = weight.double().expand_as(err)
        mse = (err * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1.0)
    return float((10 * torch.log10(1.0 / mse.clamp_min(1e-12))).mean())


def _gaussian_window(size: int = 11, sigma: float = 1.5, *, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004; 11x11 Gaussian, sigma 1.5), averaged over channels."""
    pred, target = pred.clamp(0, 1).double(), target.double()
    c = pred.shape[1]
    win = _gaussian_window(channels=c, device=pred.device, dtype=pred.dtype)
    blur = lambda t: F.conv2d(t, win, groups=c)  # noqa: E731
    mu_x, mu_y = blur(pred), blur(target)
    sxx = blur(pred * pred) - mu_x**2
    syy = blur(target * target) - mu_y**2
    sxy = blur(pred * target) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return s.mean(1, keepdim=True)


def ssim(pred: torch.Tensor, target: torch.Tensor, *, weight: torch.Tensor | None = None, border: int = 0) -> float:
    if border:
        pred, target = pred[..., border:-border, border:-border], target[..., border:-border, border:-border]
        weight = None if weight is None else weight[..., border:-border, border:-border]
    s = ssim_map(pred, target)
    if weight is None:
        return float(s.mean())
    pad = (weight.shape[-1] - s.shape[-1]) // 2
    w = weight[..., pad : pad + s.shape[-2], pad : pad + s.shape[-1]].double()
    return float((s * w).sum() / w.sum().clamp_min(1.0))


def _laplacian_pyramid(img: torch.Tensor, levels: int) -> list[torch.Tensor]:
    out, cur = [], img
    for _ in range(levels - 1):
        down = F.avg_pool2d(cur, 2)
        out.append(cur - F.interpolate(down, scale_factor=2, mode="bilinear", align_corners=False))
        cur = down
    out.append(cur)
    return out


def sliced_wasserstein(real: torch.Tensor, fake: torch.Tensor, *, patches_per_image: int = 64, patch: int = 7,
                       projections: int = 256, seed: int = 0) -> dict[str, float]:
    """Karras et al. 2018: the distance between the distributions of 7x7 patches of real and
    generated images, level by level of a Laplacian pyramid (fine detail to coarse layout),
    as a mean of 1-D Wasserstein distances along random directions. Lower is better; the
    figures are x1000 as in the paper."""
    gen = torch.Generator().manual_seed(seed)
    levels = max(1, min(4, int(math.log2(max(real.shape[-1] // 16, 1))) + 1))
    result = {}
    for level, (r, f) in enumerate(zip(_laplacian_pyramid(real.float().cpu(), levels), _laplacian_pyramid(fake.float().cpu(), levels))):
        descs = []
        for imgs in (r, f):
            n, c, h, w = imgs.shape
            ys = torch.randint(0, h - patch + 1, (n, patches_per_image), generator=gen)
            xs = torch.randint(0, w - patch + 1, (n, patches_per_image), generator=gen)
            iy = ys[..., None, None] + torch.arange(patch)[:, None]
            ix = xs[..., None, None] + torch.arange(patch)[None, :]
            # (n, P, patch, patch, c): advanced indices around the channel slice come first.
            d = imgs[torch.arange(n)[:, None, None, None], :, iy, ix].reshape(n * patches_per_image, -1)
            d = (d - d.mean(0)) / d.std(0).clamp_min(1e-8)  # per-dimension normalisation, as in the paper
            descs.append(d)
        count = min(len(descs[0]), len(descs[1]))
        dirs = torch.randn(descs[0].shape[1], projections, generator=gen)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        pr = torch.sort(descs[0][:count] @ dirs, dim=0).values
        pf = torch.sort(descs[1][:count] @ dirs, dim=0).values
        result[f"swd_{real.shape[-1] >> level}px"] = float((pr - pf).abs().mean() * 1000)
    result["swd_mean"] = sum(result.values()) / len(result)
    return result


INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"


def find_inception_weights(explicit: str) -> Path | None:
    """The Inception-v3 weights FID needs: an explicit file, or torchvision's cache when it
    happens to hold them. Nothing is downloaded."""
    if explicit:
        return Path(explicit)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return cached if cached.is_file() else None


class FID:
    """Fréchet distance between Inception-v3 pool features of real and generated images
    (torchvision's ImageNet weights; close to, not identical with, the TF reference)."""

    def __init__(self, weights: Path, device: torch.device) -> None:
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        net.load_state_dict(read_weights(weights))
        net.fc = torch.nn.Identity()
        self.net = net.eval().requires_grad_(False).to(device)
        self.device = device

    @torch.no_grad()
    def features(self, img: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(img.to(self.device).float(), size=(299, 299), mode="bilinear", align_corners=False)
        mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)
        return self.net((x - mean) / std).double().cpu()

    def distance(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        return frechet_distance(self.features(real), self.features(fake))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(A + B - 2 sqrt(A B)) between Gaussians fitted to feature rows."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    # tr(sqrt(A B)) from the eigenvalues of sqrt(A) B sqrt(A), which is symmetric PSD.
    vals, vecs = torch.linalg.eigh(cov_a)
    sqrt_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    tr_sqrt = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp_min(0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt)


def fid_status(explicit: str) -> str:
    path = find_inception_weights(explicit)
    if path is None:
        return (f"FID off: no Inception-v3 weights (give --inception-weights FILE, or place {INCEPTION_FILE} in "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}); SWD is computed instead")
    return f"FID on, Inception weights {path}" if os.path.isfile(path) else f"--inception-weights {path}: no such file"
