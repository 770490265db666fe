"""Data-parallel training under torchrun: one process per device, same model on each,
gradients averaged across processes after every backward pass.

Gradients are averaged by an explicit all-reduce rather than by wrapping networks in
DistributedDataParallel: GAN steps run D on reals and fakes in separate passes, push G's
loss through D, and WGAN-GP differentiates through a gradient (double backward), none of
which DDP's hooks support. One flattened all-reduce per optimiser step is what DDP would
send anyway, minus the overlap with the backward pass.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device_kind: str) -> Dist:
    """Join the process group torchrun describes in the environment; a plain run is world 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(0, 1, 0)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(rank, world, local_rank)


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(net: nn.Module, d: Dist) -> None:
    """Rank 0's parameters and buffers everywhere (start of run, and before eval/saving,
    since batch-norm statistics drift apart per rank)."""
    if not d.enabled:
        return
    for t in list(net.parameters()) + list(net.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(net: nn.Module, d: Dist) -> None:
    if not d.enabled:
        return
    params = [p for p in net.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= d.world
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def mean_across(values: dict[str, float], d: Dist, device: torch.device) -> dict[str, float]:
    if not d.enabled or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, (t / d.world).tolist()))


def any_across(flag: bool, d: Dist, device: torch.device) -> bool:
    """True on every rank if it is true on any (one rank's clock must not end the run alone)."""
    if not d.enabled:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_tensor(t: torch.Tensor, d: Dist) -> list[torch.Tensor]:
    """Every rank's copy of a same-shaped tensor (used for RNG states in checkpoints)."""
    if not d.enabled:
        return [t]
    out = [torch.empty_like(t) for _ in range(d.world)]
    dist.all_gather(out, t)
    return out


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()
