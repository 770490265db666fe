"""What keeps the CPU trainers below the bare rate: the inpainter's and the upscaler's training
step taken apart, measured side by side in one run, with the CPU and its units printed.

For each family, images/s and GFLOP/s (3x the forward FLOPs per image: forward, and backward
at twice the forward) of:

1. a bare 3x3 conv stack (the ceiling: the most the CPU gives a convolutional training step);
2. the generator's step on a fixed batch (forward, loss, backward, Adam), as the trainer sets it
   up: bf16 autocast and channels-last where the CPU has bf16 units, fp32 otherwise; and the
   same in fp32, for the ratio;
3. that step plus making each batch as the trainer does (crops, flips, holes or degradations,
   on the device);
4. the real trainer (a subprocess, `--seconds` of training, its own logged rate), in its
   generator-only phase, and for the inpainter in its joint phase too (both discriminators).

Then the operators that take the step's time (torch.profiler, self CPU time).

    python -m benchmarks.train_cpu --data photos/ --json docs/train_cpu.json
    python -m benchmarks.train_cpu --tiny --seconds 10     # the tests' small networks
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from landscape.runtime.cpu import facts
from landscape.trainers.data import image_split
from benchmarks.harness import flops, seconds_per_call
from benchmarks.train_throughput import synthetic

# The recipes measured: the inpainter's CPU run (runs/inpaint-cpu) and the upscaler's (the bundled
# light RRDB), each with its trainer's options; --tiny shrinks them to the tests' sizes.
RECIPES = {
    "glcic": ["--g-width", "64", "--d-width", "32", "--resolution", "256", "--batch-size", "8"],
    "esrgan": ["--num-feat", "32", "--num-grow-ch", "16", "--num-block", "6", "--resolution", "32", "--batch-size", "16"],
}
TINY = {
    "glcic": ["--g-width", "8", "--d-width", "4", "--resolution", "64", "--batch-size", "4"],
    "esrgan": ["--num-feat", "8", "--num-grow-ch", "4", "--num-block", "1", "--resolution", "16", "--batch-size", "4"],
}


def conv_ceiling(width: int, size: int, batch: int, amp: torch.dtype | None, seconds: float) -> float:
    """GFLOP/s of training a stack of eight 3x3 convolutions (with ReLU) at `width` channels."""
    layers = []
    for _ in range(8):
        layers += [torch.nn.Conv2d(width, width, 3, 1, 1), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers)
    x = torch.randn(batch, width, size, size)
    if amp is not None:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters())

    def step() -> None:
        with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
            loss = net(x).float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return 3 * flops(lambda: net(x)) / seconds_per_call(step, seconds, warmup=2) / 1e9


class Family:
    """A family's generator, a fixed batch and the trainer's batch maker, from its config."""

    def __init__(self, name: str, argv: list[str], data: Path) -> None:
        from landscape.trainers.options import parse

        self.name = name
        if name == "glcic":
            from landscape.trainers.glcic import GLCICConfig, MaskedCrops, device_masked_crops
            from landscape.trainers.networks.glcic import CompletionNetwork

            self.config, _ = parse(GLCICConfig, ["--data", str(data), *argv], "bench", "")
            c = self.config
            crops = MaskedCrops(image_split(data, c.holdout, c.seed, print).train, c.resolution, c.seed, train=True,
                                min_scale=c.min_scale, area=tuple(c.hole_area), kind=c.mask_kind)
            self.make, self.images = device_masked_crops(crops, torch.device("cpu")), len(crops.paths)
            self.net = CompletionNetwork(config=c.generator())
            self.inputs = lambda b: (b["image"], b["mask"])
            self.loss = lambda out, b: ((out.float() - b["image"]) ** 2 * b["mask"]).mean()
        else:
            from landscape.trainers.esrgan import ESRGANConfig, SRCrops, device_pairs
            from landscape.trainers.networks.esrgan import RRDBNet

            self.config, _ = parse(ESRGANConfig, ["--data", str(data), *argv], "bench", "")
            c = self.config
            crops = SRCrops(image_split(data, c.holdout, c.seed, print).train, c.resolution * c.scale, c.seed,
                            c.degradation(), train=True, scale=c.scale)
            self.make, self.images = device_pairs(crops, torch.device("cpu")), len(crops)
            self.net = RRDBNet(config=c.generator())
            self.inputs = lambda b: (b["lr"],)
            self.loss = lambda out, b: (out.float() - b["hr"]).abs().mean()
        self.batch_size = self.config.batch_size
        self.count = 0

    def batch(self) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.count)
        self.count += 1
        index = torch.randint(0, self.images, (self.batch_size,), generator=gen)
        return self.make(index, gen)

    def step(self, amp: torch.dtype | None, fresh_batches: bool) -> tuple[Callable[[], None], float]:
        """The generator's training step, and its forward FLOPs per image."""
        net = self.net.train()
        channels_last = amp is not None
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), lr=1e-5)
        fixed = self.batch()

        def place(b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {k: v.contiguous(memory_format=torch.channels_last) if channels_last and v.dim() == 4 else v
                    for k, v in b.items()}

        def step() -> None:
            b = place(self.batch() if fresh_batches else fixed)
            with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
                out = net(*self.inputs(b))
            loss = self.loss(out, b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        flops_each = flops(lambda: net.eval()(*self.inputs(place(fixed)))) / self.batch_size
        net.train()
        return step, flops_each


def trainer_rate(family: str, argv: list[str], data: Path, seconds: float, phase: str, out: Path) -> float | None:
    """images/s the real trainer logs over `seconds` (the first record, its warm-up, left out)."""
    phases = {"generator": (["--phase-ratios", "1", "0"] if family == "glcic" else []),
              "joint": ["--phase-ratios", "0", "0"]}[phase]
    run = out / f"{family}-{phase}"
    argv = [sys.executable, "-m", f"landscape.trainers.{family}", "--data", str(data), *argv, *phases,
            "--steps", "100000", "--workers", "0", "--holdout", "0.05", "--max-minutes", f"{seconds / 60:.3f}",
            "--log-every", "2", "--eval-every", "0", "--sample-every", "0", "--checkpoint-every", "0", "--out", str(run)]
    subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        return None
    rates = [r["images_per_s"] for r in map(json.loads, metrics.read_text().splitlines()) if r["kind"] == "train"][1:]
    return float(np.mean(rates)) if rates else None


def top_ops(step: Callable[[], None], count: int) -> list[tuple[str, float]]:
    """The operators with the most self CPU time over three steps, as shares of it."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / total) for e in events[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="photos to train on (default: 16 synthetic ones)")
    parser.add_argument("--seconds", type=float, default=20, help="time of each measurement (the trainer's: 3x)")
    parser.add_argument("--tiny", action="store_true", help="the tests' small networks")
    parser.add_argument("--families", default="glcic,esrgan")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    cpu = facts()
    amp = torch.bfloat16 if cpu.has_bf16 else None
    print(f"CPU: {cpu.describe()}; {torch.get_num_threads()} threads; "
          f"trainer precision here: {'bf16 autocast, channels-last' if amp else 'fp32'}")
    recipes = TINY if args.tiny else RECIPES
    result: dict = {"cpu": cpu.model, "units": list(cpu.units), "threads": torch.get_num_threads(),
                    "amp": "bf16" if amp else "none", "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or synthetic(Path(tmp), 16)[0]
        ceiling = conv_ceiling(16 if args.tiny else 64, 32 if args.tiny else 128, 8, amp, args.seconds)
        result["conv_ceiling_gflops"] = ceiling
        print(f"bare 3x3 conv stack, training: {ceiling:.0f} GFLOP/s")
        print("| family | what runs | images/s | GFLOP/s | of the conv ceiling | of the generator step |")
        print("|---|---|---|---|---|---|")
        for name in args.families.split(","):
            fam = Family(name, recipes[name], data)
            rows: dict[str, float | None] = {}
            step, forward = fam.step(amp, fresh_batches=False)
            rows["generator step"] = fam.batch_size / seconds_per_call(step, args.seconds, warmup=2)
            if amp is not None:
                fp32_step, _ = Family(name, recipes[name], data).step(None, fresh_batches=False)
                rows["generator step, fp32"] = fam.batch_size / seconds_per_call(fp32_step, args.seconds, warmup=2)
            data_step, _ = fam.step(amp, fresh_batches=True)
            rows["+ batch making"] = fam.batch_size / seconds_per_call(data_step, args.seconds, warmup=2)
            rows["trainer, generator phase"] = trainer_rate(name, recipes[name], data, 3 * args.seconds, "generator", Path(tmp))
            if name == "glcic":
                rows["trainer, joint phase (both discriminators)"] = trainer_rate(name, recipes[name], data,
                                                                                  3 * args.seconds, "joint", Path(tmp))
            ops = top_ops(step, 8)
            result["families"][name] = {"forward_gflop_per_image": forward / 1e9, "images_per_s": rows,
                                        "top_ops": [{"op": k, "share": s} for k, s in ops]}
            base = rows["generator step"]
            for what, rate in rows.items():
                if rate is None:
                    print(f"| {name} | {what} | no rate logged | | | |")
                    continue
                gflops = 3 * forward * rate / 1e9
                print(f"| {name} | {what} | {rate:.2f} | {gflops:.0f} | {gflops / ceiling:.2f} | {rate / base:.2f} |")
            print(f"{name}: self CPU time of the generator step: " + ", ".join(f"{k} {100 * s:.0f} %" for k, s in ops))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
