"""Train super-resolution, ESRGAN-style: a network trained on L1 (the PSNR-oriented model),
then optionally a GAN phase with a relativistic-average VGG-style discriminator and a VGG19
perceptual loss. Low-resolution inputs are made on the fly. Two networks: RRDB (ESRGAN's, x4)
and SPAN (the bundled upscaler's, x2 or x4; fine-tuned from the published weights with
--init-from, which scripts/import_span.py converts).

    landscape train esrgan --data photos/ --steps 100000
    landscape train upscale --arch span --scale 4 --init-from runs/span-published/span_x4_ch48.safetensors --data photos/ --lr 2e-5
    python -m landscape.trainers.esrgan --data photos/ --steps 150000 --gan-steps 50000 --vgg-weights vgg19.pth
    python -m landscape.trainers.esrgan --data photos/ --init-from runs/psnr/checkpoints/step_0100000.safetensors --gan-steps 50000 --steps 50000
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from landscape.trainers.checkpoint import CheckpointError, load_checkpoint, module_state
from landscape.trainers.data import Crop, apply_crop, center_crop, fixed_batch, image_split, read_rgb, sample_rng, split_key, to_tensor
from landscape.trainers import device_data as dd
from landscape.trainers.degrade import Degradation, bicubic_down, degrade
from landscape.trainers.ema import EMA
from landscape.trainers.losses import relativistic_d_loss, relativistic_g_loss
from landscape.trainers.metrics import psnr, ssim, to_y
from landscape.trainers.networks import build_network, config_to_dict
from landscape.trainers.networks.esrgan import RRDBConfig, VGGDiscriminator, VGGDiscriminatorConfig
from landscape.trainers.networks.span import SPANConfig
from landscape.trainers.options import OptionError, opt
from landscape.trainers.perceptual import PerceptualLoss, find_vgg19_weights
from landscape.trainers.run import BaseConfig, TrainingRun, run_main

# The family each network's checkpoints are written as (the family table, export specs, slim rules).
ARCH_FAMILY = {"rrdb": "esrgan", "span": "span"}
TRAINS = tuple(ARCH_FAMILY.values())  # the families whose slim states --resume takes


@dataclass(frozen=True)
class ESRGANConfig(BaseConfig):
    arch: str = opt("rrdb", "network: rrdb (ESRGAN's RRDBNet, light by default) or span (SPAN, the bundled upscaler)",
                    ("rrdb", "span"))
    scale: int = opt(4, "upscaling factor (rrdb: 4; span: 2, 3 or 4)")
    resolution: int = opt(32, "low-resolution training patch (the high-resolution crop is --scale times this, taken at native size)")
    eval_size: int = opt(256, "high-resolution centre crop of each held-out image for evaluation")
    feature_channels: int = opt(48, "SPAN feature channels (the published: 48 or 52)")
    num_feat: int = opt(32, "RRDB feature channels (the paper: 64)")
    num_grow_ch: int = opt(16, "dense-block growth channels (the paper: 32)")
    num_block: int = opt(6, "RRDB blocks (the paper: 23)")
    skip: str = opt("bicubic", "global skip: bicubic (learn the residual over bicubic upsampling; starts as bicubic) "
                    "or none (ESRGAN's RRDBNet as published)", ("bicubic", "none"))
    lr: float = opt(2e-4, "Adam learning rate of the pixel-loss (PSNR) phase")
    pixel_loss: str = opt("l1", "the PSNR phase's loss: l1, or mse (PSNR's own measure: SPAN's last training stage)",
                          ("l1", "mse"))
    gan_steps: int = opt(0, "the last this-many steps are the GAN phase (0: a PSNR-oriented model only)")
    gan_lr: float = opt(1e-4, "learning rate of both networks in the GAN phase")
    l1_weight: float = opt(0.01, "GAN phase: weight of the L1 loss")
    perceptual_weight: float = opt(1.0, "GAN phase: weight of the VGG19 conv5_4 perceptual loss (needs --vgg-weights or torchvision's cache)")
    gan_weight: float = opt(0.005, "GAN phase: weight of the relativistic adversarial loss")
    vgg_weights: str = opt("", "VGG19 ImageNet weights (.pth or .safetensors); default: torchvision's cache")
    d_width: int = opt(64, "discriminator base channels")
    ema_decay: float = opt(0.999, "EMA of the network's weights (the exported one); 0 exports the raw network")
    init_from: str = opt("", "start from the network weights of this checkpoint (e.g. a PSNR model before its GAN phase)")
    blur_prob: float = opt(0.0, "degradation: chance of a Gaussian blur before downscaling")
    blur_sigma: tuple[float, ...] = opt((0.2, 2.0), "degradation: blur sigma range (high-resolution pixels)")
    noise_prob: float = opt(0.0, "degradation: chance of Gaussian noise after downscaling")
    noise_sigma: tuple[float, ...] = opt((1.0, 15.0), "degradation: noise sigma range, in 8-bit levels")
    jpeg_prob: float = opt(0.0, "degradation: chance of JPEG compression of the low-resolution input")
    jpeg_quality: tuple[int, ...] = opt((40, 95), "degradation: JPEG quality range")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.generator()
        if not 0 <= self.gan_steps <= self.steps:
            raise ValueError("--gan-steps must be between 0 and --steps")
        for name in ("blur_sigma", "noise_sigma", "jpeg_quality"):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0 <= lo_hi[0] <= lo_hi[1]:
                raise ValueError(f"--{name.replace('_', '-')} takes two values: min max")
        if self.jpeg_quality[1] > 100 or self.eval_size % self.scale or self.eval_size < 32:
            raise ValueError("--jpeg-quality is at most 100; --eval-size must be a multiple of --scale, >= 32")
        if self.gan_steps and self.perceptual_weight > 0:
            find_vgg19_weights(self.vgg_weights)  # stop now, before any work, when the weights are missing
        if self.init_from and not Path(self.init_from).is_file():
            raise ValueError(f"--init-from {self.init_from}: no such file")

    @property
    def family(self) -> str:
        return ARCH_FAMILY[self.arch]

    def generator(self) -> RRDBConfig | SPANConfig:
        if self.arch == "span":
            return SPANConfig(feature_channels=self.feature_channels, scale=self.scale, resolution=self.resolution)
        return RRDBConfig(num_feat=self.num_feat, num_grow_ch=self.num_grow_ch, num_block=self.num_block,
                          scale=self.scale, resolution=self.resolution, skip=self.skip)

    def degradation(self) -> Degradation:
        return Degradation(self.blur_prob, tuple(self.blur_sigma), self.noise_prob, tuple(self.noise_sigma),
                           self.jpeg_prob, tuple(self.jpeg_quality))


class SRCrops(torch.utils.data.Dataset):
    """High-resolution crops at native size (resampling would erase the very detail SR must
    learn; only images smaller than the crop are enlarged) and their degraded x4 inputs."""

    def __init__(self, paths, hr_size: int, seed: int, degradation: Degradation, *, train: bool, scale: int) -> None:
        self.paths, self.hr_size, self.seed, self.degradation, self.train = paths, hr_size, seed, degradation, train
        self.scale = scale

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> np.ndarray:
        img = read_rgb(self.paths[index])
        h, w = img.shape[:2]
        if min(h, w) < self.hr_size:
            f = self.hr_size / min(h, w)
            img = cv2.resize(img, (max(self.hr_size, round(w * f)), max(self.hr_size, round(h * f))), interpolation=cv2.INTER_CUBIC)
        return img

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        epoch, index = split_key(key)
        img = self.read(index)
        h, w = img.shape[:2]
        rng = sample_rng(self.seed, epoch, index)
        if self.train:
            crop = Crop(int(rng.integers(0, h - self.hr_size + 1)), int(rng.integers(0, w - self.hr_size + 1)),
                        self.hr_size, bool(rng.random() < 0.5))
        else:
            full = center_crop(h, w)
            crop = Crop(full.y + (full.side - self.hr_size) // 2, full.x + (full.side - self.hr_size) // 2, self.hr_size, False)
        hr = apply_crop(img, crop, self.hr_size)
        lr = degrade(hr, self.degradation, rng, self.scale) if self.train else bicubic_down(hr, self.scale)
        return {"lr": to_tensor(lr, signed=False), "hr": to_tensor(hr, signed=False)}


def device_pairs(crops: SRCrops, device: torch.device):
    """SRCrops on the device: native-resolution crops, flipped, degraded there."""
    images = dd.DeviceImages([crops.read(i) for i in range(len(crops))], device)

    def make(index: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        hr = dd.flip(dd.crop_fixed(images, index, crops.hr_size, gen), dd.random_flips(len(index), gen))
        lr = dd.degrade(hr, crops.degradation, gen, crops.scale)
        return {"lr": lr.float() / 255, "hr": hr.float() / 255}

    return make


def bicubic_up(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The classical baseline the model must beat (OpenCV's bicubic, per image)."""
    out = []
    for img in lr:
        arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        h, w = arr.shape[:2]
        up = cv2.resize(arr, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        out.append(to_tensor(up, signed=False))
    return torch.stack(out)


def train(c: ESRGANConfig, run_args) -> Path | None:
    run = TrainingRun(c.family, c, run_args)
    split = image_split(c.data, c.holdout, c.seed, run.warn)
    train_set = SRCrops(split.train, c.resolution * c.scale, c.seed, c.degradation(), train=True, scale=c.scale)
    held_set = SRCrops(split.held_out or split.train, c.eval_size, c.seed, Degradation(), train=False, scale=c.scale)

    g = run.to_device(build_network(c.family, c.generator()))
    if c.init_from and not run.resuming:
        try:
            tensors, saved = load_checkpoint(c.init_from)
            if saved.get("family") != c.family:
                raise CheckpointError(f"a {saved.get('family')} checkpoint")
            g.load_state_dict(module_state(tensors, saved["weights"]))
        except (CheckpointError, KeyError, RuntimeError) as exc:
            raise OptionError(f"--init-from {c.init_from}: not a matching {c.family} checkpoint "
                              f"({str(exc).splitlines()[0]})") from None
    ema = EMA(g, c.ema_decay)
    opt_g = torch.optim.Adam(g.parameters(), lr=c.lr, betas=(0.9, 0.99))
    nets, optimizers = {"g": g}, {"g": opt_g}
    perceptual, vgg_path = None, None
    if c.gan_steps:
        d = run.to_device(VGGDiscriminator(config=VGGDiscriminatorConfig(width=c.d_width)))
        nets["d"], optimizers["d"] = d, torch.optim.Adam(d.parameters(), lr=c.gan_lr, betas=(0.9, 0.99))
        if c.perceptual_weight > 0:
            vgg_path = find_vgg19_weights(c.vgg_weights)
            perceptual = PerceptualLoss(vgg_path).to(run.device)
    run.track(nets=nets, optimizers=optimizers, emas={"g_ema": ema})
    plan = {"data": split.describe(), "psnr_steps": c.steps - c.gan_steps, "gan_steps": c.gan_steps,
            "perceptual": str(vgg_path) if vgg_path is not None else "off"}
    if run.dry_run:
        print(json.dumps(run.describe(**plan), indent=2))
        return None

    step, loop = run.start(network=config_to_dict(c.generator()), weights="g_ema" if c.ema_decay > 0 else "g",
                           data=split.describe(), split=split.record(), plan=plan)
    stream = run.stream(train_set, lambda: device_pairs(train_set, run.device), consumed=loop.get("consumed", 0))
    G = run.compiled(g)
    D = run.compiled(nets["d"]) if "d" in nets else None
    held = fixed_batch(held_set, max(c.samples, 1))
    all_held = functools.cache(lambda: fixed_batch(held_set, len(held_set)))  # decoded once, at the first evaluation

    def train_step(step: int) -> dict[str, torch.Tensor]:
        g.train()
        gan = step > c.steps - c.gan_steps
        for group in opt_g.param_groups:
            group["lr"] = c.gan_lr if gan else c.lr
        batch = stream.next()
        lr, hr = run.images(batch["lr"]), run.images(batch["hr"])
        with run.autocast():
            sr = G(lr)
        l1 = F.l1_loss(sr.float(), hr)
        if not gan:
            pixel = F.mse_loss(sr.float(), hr) if c.pixel_loss == "mse" else l1
            run.step_optimizer("g", pixel, g)
            ema.update(g, step)
            return {"l1": l1.detach(), **({"mse": pixel.detach()} if c.pixel_loss == "mse" else {})}
        with run.autocast():
            real_logits = D(hr).float().detach()
            adv = relativistic_g_loss(real_logits, D(sr).float())
        loss_g = c.l1_weight * l1 + c.gan_weight * adv
        losses = {"l1": l1.detach(), "g_adv": adv.detach()}
        if perceptual is not None:
            with run.autocast():
                percep = perceptual(sr.float(), hr).float()
            loss_g = loss_g + c.perceptual_weight * percep
            losses["perceptual"] = percep.detach()
        run.step_optimizer("g", loss_g, g)
        ema.update(g, step)
        with run.autocast():
            loss_d = relativistic_d_loss(D(hr).float(), D(sr.detach()).float())
        run.step_optimizer("d", loss_d, nets["d"])
        losses["d_loss"] = loss_d.detach()
        return losses

    @torch.no_grad()
    def upscale(lr: torch.Tensor) -> torch.Tensor:
        net = ema.module if c.ema_decay > 0 else g.eval()
        out = torch.cat([net(chunk.to(run.device)).float().cpu() for chunk in lr.split(8)])
        g.train()
        return out.clamp(0, 1)

    def sample() -> torch.Tensor:  # rows of bicubic | model | original
        return torch.stack([bicubic_up(held["lr"], c.scale), upscale(held["lr"]), held["hr"]], 1).flatten(0, 1)

    def evaluate() -> dict[str, float]:
        batch = all_held()
        sr, hr, base = upscale(batch["lr"]), batch["hr"], bicubic_up(batch["lr"], c.scale)
        # Y channel with a border of the scale's width cropped, as SR papers report.
        return {"psnr_y": psnr(to_y(sr), to_y(hr), border=c.scale), "ssim_y": ssim(to_y(sr), to_y(hr), border=c.scale),
                "psnr_y_bicubic": psnr(to_y(base), to_y(hr), border=c.scale)}

    return run.loop(step, train_step, images_per_step=c.batch_size,
                    loop_state=lambda: {"consumed": stream.consumed}, sample=sample, evaluate=evaluate, grid_columns=3)


def main(argv: list[str] | None = None, prog: str = "python -m landscape.trainers.esrgan") -> int:
    return run_main(train, ESRGANConfig, argv, prog=prog, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
