"""Train the labeller: photo -> segmentation map in the landscape classes (pix2pix's U-Net
with a class head, per-pixel cross-entropy), on photos paired with maps by file stem.

    landscape train segmenter --data stanford/images --maps stanford/labels --class-map stanford \
        --holdout-list stanford/splits/val.txt
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from landscape.trainers.data import fixed_batch, sample_rng, split_key
from landscape.trainers.maps import IGNORE, colourise, load_table, read_labels
from landscape.trainers.networks import config_to_dict
from landscape.trainers.networks.segmenter import SegmenterConfig, UNetSegmenter
from landscape.trainers.options import opt
from landscape.trainers.palette import LANDSCAPE_CLASSES
from landscape.trainers.paired import PairedConfig, PairedCrops, device_paired_crops, pair_folders
from landscape.trainers.run import TrainingRun, run_main


@dataclass(frozen=True)
class SegmenterTrainConfig(PairedConfig):
    min_scale: float = opt(0.3, "smallest crop, as a share of the largest square that fits")
    num_downs: int = opt(6, "U-Net levels")
    width: int = opt(32, "U-Net base channels")
    max_mult: int = opt(8, "U-Net channels stop growing at width x this")
    lr: float = opt(5e-4, "Adam learning rate")
    lr_schedule: str = opt("cosine", "constant, or cosine: the learning rate falls to 1% of --lr over --steps, so the "
                           "last weights are not one point of a noisy walk", ("constant", "cosine"))
    weight_decay: float = opt(1e-4, "AdamW weight decay")
    jitter: float = opt(0.3, "colour jitter strength: brightness, contrast and saturation each scaled by 1 +- this "
                        "(photos of other cameras and light than the training set's)")
    class_balance: float = opt(0.5, "cross-entropy weight of each class: (median class frequency / its frequency) to "
                               "this power, from the training maps (0: plain cross-entropy); rare classes such as "
                               "mountain and water are otherwise never worth predicting")
    rare_sampling: float = opt(0.5, "draw training photos in proportion to their pixels' mean class weight at this "
                               "power (0: every photo equally often), so that photos with rare classes come more often")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.network()
        if not 0 <= self.jitter < 1:
            raise ValueError("--jitter must be in [0, 1)")
        if not (0 <= self.class_balance <= 2 and 0 <= self.rare_sampling <= 2):
            raise ValueError("--class-balance and --rare-sampling must be in [0, 2]")

    def network(self) -> SegmenterConfig:
        return SegmenterConfig(num_downs=self.num_downs, width=self.width, resolution=self.resolution, max_mult=self.max_mult)


def colour_jitter(photo: torch.Tensor, strength: float, rng: np.random.Generator) -> torch.Tensor:
    """photo (3, H, W) in [-1, 1]; brightness, contrast and saturation factors in 1 +- strength."""
    if strength == 0:
        return photo
    b, c, s = (float(v) for v in rng.uniform(1 - strength, 1 + strength, 3))
    x = (photo + 1) / 2 * b
    x = (x - x.mean()) * c + x.mean()
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    x = (x - gray) * s + gray
    return x.clamp(0, 1) * 2 - 1


class JitteredPairs(torch.utils.data.Dataset):
    """PairedCrops with colour jitter on the photo, drawn from the sample's own generator."""

    def __init__(self, pairs: PairedCrops, strength: float, seed: int) -> None:
        self.pairs, self.strength, self.seed = pairs, strength, seed

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        item = self.pairs[key]
        epoch, index = split_key(key)
        # A stream apart from the crop's: offset the seed so the two draws are independent.
        rng = sample_rng(self.seed + 7919, epoch, index)
        return {"photo": colour_jitter(item["photo"], self.strength, rng), "labels": item["labels"]}


MAX_CLASS_WEIGHT = 10.0  # a class seen in a handful of pixels must not dominate the loss


def class_pixels(pairs: list[tuple[Path, Path]], lut: np.ndarray, classes: int) -> np.ndarray:
    """(images, classes) labelled-pixel counts of each training map."""
    counts = np.zeros((len(pairs), classes), np.int64)
    for i, (_, map_path) in enumerate(pairs):
        labels = read_labels(map_path, lut)
        counts[i] = np.bincount(labels[labels != IGNORE].ravel(), minlength=classes)[:classes]
    return counts


def balance_weights(counts: np.ndarray, power: float) -> np.ndarray:
    """Per-class weights (median frequency / frequency) ** power, 1 for classes never seen."""
    freq = counts.sum(0).astype(np.float64)
    seen = freq > 0
    weights = np.ones(len(freq))
    weights[seen] = (np.median(freq[seen]) / freq[seen]) ** power
    return np.clip(weights, 1 / MAX_CLASS_WEIGHT, MAX_CLASS_WEIGHT)


def sampling_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """Each photo's mean pixel weight under balance_weights(power): photos rich in rare classes
    come more often."""
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    per_image = shares @ balance_weights(counts, power)
    per_image[counts.sum(1) == 0] = per_image[counts.sum(1) > 0].min(initial=1.0)
    return torch.from_numpy(per_image)


def confusion(pred: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    keep = target != IGNORE
    return torch.bincount(target[keep] * classes + pred[keep], minlength=classes * classes).reshape(classes, classes)


def scores(matrix: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy and mean IoU (over classes present in the targets or predictions)."""
    m = matrix.double()
    tp = m.diag()
    union = m.sum(0) + m.sum(1) - tp
    present = union > 0
    out = {"pixel_accuracy": float(tp.sum() / m.sum().clamp_min(1)), "miou": float((tp[present] / union[present]).mean())}
    for k, name in enumerate(LANDSCAPE_CLASSES):
        if present[k]:
            out[f"iou_{name}"] = float(tp[k] / union[k])
    return out


def train(c: SegmenterTrainConfig, run_args) -> Path | None:
    run = TrainingRun("segmenter", c, run_args)
    split = pair_folders(c, run.warn)
    lut = load_table(c.class_map)
    train_set = JitteredPairs(PairedCrops(split.train, c.resolution, c.seed, lut, train=True, min_scale=c.min_scale),
                              c.jitter, c.seed)
    held_set = PairedCrops(split.held_out or split.train, c.resolution, c.seed, lut, train=False, min_scale=1.0)

    classes = len(LANDSCAPE_CLASSES)
    counts = class_pixels(split.train, lut, classes)
    class_weights = torch.from_numpy(balance_weights(counts, c.class_balance)).float().to(run.device)
    photo_weights = sampling_weights(counts, c.rare_sampling) if c.rare_sampling > 0 else None

    net = run.to_device(UNetSegmenter(config=c.network()))
    optimizer = torch.optim.AdamW(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    floor = 0.01

    def rate(step: int) -> float:
        if c.lr_schedule == "constant":
            return c.lr
        return c.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, c.steps) / c.steps)))
    run.track(nets={"net": net}, optimizers={"net": optimizer})
    plan = {"data": split.describe(), "maps": c.maps, "class_map": c.class_map,
            "class_share": {n: round(float(v), 4) for n, v in zip(LANDSCAPE_CLASSES, counts.sum(0) / max(counts.sum(), 1))},
            "class_weights": {n: round(float(v), 3) for n, v in zip(LANDSCAPE_CLASSES, class_weights.tolist())}}
    if run.dry_run:
        print(json.dumps(run.describe(**plan), indent=2))
        return None

    step, loop = run.start(network=config_to_dict(c.network()), weights="net", data=split.describe(),
                           split=split.record(), plan=plan)
    stream = run.stream(train_set, lambda: device_paired_crops(train_set.pairs, run.device, c.jitter),
                        consumed=loop.get("consumed", 0), weights=photo_weights)
    model = run.compiled(net)
    held = fixed_batch(held_set, max(c.samples, 1))
    all_held = functools.cache(lambda: fixed_batch(held_set, len(held_set)))

    def train_step(step: int) -> dict[str, torch.Tensor]:
        net.train()
        for group in optimizer.param_groups:
            group["lr"] = rate(step)
        batch = stream.next()
        photos, labels = run.images(batch["photo"]), batch["labels"].to(run.device)
        with run.autocast():
            logits = model(photos)
        # Summed over labelled pixels, then divided by their total weight: a crop of a
        # pseudo-labelled map can be all ignored, and the mean over no pixels would be NaN.
        labelled = class_weights[labels.clamp_max(classes - 1)][labels != IGNORE].sum().clamp_min(1e-6)
        loss = F.cross_entropy(logits.float(), labels, weight=class_weights, ignore_index=IGNORE, reduction="sum") / labelled
        run.step_optimizer("net", loss, net)
        return {"ce": loss.detach()}

    @torch.no_grad()
    def predict(photos: torch.Tensor) -> torch.Tensor:
        net.eval()
        out = torch.cat([net(chunk.to(run.device)).argmax(1).cpu() for chunk in photos.split(16)])
        net.train()
        return out

    def sample() -> torch.Tensor:  # rows of photo | predicted map | true map
        as_image = lambda labels: torch.from_numpy(colourise(labels.numpy())).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        return torch.stack([(held["photo"] + 1) / 2, as_image(predict(held["photo"])), as_image(held["labels"])], 1).flatten(0, 1)

    def evaluate() -> dict[str, float]:
        batch = all_held()
        return scores(confusion(predict(batch["photo"]), batch["labels"], classes))

    return run.loop(step, train_step, images_per_step=c.batch_size,
                    loop_state=lambda: {"consumed": stream.consumed}, sample=sample, evaluate=evaluate, grid_columns=3)


def main(argv: list[str] | None = None, prog: str = "python -m landscape.trainers.segmenter") -> int:
    return run_main(train, SegmenterTrainConfig, argv, prog=prog, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
