"""Exponential moving average of a network's weights: samples from the averaged generator
are smoother and more stable than from the live one, which oscillates with D."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, step: int, start: int = 0) -> None:
        # Before `start` the average just follows the network: early weights are not worth keeping.
        decay = self.decay if step >= start else 0.0
        for ema_p, p in zip(self.module.parameters(), net.parameters()):
            ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - decay)
        # Buffers (batch-norm statistics) are copied, not averaged.
        for ema_b, b in zip(self.module.buffers(), net.buffers()):
            ema_b.copy_(b)
