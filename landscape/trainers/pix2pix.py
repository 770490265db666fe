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

import torch
from torch.nn import functional as F

from landscape.trainers.data import fixed_batch
from landscape.trainers.losses import d_loss, g_loss
from landscape.trainers.maps import colourise, load_table
from landscape.trainers.metrics import psnr, ssim
from landscape.trainers.networks import config_to_dict
from landscape.trainers.networks.pix2pix import PatchGAN, PatchGANConfig, UNetConfig, UNetGenerator
from landscape.trainers.options import opt
from landscape.trainers.palette import LANDSCAPE_CLASSES
from landscape.trainers.paired import PairedConfig, PairedCrops, device_paired_crops, pair_folders
from landscape.trainers.run import TrainingRun, run_main


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
