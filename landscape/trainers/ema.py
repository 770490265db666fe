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

    def decay_at(self, step: int, start: int = 0) -> float:
        """Before `start` the average just follows the network: early weights are not worth
        keeping. After it, the decay warms up as (1 + n) / (10 + n) until it reaches the
        target, so the average reflects the last few hundred steps of a short run rather than
        the initial weights (with a fixed 0.999, 37% of the average is still the weights of
        1000 steps before)."""
        if step < start:
            return 0.0
        n = step - start
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, net: nn.Module, step: int, start: int = 0) -> None:
        decay = self.decay_at(step, start)
        for ema_p, p in zip(self.module.parameters(), net.parameters()):
            ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - decay)
        # Buffers (batch-norm statistics) are copied, not averaged.
        for ema_b, b in zip(self.module.buffers(), net.buffers()):
            ema_b.copy_(b)
