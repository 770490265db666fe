"""What every training run shares: the common options, device and precision, the run
folder (config.json first, never reused), the step loop with its NaN/Inf guard, metrics
(JSONL + loss-curve PNG), sample grids, and checkpoints that resume exactly.

Each family module builds its data, networks and one `train_step`, then hands them to
`TrainingRun.loop`; the family loop stays readable top to bottom and this file holds the
plumbing once.
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from landscape.errors import interrupted_code, interruption
from landscape.trainers import distributed
from landscape.trainers.checkpoint import (CheckpointError, WeightsError, atomic_write, load_checkpoint, module_state, prefixed,
                                 save_checkpoint)
from landscape.trainers.ema import EMA
from landscape.trainers.options import OptionError, opt, to_dict
from landscape.trainers.slim import read_slim_state, restore_modules, write_slim_state
from landscape.trainers.state import pack_optimizer, rng_states, set_rng_states, unpack_optimizer

AMP_MODES = ("auto", "none", "bf16", "fp16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
SLIM_STATE = "slim.safetensors"  # in the run folder, rewritten with every checkpoint
PREVIEW_SIDE = 1024  # the longest side of a run's preview.jpg


class TrainingError(RuntimeError):
    """The run cannot go on (a loss became NaN/Inf, no checkpoint loads); exit 1."""


@dataclass(frozen=True)
class BaseConfig:
    data: str = opt("", "training images: a folder, searched recursively")
    steps: int = opt(10000, "optimisation steps to train for (generator steps for GANs)")
    max_minutes: float = opt(0.0, "also stop after this many minutes of training in this process (0: no limit); the "
                             "step reached then ends the run as --steps would: samples, evaluation, checkpoint")
    batch_size: int = opt(32, "global batch size, split evenly across torchrun processes")
    seed: int = opt(0, "seed for initialisation, data order, augmentation and the held-out split")
    holdout: float = opt(0.05, "share of the images held out for evaluation and sample grids")
    device: str = opt("auto", "cuda, cpu or auto (CUDA when available)", ("auto", "cuda", "cpu"))
    amp: str = opt("auto", "mixed precision: auto (bf16 on CUDA that supports it and on CPUs with AMX or AVX512-BF16, else "
                   "none), none, bf16, fp16", AMP_MODES)
    memory_format: str = opt("auto", "auto (channels_last on CUDA and on CPUs with bf16 units), channels_last or contiguous", MEMORY_FORMATS)
    compile: bool = opt(False, "torch.compile the networks (CUDA; slow first steps)")
    device_data: str = opt("auto", "hold the training images on the training device, decoded once, and crop, flip, "
                           "jitter, degrade and mask them there: auto (on CUDA and on CPUs with bf16 units), on, off (CPU workers)", ("auto", "on", "off"))
    workers: int = opt(2, "data-loading worker processes per training process")
    log_every: int = opt(50, "steps between metric records and progress updates")
    sample_every: int = opt(1000, "steps between sample grids (0: only at the end)")
    eval_every: int = opt(1000, "steps between held-out evaluations (0: only at the end)")
    checkpoint_every: int = opt(1000, "steps between checkpoints (0: only at the end)")
    keep_last: int = opt(3, "checkpoints kept in the run folder (older ones are deleted)")
    samples: int = opt(16, "images in each sample grid")
    warmup_steps: int = opt(200, "after --resume from a slim state (which holds no optimiser moments): learning rates "
                            "ramp up linearly over this many steps")

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("--data is required")
        for name in ("steps", "batch_size", "log_every", "keep_last", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        for name in ("workers", "sample_every", "eval_every", "checkpoint_every", "max_minutes", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
        if not 0 <= self.holdout < 1:
            raise ValueError("--holdout must be in [0, 1)")


def _resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda: no usable CUDA device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _fast_bf16(device: torch.device) -> bool:
    """Whether bf16 runs at full speed here: CUDA that supports it, or a CPU with AMX or
    AVX512-BF16 units (elsewhere oneDNN emulates bf16, slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    from landscape.runtime.cpu import facts  # torch-free and import-free: the CPU's flags

    return device.type == "cpu" and facts().has_bf16


def _resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "auto":
        return torch.bfloat16 if _fast_bf16(device) else None
    if mode == "fp16" and device.type != "cuda":
        raise OptionError("--amp fp16 needs CUDA; use bf16 or none on the CPU")
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


class TrainingRun:
    def __init__(self, family: str, config: BaseConfig, run_args: Any, *, warn: Callable[[str], None] | None = None) -> None:
        self.family, self.config = family, config
        self.device = _resolve_device(config.device)
        self.amp_dtype = _resolve_amp(config.amp, self.device)
        # On a CPU with bf16 units the fastest measured recipe holds the data on the device too,
        # in channels_last: the upscaler's trainer went from 10 to 20-25 patches/s at batch 16.
        fast = self.device.type == "cuda" or _fast_bf16(self.device)
        self.device_data = config.device_data == "on" or (config.device_data == "auto" and fast)
        fmt = config.memory_format
        self.channels_last = fmt == "channels_last" or (fmt == "auto" and fast)
        self.dist = distributed.setup(self.device.type)
        if config.batch_size % self.dist.world:
            raise OptionError(f"--batch-size {config.batch_size} does not split evenly over {self.dist.world} processes")
        self.batch = config.batch_size // self.dist.world
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.backends.cudnn.benchmark = True  # fixed training shapes: let cuDNN pick the fastest kernels
        self.dry_run = run_args.dry_run
        resume = None if run_args.resume is None else Path(run_args.resume)
        # --resume FILE: a slim state, continued in a new run folder; --resume FOLDER: that run.
        self.slim_source = resume if resume is not None and resume.is_file() else None
        self.resuming = resume is not None and self.slim_source is None
        if self.resuming:
            self.folder = resume
        else:
            self.folder = Path(run_args.out or f"runs/{family}-{time.strftime('%Y%m%d-%H%M%S')}")
            if self.folder.exists():
                raise OptionError(f"{self.folder}: run folder exists; runs are never reused (use --resume {self.folder} to continue it)")
        self.warn = warn or (lambda msg: print(f"landscape train: {msg}", file=sys.stderr, flush=True))
        self.nets: dict[str, nn.Module] = {}
        self.emas: dict[str, EMA] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.last_checkpoint: Path | None = None
        self.warm_from: int | None = None  # the step a slim state resumed at: learning rates ramp up from it
        self.restarted: list[str] = []  # networks a slim state did not hold, left at their initialisation
        self.current_step = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._count = 0
        self._since = time.perf_counter()
        # Same initial weights on every rank; then different random streams per rank, so
        # that ranks draw different latents, masks and dropout.
        torch.manual_seed(config.seed)

    # -- devices and precision ------------------------------------------------------------

    def seed_streams(self, step: int = 0) -> None:
        """Different streams per rank; a run continued from a slim state at step s draws new
        numbers rather than replaying those of its first steps."""
        torch.manual_seed(self.config.seed + 1_000_003 * (self.dist.rank + 1) + step)

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, net: nn.Module) -> nn.Module:
        net = net.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        distributed.broadcast_module(net, self.dist)
        return net

    def stream(self, dataset: torch.utils.data.Dataset, device_batches: Callable[[], Callable], *, consumed: int,
               weights: torch.Tensor | None = None) -> Any:
        """The training batches: made on the device (`device_batches()` decodes the data once
        and returns the batch maker, landscape.trainers.device_data), or loaded by CPU workers."""
        from landscape.trainers.data import BatchStream
        from landscape.trainers.device_data import DeviceStream

        common = {"rank": self.dist.rank, "world": self.dist.world, "seed": self.config.seed, "consumed": consumed,
                  "weights": weights, "device": self.device}
        if self.device_data:
            return DeviceStream(len(dataset), self.batch, device_batches(), **common)
        return BatchStream(dataset, self.batch, workers=self.config.workers, **common)

    def compiled(self, net: nn.Module) -> Callable:
        """The callable to train with; state is always read from the original module."""
        return torch.compile(net) if self.config.compile else net

    def images(self, batch_nchw: torch.Tensor) -> torch.Tensor:
        return batch_nchw.contiguous(memory_format=torch.channels_last) if self.channels_last else batch_nchw

    def scaler(self, name: str) -> torch.amp.GradScaler:
        # Loss scaling is for fp16 only; bf16 has fp32's range.
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.scalers[name] = scaler
        return scaler

    def step_optimizer(self, name: str, loss: torch.Tensor, net: nn.Module) -> None:
        """Backward, average gradients over processes, step: the one place all GAN updates go through."""
        opt_, scaler = self.optimizers[name], self.scalers[name]
        opt_.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        distributed.average_gradients(net, self.dist)
        factor = self.lr_factor()
        if factor < 1.0:
            rates = [group["lr"] for group in opt_.param_groups]
            for group in opt_.param_groups:
                group["lr"] *= factor
        scaler.step(opt_)
        scaler.update()
        if factor < 1.0:
            for group, rate in zip(opt_.param_groups, rates):
                group["lr"] = rate

    def lr_factor(self) -> float:
        """The warm-up after a slim state: optimisers restart with empty moments."""
        if self.warm_from is None or self.config.warmup_steps == 0:
            return 1.0
        return min(1.0, (self.current_step - self.warm_from) / self.config.warmup_steps)

    # -- the plan, the folder, resume ---------------------------------------------------------

    def track(self, *, nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
              emas: dict[str, EMA] | None = None) -> None:
        self.nets, self.optimizers, self.emas = nets, optimizers, emas or {}
        for name in optimizers:
            if name not in self.scalers:
                self.scaler(name)

    def describe(self, **plan: Any) -> dict[str, Any]:
        params = {name: sum(p.numel() for p in net.parameters()) for name, net in self.nets.items()}
        return {
            "family": self.family,
            "folder": str(self.folder),
            "resume": self.resuming,
            "device": str(self.device),
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "none",
            "channels_last": self.channels_last,
            "world_size": self.dist.world,
            "batch_per_process": self.batch,
            "parameters": params,
            **plan,
            "train": to_dict(self.config),
        }

    def start(self, *, network: dict[str, Any], weights: str, data: str, split: dict[str, list[str]],
              plan: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create the run folder (config.json first) or restore the newest loadable checkpoint.
        Returns (step, the family's loop state)."""
        self.network, self.weights, self.data = network, weights, data
        if self.resuming:
            return self._restore()
        step, loop, origin = 0, {}, {}
        if self.slim_source is not None:
            step, loop, origin = self._from_slim(self.slim_source)
        if self.dist.main:
            self.folder.mkdir(parents=True)
            config = {"family": self.family, "network": network, "weights": weights, "data": data,
                      "train": to_dict(self.config), "world_size": self.dist.world, "torch": torch.__version__, **origin}
            atomic_write(self.folder / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
            atomic_write(self.folder / "split.json", lambda tmp: Path(tmp).write_text(json.dumps(split, indent=1) + "\n"))
            self._append({"kind": "start", "step": step, **origin, **self.describe(**plan)})
        distributed.barrier(self.dist)
        self.seed_streams(step)
        return step, loop

    def _from_slim(self, path: Path) -> tuple[int, dict[str, Any], dict[str, Any]]:
        tensors, saved = read_slim_state(path)
        if saved["network"] != json.loads(json.dumps(self.network)):
            raise OptionError(f"--resume {path}: the slim state's network differs from this run's; start a new run instead")
        try:
            self.restarted = restore_modules(tensors, saved, {**self.nets, **{n: e.module for n, e in self.emas.items()}})
        except (CheckpointError, RuntimeError) as exc:
            raise OptionError(f"--resume {path}: does not fit this run's networks ({str(exc).splitlines()[0]})") from None
        step = saved["train_state"]["step"]
        if step >= self.config.steps:
            raise OptionError(f"--resume {path}: the state is at step {step}; --steps must be larger")
        self.warm_from = step
        origin = {"resumed_from": {"slim_state": str(path), "step": step, "restarted": self.restarted,
                                   "warmup_steps": self.config.warmup_steps}}
        for name in self.restarted:
            self.warn(f"{name} is not in the slim state: it starts from its initialisation")
        return step, saved["train_state"]["loop"], origin

    def checkpoints(self) -> list[Path]:
        return sorted((self.folder / "checkpoints").glob("step_*.safetensors"))

    def _restore(self) -> tuple[int, dict[str, Any]]:
        for path in reversed(self.checkpoints()):
            try:
                step, loop_state = self._load(path)
            except (CheckpointError, KeyError, ValueError, RuntimeError) as exc:
                self.warn(f"{path}: cannot resume from it ({str(exc).splitlines()[0]}); trying an older checkpoint")
                continue
            if self.dist.main:
                self._truncate_metrics(step)
                self._append({"kind": "resume", "step": step, "checkpoint": path.name, **self.describe()})
            self.last_checkpoint = path
            origin = json.loads((self.folder / "config.json").read_text()).get("resumed_from")
            if origin is not None:  # a run begun from a slim state: its warm-up goes on where it was
                self.warm_from, self.restarted = origin["step"], origin["restarted"]
            return step, loop_state
        raise TrainingError(f"{self.folder}: no checkpoint to resume from")

    def _load(self, path: Path) -> tuple[int, dict[str, Any]]:
        tensors, config = load_checkpoint(path)
        state = config["train_state"]
        for name, net in self.nets.items():
            net.load_state_dict(module_state(tensors, name), strict=True)
        for name, ema in self.emas.items():
            ema.module.load_state_dict(module_state(tensors, name), strict=True)
        for name, opt_ in self.optimizers.items():
            opt_.load_state_dict(unpack_optimizer(name, tensors, state["optimizers"][name]))
        for name, scaler in self.scalers.items():
            if state["scalers"].get(name):
                scaler.load_state_dict(state["scalers"][name])
        if state["world_size"] == self.dist.world:
            r = self.dist.rank
            set_rng_states({k: tensors[f"rng.{k}.{r}"] for k in ("cpu", "cuda") if f"rng.{k}.{r}" in tensors}, self.device)
        else:
            self.warn(f"resuming with {self.dist.world} process(es) instead of {state['world_size']}: random streams restart")
            torch.manual_seed(self.config.seed + 1_000_003 * (self.dist.rank + 1) + state["step"])
        return state["step"], state["loop"]

    # -- the loop -----------------------------------------------------------------------------

    def loop(self, start: int, train_step: Callable[[int], dict[str, torch.Tensor]], *,
             loop_state: Callable[[], dict[str, Any]], sample: Callable[[], torch.Tensor],
             evaluate: Callable[[], dict[str, float]], images_per_step: int,
             grid_columns: int | None = None) -> Path | None:
        """Run steps start+1 .. config.steps, then leave the process group. Losses are checked
        for NaN/Inf before anything is logged, sampled, evaluated or saved, so a poisoned state
        is never written. `grid_columns`: images per sample-grid row (default: a square grid)."""
        try:
            return self._loop(start, train_step, loop_state, sample, evaluate, images_per_step, grid_columns)
        finally:
            distributed.teardown(self.dist)

    def _loop(self, start, train_step, loop_state, sample, evaluate, images_per_step, grid_columns) -> Path | None:
        from tqdm import tqdm

        c = self.config
        bar = tqdm(total=c.steps, initial=start, desc=f"train {self.family}", unit="step", dynamic_ncols=True,
                   disable=None if self.dist.main else True, file=sys.stderr)
        self._since, self._count = time.perf_counter(), 0
        deadline = self._since + c.max_minutes * 60
        for step in range(start + 1, c.steps + 1):
            self.current_step = step
            losses = train_step(step)
            for name, value in losses.items():
                value = value.detach().float()
                self._sums[name] = self._sums[name] + value if name in self._sums else value
                self._counts[name] = self._counts.get(name, 0) + 1
            self._count += 1
            bar.update(1)
            # Every process must agree on the last step, or the gradient all-reduce would hang.
            timed_out = c.max_minutes > 0 and distributed.any_across(time.perf_counter() > deadline, self.dist, self.device)
            last = step if timed_out else c.steps
            needs = [_due(step, every, last) for every in (c.log_every, c.sample_every, c.eval_every, c.checkpoint_every)]
            if any(needs):
                record = self._flush(step, images_per_step)
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k not in ("kind", "step", "images_per_s")})
            if needs[1] and self.dist.main:
                self._grid(step, sample(), grid_columns)
            if needs[2] and self.dist.main:
                self._append({"kind": "eval", "step": step, **evaluate()})
                self._loss_curve()
            if needs[3]:
                self._save(step, loop_state())
            if step == last:
                if last < c.steps:
                    self.warn(f"--max-minutes {c.max_minutes:g} reached at step {step} of {c.steps}")
                break
        bar.close()
        return self.last_checkpoint

    def _flush(self, step: int, images_per_step: int) -> dict[str, Any]:
        # Per-loss counts: a step may skip an update (monitored rule, boost bursts).
        means = {name: float(total) / self._counts[name] for name, total in self._sums.items()}
        means = distributed.mean_across(means, self.dist, self.device)
        bad = [name for name, value in means.items() if not torch.isfinite(torch.tensor(value))]
        if bad:
            first = step - self._count + 1
            where = f"step {step}" if first == step else f"steps {first}-{step}"
            raise TrainingError(
                f"{', '.join(bad)} became NaN/Inf at {where}; stopped without saving "
                f"(last good checkpoint: {self.last_checkpoint or 'none'}); lower the learning rate or try --amp none")
        elapsed = time.perf_counter() - self._since
        record = {"kind": "train", "step": step, **means,
                  "images_per_s": round(self._count * images_per_step / max(elapsed, 1e-9), 2)}
        if self.dist.main:
            self._append(record)
        self._sums, self._counts, self._count, self._since = {}, {}, 0, time.perf_counter()
        return record

    # -- outputs ----------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> None:
        with open(self.folder / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        path = self.folder / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def _truncate_metrics(self, step: int) -> None:
        """Records written after the checkpoint we resume from describe steps that will be
        trained again; drop them so the log reads as one uninterrupted run."""
        kept = [r for r in self.metrics() if r["step"] <= step or r["kind"] == "start"]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        atomic_write(self.folder / "metrics.jsonl", lambda tmp: Path(tmp).write_text(text))

    def _grid(self, step: int, images_01: torch.Tensor, columns: int | None) -> None:
        from PIL import Image
        from torchvision.utils import make_grid

        nrow = columns or max(1, int(len(images_01) ** 0.5))
        grid = make_grid(images_01.float().cpu().clamp(0, 1), nrow=nrow, padding=2)
        picture = Image.fromarray(grid.mul(255).round().byte().permute(1, 2, 0).numpy())
        path = self.folder / "samples" / f"step_{step:07d}.png"
        atomic_write(path, lambda tmp: picture.save(tmp, format="png"))
        # The grids stay on the machine that made them (git ignores samples/); the run's record
        # keeps one small JPEG of the newest, cut to its first rows when the grid is tall.
        row_height = picture.height / math.ceil(len(images_01) / nrow)
        rows = max(1, int(picture.width * 4 / 3 / row_height))
        preview = picture.crop((0, 0, picture.width, min(picture.height, round(rows * row_height))))
        preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.LANCZOS)
        atomic_write(self.folder / "preview.jpg", lambda tmp: preview.save(tmp, format="jpeg", quality=82))

    def _loss_curve(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = self.metrics()
        train = [r for r in records if r["kind"] == "train"]
        evals = [r for r in records if r["kind"] == "eval"]
        skip = ("kind", "step", "images_per_s")
        keys = list(dict.fromkeys(k for r in train for k in r if k not in skip))
        if not keys:
            return
        fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(12 if evals else 7, 4), squeeze=False)
        # Phased trainers log some losses only in some phases: each curve has its own steps.
        for ax, records, title, marker in ((axes[0][0], train, f"{self.family}: training losses", None),
                                           (axes[0][-1], evals, "held-out evaluation", "o")):
            if ax is axes[0][-1] and not evals:
                continue
            for key in dict.fromkeys(k for r in records for k in r if k not in skip):
                have = [r for r in records if key in r]
                ax.plot([r["step"] for r in have], [r[key] for r in have], marker=marker, label=key)
            ax.set(title=title, xlabel="step")
            ax.legend(fontsize=8)
        fig.tight_layout()
        atomic_write(self.folder / "loss_curve.png", lambda tmp: fig.savefig(tmp, format="png", dpi=90))
        plt.close(fig)

    def _save(self, step: int, loop_state: dict[str, Any]) -> None:
        rng = {k: distributed.gather_tensor(v.to(self.device), self.dist) for k, v in rng_states(self.device).items()}
        if self.dist.main:
            tensors: dict[str, torch.Tensor] = {}
            for name, net in self.nets.items():
                tensors.update(prefixed(name, net.state_dict()))
            for name, ema in self.emas.items():
                tensors.update(prefixed(name, ema.module.state_dict()))
            opt_meta = {}
            for name, opt_ in self.optimizers.items():
                t, opt_meta[name] = pack_optimizer(name, opt_)
                tensors.update(t)
            for kind, per_rank in rng.items():
                tensors.update({f"rng.{kind}.{r}": s.cpu() for r, s in enumerate(per_rank)})
            path = self.folder / "checkpoints" / f"step_{step:07d}.safetensors"
            config = {
                "family": self.family, "network": self.network, "weights": self.weights, "step": step,
                "data": self.data, "train": to_dict(self.config),
                "train_state": {"step": step, "world_size": self.dist.world, "loop": loop_state,
                                "optimizers": opt_meta,
                                "scalers": {n: s.state_dict() for n, s in self.scalers.items()}},
            }
            save_checkpoint(path, tensors, config)
            # Beside every checkpoint, the few megabytes that continue the run on another machine.
            modules = {**{n: net.state_dict() for n, net in self.nets.items()},
                       **{n: ema.module.state_dict() for n, ema in self.emas.items()}}
            write_slim_state(self.folder / SLIM_STATE, self.family, modules, config, path.name)
            self.last_checkpoint = path
            for old in self.checkpoints()[: -self.config.keep_last]:
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)
            self._loss_curve()
        distributed.barrier(self.dist)


def run_main(train: Callable[[Any, Any], Path | None], config_type: type, argv: list[str] | None, *, prog: str,
             description: str) -> int:
    """Parse, train, and turn errors into one line and an exit code: 2 for bad options or
    data (nothing trained), 1 for a run that failed, 130 on Ctrl-C."""
    from landscape.trainers.data import DataError
    from landscape.trainers.options import parse
    from landscape.trainers.perceptual import PerceptualWeightsMissing

    argv = sys.argv[1:] if argv is None else argv
    try:
        config, run_args = parse(config_type, argv, prog, description)
        result = train(config, run_args)
    except (OptionError, DataError, PerceptualWeightsMissing, WeightsError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except (TrainingError, CheckpointError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"{prog}: {interruption(exc)}; resume from the last checkpoint with --resume", file=sys.stderr)
        return interrupted_code(exc)
    if result is not None:
        print(result, flush=True)
    return 0
