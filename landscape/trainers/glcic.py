"""Train masked inpainting (GLCIC, Iizuka et al. 2017): a dilated completion network, a
global discriminator on the whole image and a local one on the patch around the hole, in
three phases: completion with MSE alone, then the discriminators alone, then both.

    landscape train inpaint --data photos/ --resolution 256 --hole-area 0.1 0.4
    python -m landscape.trainers.glcic --data photos/ --phase-ratios 0.18 0.02 --adv-weight 0.0004
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from landscape.trainers import device_data as dd
from landscape.trainers.data import ImageCrops, fixed_batch, image_split, read_rgb, sample_rng, split_key, to_tensor
from landscape.trainers.losses import d_loss, g_loss
from landscape.trainers.masks import MASK_KINDS, hole_box, random_mask
from landscape.trainers.metrics import psnr, ssim
from landscape.trainers.networks import config_to_dict
from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork, ContextDiscriminator, ContextDiscriminatorConfig
from landscape.trainers.options import opt
from landscape.trainers.run import BaseConfig, TrainingRun, run_main


@dataclass(frozen=True)
class GLCICConfig(BaseConfig):
    resolution: int = opt(256, "training crop size (a multiple of 4); the local discriminator sees half of it")
    min_scale: float = opt(0.5, "smallest crop, as a share of the largest square that fits")
    g_width: int = opt(64, "completion network base channels")
    d_width: int = opt(64, "discriminator base channels")
    dilations: tuple[int, ...] = opt((2, 4, 8, 16), "dilation rates of the middle convolutions")
    skips: bool = opt(True, "carry the encoder's full- and half-resolution features to the decoder (--no-skips: GLCIC "
                      "as published, which fills thin holes from quarter-resolution features only)")
    hole_area: tuple[float, ...] = opt((0.1, 0.4), "share of the image the hole covers: min max")
    mask_kind: str = opt("mixed", "hole shapes: free-form strokes, rectangles, or mixed", MASK_KINDS)
    phase_ratios: tuple[float, ...] = opt((0.18, 0.02), "shares of --steps for phase 1 (completion, MSE only) and "
                                          "phase 2 (discriminators only); phase 3 (joint) takes the rest")
    adv_weight: float = opt(0.0004, "alpha: weight of the adversarial loss against the hole MSE in phase 3")
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    d_rewarm_steps: int = opt(500, "after --resume from a slim state, which restarts the discriminators: steps that "
                              "train them alone before the joint phase goes on (GLCIC's phase 2 again)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.generator()
        if len(self.hole_area) != 2 or not 0 < self.hole_area[0] <= self.hole_area[1] < 1:
            raise ValueError("--hole-area takes two shares 0 < min <= max < 1, e.g. 0.1 0.4")
        if len(self.phase_ratios) != 2 or min(self.phase_ratios) < 0 or sum(self.phase_ratios) > 1:
            raise ValueError("--phase-ratios takes two shares >= 0 summing to at most 1, e.g. 0.18 0.02")
        if self.adv_weight < 0 or self.d_rewarm_steps < 0:
            raise ValueError("--adv-weight and --d-rewarm-steps must be >= 0")

    def generator(self) -> CompletionConfig:
        return CompletionConfig(width=self.g_width, resolution=self.resolution, dilations=self.dilations, skips=self.skips)

    def phase(self, step: int) -> str:
        completion = round(self.phase_ratios[0] * self.steps)
        disc = completion + round(self.phase_ratios[1] * self.steps)
        return "completion" if step <= completion else "discriminator" if step <= disc else "joint"


class MaskedCrops(ImageCrops):
    """Crops with a random hole (drawn from the same per-sample generator) and the corner of
    the local discriminator's window around it."""

    def __init__(self, paths, size, seed, *, train, min_scale, area, kind) -> None:
        super().__init__(paths, size, seed, train=train, min_scale=min_scale)
        self.area, self.kind = area, kind

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        epoch, index = split_key(key)
        rng = sample_rng(self.seed, epoch, index)
        img = self.crop(read_rgb(self.paths[index]), rng)
        mask = random_mask(self.size, self.size, rng, area=self.area, kind=self.kind)
        return {"image": to_tensor(img), "mask": torch.from_numpy(mask)[None],
                "box": torch.tensor(hole_box(mask, self.size // 2))}


def device_masked_crops(crops: MaskedCrops, device: torch.device):
    """MaskedCrops on the device: crops, holes and the local discriminator's windows there."""
    images = dd.DeviceImages([read_rgb(p) for p in crops.paths], device)
    size = crops.size

    def make(index: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        image = dd.crop_resize(images, index, dd.square_boxes(images.sizes[index], crops.min_scale, gen), size)
        mask = dd.random_masks(len(index), size, size, gen, area=crops.area, kind=crops.kind)
        return {"image": dd.flip(image, dd.random_flips(len(index), gen)) / 127.5 - 1, "mask": mask,
                "box": dd.hole_boxes(mask, size // 2)}

    return make


def local_patches(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    return torch.stack([img[:, y : y + size, x : x + size] for img, (y, x) in zip(images, boxes.tolist())])


def train(c: GLCICConfig, run_args) -> Path | None:
    run = TrainingRun("glcic", c, run_args)
    split = image_split(c.data, c.holdout, c.seed, run.warn)
    kw = {"area": tuple(c.hole_area), "kind": c.mask_kind}
    train_set = MaskedCrops(split.train, c.resolution, c.seed, train=True, min_scale=c.min_scale, **kw)
    held_set = MaskedCrops(split.held_out or split.train, c.resolution, c.seed, train=False, min_scale=1.0, **kw)
    local = c.resolution // 2

    g = run.to_device(CompletionNetwork(config=c.generator()))
    d = run.to_device(ContextDiscriminator(config=ContextDiscriminatorConfig(resolution=c.resolution, local_resolution=local, width=c.d_width)))
    opt_g = torch.optim.Adam(g.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
    run.track(nets={"g": g, "d": d}, optimizers={"g": opt_g, "d": opt_d})
    phases = {p: sum(c.phase(s) == p for s in range(1, c.steps + 1)) for p in ("completion", "discriminator", "joint")}
    plan = {"data": split.describe(), "phase_steps": phases}
    if run.dry_run:
        print(json.dumps(run.describe(**plan), indent=2))
        return None

    step, loop = run.start(network=config_to_dict(c.generator()), weights="g", data=split.describe(),
                           split=split.record(), plan=plan)
    stream = run.stream(train_set, lambda: device_masked_crops(train_set, run.device), consumed=loop.get("consumed", 0))
    G, D = run.compiled(g), run.compiled(d)
    held = fixed_batch(held_set, max(c.samples, 1))
    all_held = functools.cache(lambda: fixed_batch(held_set, len(held_set)))  # decoded once, at the first evaluation

    def hole_mse(out: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Only the hole is asked for: outside it the original pixels are pasted back anyway.
        return ((out.float() - real) ** 2 * mask).sum() / (mask.sum() * 3).clamp_min(1.0)

    def phase_at(step: int) -> str:
        phase = c.phase(step)
        # A fresh discriminator's verdicts are noise: it learns the completions again before G hears it.
        rewarming = "d" in run.restarted and run.warm_from is not None and step <= run.warm_from + c.d_rewarm_steps
        return "discriminator" if phase == "joint" and rewarming else phase

    def train_step(step: int) -> dict[str, torch.Tensor]:
        g.train(), d.train()
        phase = phase_at(step)
        batch = stream.next()
        real, mask, box = run.images(batch["image"]), batch["mask"], batch["box"]
        losses: dict[str, torch.Tensor] = {}
        with run.autocast(), torch.set_grad_enabled(phase != "discriminator"):
            out = G(real, mask)
            completed = real * (1 - mask) + out.float() * mask
        if phase != "completion":
            fake = completed.detach()
            with run.autocast():
                loss_d = d_loss("bce", D(real, local_patches(real, box, local)).float(),
                                D(fake, local_patches(fake, box, local)).float())
            run.step_optimizer("d", loss_d, d)
            losses["d_loss"] = loss_d.detach()
        if phase != "discriminator":
            mse = hole_mse(out, real, mask)
            loss_g = mse
            if phase == "joint":
                with run.autocast():
                    adv = g_loss("bce", D(completed, local_patches(completed, box, local)).float())
                loss_g = mse + c.adv_weight * adv
                losses["g_adv"] = adv.detach()
            run.step_optimizer("g", loss_g, g)
            losses["g_mse"] = mse.detach()
        return losses

    @torch.no_grad()
    def complete(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        g.eval()
        out = torch.cat([g(i.to(run.device), m.to(run.device)).float().cpu()
                         for i, m in zip(images.split(16), masks.split(16))])
        g.train()
        return ((images * (1 - masks) + out * masks) + 1) / 2

    def sample() -> torch.Tensor:  # rows of input with hole | completed | original
        shown = (held["image"] * (1 - held["mask"]) + 1) / 2
        return torch.stack([shown, complete(held["image"], held["mask"]), (held["image"] + 1) / 2], 1).flatten(0, 1)

    def evaluate() -> dict[str, float]:
        batch = all_held()
        out, real, mask = complete(batch["image"], batch["mask"]), (batch["image"] + 1) / 2, batch["mask"]
        return {"psnr_hole": psnr(out, real, weight=mask), "ssim_hole": ssim(out, real, weight=mask)}

    return run.loop(step, train_step, images_per_step=c.batch_size,
                    loop_state=lambda: {"consumed": stream.consumed}, sample=sample, evaluate=evaluate, grid_columns=3)


def main(argv: list[str] | None = None, prog: str = "python -m landscape.trainers.glcic") -> int:
    return run_main(train, GLCICConfig, argv, prog=prog, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
