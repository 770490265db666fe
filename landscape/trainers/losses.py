"""GAN losses and the label tricks that go with them.

`logits` are raw discriminator outputs; every loss here applies its own link function.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

GAN_LOSSES = ("bce", "hinge", "wgan", "wgan-gp")


def d_targets(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, smoothing: float,
              flip_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
    """BCE targets for D. One-sided label smoothing (real = 1 - smoothing) keeps D from
    growing overconfident; flipping a random share of labels ("noisy labels") injects the
    doubt that stops D from winning outright early in training."""
    real_t = torch.full_like(real_logits, 1.0 - smoothing)
    fake_t = torch.zeros_like(fake_logits)
    if flip_prob > 0:
        flip_r = torch.rand_like(real_t) < flip_prob
        flip_f = torch.rand_like(fake_t) < flip_prob
        real_t = torch.where(flip_r, torch.zeros_like(real_t), real_t)
        fake_t = torch.where(flip_f, torch.full_like(fake_t, 1.0 - smoothing), fake_t)
    return real_t, fake_t


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor, *, smoothing: float = 0.0,
           flip_prob: float = 0.0) -> torch.Tensor:
    if kind == "bce":
        real_t, fake_t = d_targets(real_logits, fake_logits, smoothing=smoothing, flip_prob=flip_prob)
        return (F.binary_cross_entropy_with_logits(real_logits, real_t)
                + F.binary_cross_entropy_with_logits(fake_logits, fake_t))
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if kind in ("wgan", "wgan-gp"):
        # The critic estimates the Wasserstein distance E[D(real)] - E[D(fake)]; it maximises it.
        return fake_logits.mean() - real_logits.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "bce":
        # Non-saturating: maximise log D(G(z)) instead of minimising log(1 - D(G(z))), whose
        # gradient vanishes exactly when G is poor and most needs it.
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind in ("hinge", "wgan", "wgan-gp"):
        return -fake_logits.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)|| - 1)^2 on random interpolates, a soft 1-Lipschitz constraint
    that replaces weight clipping."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grads,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def relativistic_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """ESRGAN's relativistic average discriminator: is a real image more realistic than the
    average fake (and a fake less so than the average real)?"""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_logits - fake_logits.mean(), torch.ones_like(real_logits))
        + F.binary_cross_entropy_with_logits(fake_logits - real_logits.mean(), torch.zeros_like(fake_logits))
    )


def relativistic_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The symmetric generator side: G also gets gradients from the real images' scores."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_logits - fake_logits.mean(), torch.zeros_like(real_logits))
        + F.binary_cross_entropy_with_logits(fake_logits - real_logits.mean(), torch.ones_like(fake_logits))
    )
