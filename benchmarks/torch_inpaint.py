"""The peer of benchmarks/lama_cpu.py: inpaint a folder with LaMa in PyTorch on the CPU as
IOPaint's batch mode does for photos under its 800 px crop trigger (each whole photo padded to
a multiple of 8, the network's own composite, a PNG written with OpenCV), timed from process
start to exit by the caller.

    python -m benchmarks.torch_inpaint big-lama.pt PHOTOS MASKS OUT --threads 2 [--jit]

`--jit` runs the file with torch.jit.load, as IOPaint does with its big-lama.pt; without it,
spandrel's LaMa class in eager mode on the same weights.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch


def network(path: Path, jit: bool) -> torch.nn.Module:
    if jit:
        return torch.jit.load(str(path), map_location="cpu").eval()
    from spandrel.architectures.LaMa import LaMa

    from landscape.trainers.checkpoint import read_weights

    net = LaMa(in_nc=4, out_nc=3)
    net.load_state_dict(read_weights(path))
    return net.eval()


def inpaint(net: torch.nn.Module, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    ph, pw = -h % 8, -w % 8
    rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    mask = np.pad(mask, ((0, ph), (0, pw)), mode="symmetric")
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    hole = torch.from_numpy((mask > 127).astype(np.float32))[None, None]
    with torch.inference_mode():
        out = net(image, hole)[0].permute(1, 2, 0).numpy()
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)[:h, :w]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("photos", type=Path)
    parser.add_argument("masks", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jit", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = network(args.model, args.jit)
    args.out.mkdir(parents=True, exist_ok=True)
    for photo in sorted(args.photos.iterdir()):
        rgb = cv2.cvtColor(cv2.imread(str(photo), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(args.masks / f"{photo.stem}.png"), cv2.IMREAD_GRAYSCALE)
        result = inpaint(net, rgb, mask)
        cv2.imwrite(str(args.out / f"{photo.stem}.png"), cv2.cvtColor(result, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
