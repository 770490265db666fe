"""Slim states: what continues a run on another machine, in a few megabytes.

A full checkpoint resumes a run exactly, but it holds fp32 networks, every discriminator,
Adam's two moments per weight and the RNG states: GLCIC's is over 600 MB, and a lent GPU
machine sends back 64 MiB at most. A slim state keeps, in half precision, the networks that
earn their bytes (the table below), the step, the data position and the run's config. It
exports like a checkpoint (its `weights` are in it) and `--resume STATE.safetensors` starts a
new run folder from it:

- networks that are not stored start from a stored one (`init_from`: the live generator from
  its EMA) or from their initialisation (`restarted`);
- Adam starts with empty moments, so every learning rate ramps up linearly over
  `--warmup-steps` (default 200): Adam's first steps move each weight by the full learning
  rate in the sign of its gradient, whatever that gradient's size, until the second moment
  has seen enough of them;
- random streams are seeded with the step, so the resumed run does not replay the draws of
  the run's first steps.

    python -m landscape.trainers.slim runs/x/checkpoints/step_0004000.safetensors runs/slim/esrgan.safetensors
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from landscape.trainers.checkpoint import CheckpointError, load_checkpoint, module_state, prefixed, read_config, save_checkpoint


@dataclass(frozen=True)
class SlimRule:
    keep: tuple[str, ...]  # modules stored, in fp16
    init_from: dict[str, str] = field(default_factory=dict)  # module -> the stored module it starts from
    why: str = ""


# Chosen against the 44 MB that all five states may take together (gpu/tests/test_window.py): they
# come back from the GPU in one call of 64 MiB with the run records.
SLIM_RULES: dict[str, SlimRule] = {
    "dcgan": SlimRule(("g_ema", "d"), {"g": "g_ema"},
                      "the EMA generator is the exported one and the live one restarts from it; the discriminator "
                      "is kept because a fresh one gives the generator noise for hundreds of steps"),
    "esrgan": SlimRule(("g_ema",), {"g": "g_ema"},
                       "the PSNR phase has no discriminator; a GAN phase's VGG-style discriminator (14.5 M "
                       "parameters) restarts"),
    "span": SlimRule(("g_ema",), {"g": "g_ema"}, "as esrgan's: the EMA network is the exported one"),
    "pix2pix": SlimRule(("g", "d"), {}, "the generator is the exported one; the PatchGAN is small"),
    "glcic": SlimRule(("g",), {},
                      "the global + local discriminators (45 M parameters at width 64) restart, and a resumed "
                      "run trains them alone for --d-rewarm-steps before the joint phase goes on"),
    "segmenter": SlimRule(("net",), {}, "no discriminator"),
}


def is_slim(config: dict[str, Any]) -> bool:
    return "slim" in config


def slim_tensors(family: str, modules: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The kept modules' tensors, floating-point ones in fp16, under `module.` prefixes."""
    rule = SLIM_RULES[family]
    out: dict[str, torch.Tensor] = {}
    for name in rule.keep:
        state = modules[name]
        out.update(prefixed(name, {k: v.detach().half() if v.is_floating_point() else v.detach() for k, v in state.items()}))
    return out


def slim_config(family: str, checkpoint_config: dict[str, Any], source: str) -> dict[str, Any]:
    """A checkpoint's config without the optimiser and scaler states, plus what the state holds."""
    rule = SLIM_RULES[family]
    config = {k: v for k, v in checkpoint_config.items() if k not in ("format", "format_version")}
    state = config.get("train_state", {})
    config["train_state"] = {"step": state.get("step", config.get("step", 0)), "loop": state.get("loop", {}),
                             "world_size": state.get("world_size", 1)}
    config["slim"] = {"kept": list(rule.keep), "init_from": dict(rule.init_from), "fp16": True, "of": source}
    return config


def write_slim_state(path: Path, family: str, modules: dict[str, dict[str, torch.Tensor]],
                     checkpoint_config: dict[str, Any], source: str) -> Path:
    return save_checkpoint(path, slim_tensors(family, modules), slim_config(family, checkpoint_config, source))


def slim_from_checkpoint(checkpoint: Path, out: Path) -> Path:
    tensors, config = load_checkpoint(checkpoint)
    family = config["family"]
    if family not in SLIM_RULES:
        raise CheckpointError(f"{checkpoint}: no slim-state rule for family {family!r}")
    modules = {name: module_state(tensors, name) for name in SLIM_RULES[family].keep}
    return write_slim_state(out, family, modules, config, checkpoint.name)


def read_slim_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    config = read_config(path)
    if not is_slim(config):
        raise CheckpointError(f"{path}: a full checkpoint, not a slim state; resume its run folder instead")
    return load_checkpoint(path)


def restore_modules(tensors: dict[str, torch.Tensor], config: dict[str, Any],
                    modules: dict[str, torch.nn.Module]) -> list[str]:
    """Load each module from its stored tensors, or from the module it starts from; returns
    the names of the modules left at their initialisation."""
    init_from = config["slim"]["init_from"]
    restarted = []
    for name, module in modules.items():
        source = name if any(k.startswith(name + ".") for k in tensors) else init_from.get(name)
        if source is None:
            restarted.append(name)
            continue
        module.load_state_dict(module_state(tensors, source), strict=True)
    return restarted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A training checkpoint -> its slim state (what resumes it elsewhere).")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    try:
        out = slim_from_checkpoint(args.checkpoint, args.output)
    except (CheckpointError, KeyError) as exc:
        print(f"python -m landscape.trainers.slim: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB ({args.checkpoint.stat().st_size / 1e6:.1f} MB before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
