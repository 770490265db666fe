"""Pseudo-labels for a second segmenter round: run a trained segmenter over unlabelled photos
and keep what it is sure of.

    python -m landscape.trainers.pseudo_labels runs/segmenter/checkpoints/step_0003000.safetensors \
        --photos landscapes/ --out pseudo/ --keep 0.5 --min-confidence 0.7

A segmenter trained on street scenes labels scenery unevenly. Photos are ranked by the mean
of the per-pixel top softmax probability; the most confident `--keep` share get an index map
in which pixels below `--min-confidence` are 255 (ignored by the trainers' class tables), so
a second round learns scenery from the segmenter's sure pixels and Stanford's true ones.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from landscape.trainers.data import list_images, read_rgb
from landscape.trainers.maps import IGNORE
from landscape.trainers.networks import network_from_checkpoint


def load_segmenter(path: Path, device: torch.device) -> torch.nn.Module:
    net, _, checkpoint = network_from_checkpoint(path)
    if checkpoint["family"] != "segmenter":
        raise SystemExit(f"{path}: a {checkpoint['family']} checkpoint, not a segmenter")
    return net.to(device).eval()


@torch.no_grad()
def predict(net: torch.nn.Module, rgb_hwc_u8: np.ndarray, multiple: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8 (H, W), confidence float32 (H, W)) with reflect padding to the U-Net's multiple."""
    h, w, _ = rgb_hwc_u8.shape
    x = torch.from_numpy(rgb_hwc_u8).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(device)
    x = F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="reflect")
    probs = net(x).float().softmax(1)[0, :, :h, :w]
    confidence, labels = probs.max(0)
    return labels.byte().cpu().numpy(), confidence.cpu().numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape.trainers.pseudo_labels", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="segmenter checkpoint (.safetensors)")
    parser.add_argument("--photos", type=Path, required=True, help="folder of unlabelled photos (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the index maps (PNG, same stems) and ranking.json")
    parser.add_argument("--keep", type=float, default=0.5, help="share of the photos, most confident first, that get a map")
    parser.add_argument("--min-confidence", type=float, default=0.7, help="pixels less sure than this become 255 (ignored)")
    parser.add_argument("--exclude", type=Path, help="file of photo names (one per line) to leave out, e.g. a held-out split")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if not 0 < args.keep <= 1 or not 0 <= args.min_confidence < 1:
        parser.error("--keep must be in (0, 1] and --min-confidence in [0, 1)")
    device = torch.device(args.device)
    net = load_segmenter(args.checkpoint, device)
    multiple = 2 ** net.config.num_downs
    excluded = set(args.exclude.read_text().split()) if args.exclude else set()
    photos = [p for p in list_images(args.photos, lambda msg: print(msg, file=sys.stderr)) if p.name not in excluded]
    ranked = []
    for path in photos:
        labels, confidence = predict(net, read_rgb(path), multiple, device)
        labels[confidence < args.min_confidence] = IGNORE
        ranked.append((float(confidence.mean()), path, labels))
    ranked.sort(key=lambda r: -r[0])
    kept = ranked[: max(1, round(len(ranked) * args.keep))]
    args.out.mkdir(parents=True, exist_ok=True)
    for _, path, labels in kept:
        cv2.imwrite(str(args.out / f"{path.stem}.png"), labels)
    summary = {"checkpoint": str(args.checkpoint), "photos": len(ranked), "kept": len(kept),
               "min_confidence": args.min_confidence,
               "kept_pixels_labelled": float(np.mean([(r[2] != IGNORE).mean() for r in kept])),
               "mean_confidence": {"kept_lowest": kept[-1][0], "all_median": ranked[len(ranked) // 2][0]},
               "ranking": [[r[1].name, round(r[0], 4)] for r in ranked]}
    (args.out / "ranking.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{len(kept)} of {len(ranked)} photos kept; {summary['kept_pixels_labelled']:.1%} of their pixels labelled",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
