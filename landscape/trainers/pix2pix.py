"""Train pix2pix: segmentation map -> landscape photo, a U-Net generator against a PatchGAN,
with the L1 term that keeps the output close to the paired photo.

    landscape train pix2pix --data stanford/images --maps stanford/labels --class-map stanford
    python -m landscape.trainers.pix2pix --data photos/ --maps maps/ --l1-weight 100
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from landscape.trainers import device_data as dd
from landscape.trainers.data import (DataError, Split, apply_crop, center_crop, fixed_batch, list_images,
                           random_square_crop, read_rgb, sample_rng, split_key, split_holdout, to_tensor)
from landscape.trainers.losses import d_loss, g_loss
from landscape.trainers.maps import IGNORE, PRESETS, colourise, load_table, onehot, read_labels
from landscape.trainers.metrics import psnr, ssim
from landscape.trainers.networks import config_to_dict
from landscape.trainers.networks.pix2pix import PatchGAN, PatchGANConfig, UNetConfig, UNetGenerator
from landscape.trainers.options import opt
from landscape.trainers.palette import LANDSCAPE_CLASSES
from landscape.trainers.run import BaseConfig, TrainingRun, run_main


@dataclass(frozen=True)
class PairedConfig(BaseConfig):
    """The options of every trainer on photos paired with segmentation maps by file stem."""

    maps: str = opt("", "folder of maps matched to the photos in --data by file stem")
    class_map: str = opt("stanford", f"how index maps' classes become landscape classes: {', '.join(PRESETS)} or a JSON file "
                         "{\"index\": \"class\"}; colour maps use the landscape palette")
    holdout_list: str = opt("", "file of stems (one per line) to hold out instead of a random --holdout share, e.g. an official val split")
    resolution: int = opt(256, "training crop size (a multiple of 2**num_downs)")
    min_scale: float = opt(0.5, "smallest crop, as a share of the largest square that fits")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.maps:
            raise ValueError("--maps is required: the folder of segmentation maps paired with --data")
        load_table(self.class_map)
        if not 0 < self.min_scale <= 1:
            raise ValueError("--min-scale must be in (0, 1]")
        if self.holdout_list and not Path(self.holdout_list).is_file():
            raise ValueError(f"--holdout-list {self.holdout_list}: no such file")


@dataclass(frozen=True)
class Pix2PixConfig(PairedConfig):
    num_downs: int = opt(8, "U-Net levels (256 px -> 1x1 at 8)")
    g_width: int = opt(64, "U-Net base channels")
    g_max_mult: int = opt(8, "U-Net channels stop growing at g-width x this (pix2pix: 8; 4 quarters the deep "
                          "layers' weights)")
    d_width: int = opt(64, "PatchGAN base channels")
    d_layers: int = opt(3, "PatchGAN depth (3: 70x70 receptive field)")
    d_scales: int = opt(1, "PatchGANs at the pair's full, half, quarter ... size (pix2pixHD: 2 or 3)")
    fm_weight: float = opt(0.0, "weight of discriminator feature matching (pix2pixHD: 10): L1 between D's features "
                           "of the real and the generated pair, a perceptual loss that needs no downloaded weights")
    dropout: float = opt(0.5, "dropout in the three decoder blocks nearest the bottleneck (pix2pix's noise)")
    l1_weight: float = opt(100.0, "lambda: weight of L1(G(map), photo) against the GAN loss")
    loss: str = opt("bce", "GAN loss: bce (pix2pix) or hinge", ("bce", "hinge"))
    lr: float = opt(2e-4, "Adam learning rate for both networks")
    beta1: float = opt(0.5, "Adam beta1")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.generator()
        if self.l1_weight < 0 or self.fm_weight < 0:
            raise ValueError("--l1-weight and --fm-weight must be >= 0")
        if not 1 <= self.d_scales <= 4:
            raise ValueError("--d-scales must be in 1..4")

    def generator(self) -> UNetConfig:
        return UNetConfig(num_downs=self.num_downs, width=self.g_width, dropout=self.dropout, resolution=self.resolution,
                          max_mult=self.g_max_mult)


class PairedCrops(torch.utils.data.Dataset):
    """(photo, map) pairs cropped and flipped together: the photo resampled with area
    filtering, the map with nearest neighbour so classes never blend."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: int, seed: int, lut: np.ndarray, *, train: bool,
                 min_scale: float) -> None:
        self.pairs, self.size, self.seed, self.lut, self.train, self.min_scale = pairs, size, seed, lut, train, min_scale

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        epoch, index = split_key(key)
        photo_path, map_path = self.pairs[index]
        photo, labels = read_rgb(photo_path), read_labels(map_path, self.lut)
        if photo.shape[:2] != labels.shape:
            raise DataError(f"{map_path}: map is {labels.shape[1]}x{labels.shape[0]}, photo {photo.shape[1]}x{photo.shape[0]}")
        h, w = labels.shape
        rng = sample_rng(self.seed, epoch, index)
        crop = random_square_crop(h, w, rng, self.min_scale) if self.train else center_crop(h, w)
        labels = apply_crop(labels.astype(np.uint8), crop, self.size, nearest=True)
        return {"photo": to_tensor(apply_crop(photo, crop, self.size)),
                "onehot": torch.from_numpy(onehot(labels, len(LANDSCAPE_CLASSES))),
                "labels": torch.from_numpy(labels.astype(np.int64))}


def device_paired_crops(crops: PairedCrops, device: torch.device, jitter: float = 0.0):
    """PairedCrops on the device: photo and map cropped and flipped together, the photo area-
    filtered, the map by nearest neighbour; the photo optionally colour-jittered."""
    photos = dd.DeviceImages([read_rgb(p) for p, _ in crops.pairs], device)
    maps = dd.DeviceImages([read_labels(m, crops.lut).astype(np.uint8) for _, m in crops.pairs], device, fill=IGNORE)
    size, classes = crops.size, len(LANDSCAPE_CLASSES)

    def make(index: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        boxes = dd.square_boxes(photos.sizes[index], crops.min_scale, gen)
        flips = dd.random_flips(len(index), gen)
        photo = dd.colour_jitter(dd.flip(dd.crop_resize(photos, index, boxes, size), flips) / 127.5 - 1, jitter, gen)
        labels = dd.flip(dd.crop_nearest(maps, index, boxes, size), flips)[:, 0].long()
        return {"photo": photo, "onehot": dd.onehot(labels, classes), "labels": labels}

    return make


def pair_folders(c: PairedConfig, warn) -> Split:
    photos = list_images(c.data, warn)
    maps: dict[str, Path] = {}
    for path in list_images(c.maps, warn):
        if path.stem in maps:
            raise DataError(f"{path}: two maps share the stem {path.stem!r} ({maps[path.stem]})")
        maps[path.stem] = path
    pairs = [(p, maps[p.stem]) for p in photos if p.stem in maps]
    unpaired = [p for p in photos if p.stem not in maps]
    if unpaired:
        warn(f"{len(unpaired)} photo(s) have no map in {c.maps} and are left out (first: {unpaired[0]})")
    if not pairs:
        raise DataError(f"no photo in {c.data} has a map with the same stem in {c.maps}")
    if c.holdout_list:
        stems = {line.strip() for line in Path(c.holdout_list).read_text().splitlines() if line.strip()}
        held = [x for x in pairs if x[0].stem in stems]
        train = [x for x in pairs if x[0].stem not in stems]
        if not held or not train:
            raise DataError(f"--holdout-list {c.holdout_list} leaves {len(train)} training and {len(held)} held-out pairs")
    else:
        train, held = split_holdout(pairs, c.holdout, c.seed)
    return Split(Path(c.data), train, held)


def train(c: Pix2PixConfig, run_args) -> Path | None:
    run = TrainingRun("pix2pix", c, run_args)
    split = pair_folders(c, run.warn)
    lut = load_table(c.class_map)
    train_set = PairedCrops(split.train, c.resolution, c.seed, lut, train=True, min_scale=c.min_scale)
    held_set = PairedCrops(split.held_out or split.train, c.resolution, c.seed, lut, train=False, min_scale=1.0)

    g = run.to_device(UNetGenerator(config=c.generator()))
    d = run.to_device(PatchGAN(config=PatchGANConfig(num_classes=len(LANDSCAPE_CLASSES), width=c.d_width, layers=c.d_layers,
                                                     scales=c.d_scales)))
    opt_g = torch.optim.Adam(g.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
    run.track(nets={"g": g, "d": d}, optimizers={"g": opt_g, "d": opt_d})
    plan = {"data": split.describe(), "maps": c.maps, "class_map": c.class_map}
    if run.dry_run:
        print(json.dumps(run.describe(**plan), indent=2))
        return None

    step, loop = run.start(network=config_to_dict(c.generator()), weights="g", data=split.describe(),
                           split=split.record(), plan=plan)
    stream = run.stream(train_set, lambda: device_paired_crops(train_set, run.device), consumed=loop.get("consumed", 0))
    G, D = run.compiled(g), run.compiled(d)
    held = fixed_batch(held_set, max(c.samples, 1))
    all_held = functools.cache(lambda: fixed_batch(held_set, len(held_set)))  # decoded once, at the first evaluation

    def train_step(step: int) -> dict[str, torch.Tensor]:
        g.train(), d.train()
        batch = stream.next()
        maps, photos = run.images(batch["onehot"]), run.images(batch["photo"])
        with run.autocast():
            fake = G(maps)
            # D judges (map, photo) pairs: realism and agreement with the map at once.
            real_out, fake_out = D(maps, photos), D(maps, fake.detach())
            loss_d = 0.5 * sum(d_loss(c.loss, r[-1].float(), f[-1].float()) for r, f in zip(real_out, fake_out)) / c.d_scales
        run.step_optimizer("d", loss_d, d)
        with run.autocast():
            fake_out = D(maps, fake)
            adv = sum(g_loss(c.loss, f[-1].float()) for f in fake_out) / c.d_scales
            l1 = F.l1_loss(fake.float(), photos)
            loss_g = adv + c.l1_weight * l1
            losses = {"d_loss": loss_d.detach(), "g_adv": adv.detach(), "g_l1": l1.detach()}
            if c.fm_weight > 0:
                # The features of the real pair are targets, not something for G to move.
                fm = sum(F.l1_loss(f.float(), r.detach().float()) for real, fake_scale in zip(real_out, fake_out)
                         for r, f in zip(real[:-1], fake_scale[:-1])) / (c.d_scales * c.d_layers)
                loss_g = loss_g + c.fm_weight * fm
                losses["g_fm"] = fm.detach()
        run.step_optimizer("g", loss_g, g)
        return losses

    @torch.no_grad()
    def translate(onehot_batch: torch.Tensor) -> torch.Tensor:
        g.eval()
        out = torch.cat([g(chunk.to(run.device)) for chunk in onehot_batch.split(16)])
        g.train()
        return (out.float().cpu() + 1) / 2

    def sample() -> torch.Tensor:  # rows of map | generated | real photo
        maps = torch.from_numpy(colourise(held["labels"].numpy())).permute(0, 3, 1, 2).float() / 255
        return torch.stack([maps, translate(held["onehot"]), (held["photo"] + 1) / 2], 1).flatten(0, 1)

    def evaluate() -> dict[str, float]:
        batch = all_held()
        fake, real = translate(batch["onehot"]), (batch["photo"] + 1) / 2
        return {"psnr": psnr(fake, real), "ssim": ssim(fake, real)}

    return run.loop(step, train_step, images_per_step=c.batch_size,
                    loop_state=lambda: {"consumed": stream.consumed}, sample=sample, evaluate=evaluate, grid_columns=3)


def main(argv: list[str] | None = None, prog: str = "python -m landscape.trainers.pix2pix") -> int:
    return run_main(train, Pix2PixConfig, argv, prog=prog, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
