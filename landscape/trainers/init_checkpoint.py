"""Write a freshly initialised (untrained) checkpoint for a family.

    python -m landscape.trainers.init_checkpoint esrgan -o runs/init/esrgan.safetensors --set num_block=2

It exists so that export and the CLI can be exercised before any training: the images such
a model makes are noise. Never ship one as a default model.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from landscape.trainers.checkpoint import prefixed, save_checkpoint
from landscape.trainers.networks import FAMILIES, build_network, config_to_dict, make_config


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape.trainers.init_checkpoint", description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=sorted(FAMILIES))
    parser.add_argument("-o", "--output", required=True, help="checkpoint path (.safetensors)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="network option, value as JSON (e.g. width=16, arch=\"dcgan\"); repeatable")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    values = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects KEY=VALUE, got {item!r}")
        values[key] = parse_value(value)
    try:
        config = make_config(args.family, values)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    torch.manual_seed(args.seed)
    net = build_network(args.family, config)
    path = save_checkpoint(
        args.output,
        prefixed("net", net.state_dict()),
        {
            "family": args.family,
            "network": config_to_dict(config),
            "weights": "net",
            "step": 0,
            "data": "none: freshly initialised, untrained",
        },
    )
    print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
