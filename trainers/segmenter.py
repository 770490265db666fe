"""Train the labeller: photo -> segmentation map in the landscape classes (pix2pix's U-Net
with a class head, per-pixel cross-entropy), on photos paired with maps by file stem.

    landscape train segmenter --data stanford/images --maps stanford/labels --class-map stanford \
        --holdout-list stanford/splits/val.txt
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from trainers.data import BatchStream, fixed_batch, sample_rng, split_key
from trainers.maps import IGNORE, colourise, load_table
from trainers.networks import config_to_dict
from trainers.networks.segmenter import SegmenterConfig, UNetSegmenter
from trainers.options import opt
from trainers.palette import LANDSCAPE_CLASSES
from trainers.pix2pix import PairedConfig, PairedCrops, pair_folders
from trainers.run import TrainingRun, run_main


@dataclass(frozen=True)
class SegmenterTrainConfig(PairedConfig):
    min_scale: float = opt(0.3, "smallest crop, as a share of the largest square that fits")
    num_downs: int = opt(6, "U-Net levels")
    width: int = opt(32, "U-Net base channels")
    lr: float = opt(5e-4, "Adam learning rate")
    weight_decay: float = opt(1e-4, "AdamW weight decay")
    jitter: float = opt(0.3, "colour jitter strength: brightness, contrast and saturation each scaled by 1 +- this "
                        "(photos of other cameras and light than the training set's)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.network()
        if not 0 <= self.jitter < 1:
            raise ValueError("--jitter must be in [0, 1)")

    def network(self) -> SegmenterConfig:
        return SegmenterConfig(num_downs=self.num_downs, width=self.width, resolution=self.resolution)


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

    net = run.to_device(UNetSegmenter(config=c.network()))
    optimizer = torch.optim.AdamW(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    run.track(nets={"net": net}, optimizers={"net": optimizer})
    plan = {"data": split.describe(), "maps": c.maps, "class_map": c.class_map}
    if run.dry_run:
        print(json.dumps(run.describe(**plan), indent=2))
        return None

    step, loop = run.start(network=config_to_dict(c.network()), weights="net", data=split.describe(),
                           split=split.record(), plan=plan)
    stream = BatchStream(train_set, run.batch, rank=run.dist.rank, world=run.dist.world, seed=c.seed,
                         workers=c.workers, device=run.device, consumed=loop.get("consumed", 0))
    model = run.compiled(net)
    held = fixed_batch(held_set, max(c.samples, 1))
    all_held = functools.cache(lambda: fixed_batch(held_set, len(held_set)))
    classes = len(LANDSCAPE_CLASSES)

    def train_step(step: int) -> dict[str, torch.Tensor]:
        net.train()
        batch = stream.next()
        photos, labels = run.images(batch["photo"]), batch["labels"].to(run.device)
        with run.autocast():
            logits = model(photos)
        # Summed over labelled pixels, then divided: a crop of a pseudo-labelled map can be all
        # ignored, and the mean over no pixels would be NaN.
        labelled = (labels != IGNORE).sum().clamp_min(1)
        loss = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE, reduction="sum") / labelled
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


def main(argv: list[str] | None = None, prog: str = "python -m trainers.segmenter") -> int:
    return run_main(train, SegmenterTrainConfig, argv, prog=prog, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
