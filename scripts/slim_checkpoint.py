"""Keep only the inference network of a training checkpoint: the weights export reads, without
discriminators, optimizer moments or RNG states (a tenth of the size or less).

    python scripts/slim_checkpoint.py runs/pix2pix/checkpoints/step_0010000.safetensors slim.safetensors --half

A slim checkpoint exports and fine-tunes; it cannot resume its run exactly. `--half` stores
fp16 (the shipped ONNX files are fp16 anyway), halving it again.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.checkpoint import load_checkpoint, module_state, prefixed, save_checkpoint  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--half", action="store_true", help="store floating-point tensors as fp16")
    args = parser.parse_args()
    tensors, config = load_checkpoint(args.checkpoint)
    state = module_state(tensors, config["weights"])
    if args.half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    config = {k: v for k, v in config.items() if k not in ("format", "format_version")}
    config["slim_of"] = {"checkpoint": args.checkpoint.name, "fp16": args.half}
    save_checkpoint(args.output, prefixed(config["weights"], state), config)
    print(f"{args.output}: {args.output.stat().st_size / 1e6:.1f} MB ({args.checkpoint.stat().st_size / 1e6:.1f} MB before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
