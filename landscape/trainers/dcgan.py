"""Train the unconditional generator (DCGAN lineage): classic DCGAN or ResUp generator,
with DiffAugment, five GAN losses' worth of tricks and an EMA generator for export.

    landscape train dcgan --data photos/ --resolution 128 --steps 20000
    python -m landscape.trainers.dcgan --data photos/ --loss wgan-gp
    torchrun --nproc_per_node 4 -m landscape.trainers.dcgan --data photos/ --batch-size 256
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.trainers import distributed
from landscape.trainers.data import ImageCrops, fixed_batch, image_split, read_rgb
from landscape.trainers.device_data import DeviceImages, crop_resize, flip, random_flips, square_boxes
from landscape.trainers.diffaugment import diff_augment, parse_policy
from landscape.trainers.ema import EMA
from landscape.trainers.losses import GAN_LOSSES, d_loss, g_loss, gradient_penalty
from landscape.trainers.metrics import FID, find_inception_weights, fid_status, sliced_wasserstein
from landscape.trainers.networks import config_to_dict
from landscape.trainers.networks.dcgan import DCGANDiscriminator, DiscriminatorConfig, GeneratorConfig, build_generator
from landscape.trainers.options import opt
from landscape.trainers.run import BaseConfig, TrainingRun, run_main

WGAN_LOSSES = ("wgan", "wgan-gp")


@dataclass(frozen=True)
class DCGANConfig(BaseConfig):
    arch: str = opt("resup", "generator: resup (nearest upsampling + residual convs) or dcgan (classic, 64/128 px)", ("resup", "dcgan"))
    resolution: int = opt(128, "image size in pixels (a power of two; 64 or 128 for the classic DCGAN)")
    latent_dim: int = opt(128, "length of the latent vector z")
    g_width: int = opt(64, "generator base channel count")
    d_width: int = opt(64, "discriminator base channel count")
    loss: str = opt("bce", "bce (non-saturating), hinge, wgan (weight clipping) or wgan-gp (gradient penalty)", GAN_LOSSES)
    optimizer: str = opt("auto", "adam, rmsprop, or auto (rmsprop for wgan as in the WGAN paper, else adam)", ("auto", "adam", "rmsprop"))
    g_lr: float = opt(2e-4, "generator learning rate")
    d_lr: float = opt(2e-4, "discriminator learning rate (TTUR: may differ from --g-lr)")
    beta1: float = opt(0.5, "Adam beta1 (0.5 as in DCGAN; 0 for wgan-gp as in its paper)")
    beta2: float = opt(0.999, "Adam beta2")
    d_steps: int = opt(0, "discriminator (critic) steps per generator step, n_critic; 0: 5 for wgan/wgan-gp, else 1")
    clip: float = opt(0.01, "wgan: critic weights are clipped to [-clip, clip]")
    gp_weight: float = opt(10.0, "wgan-gp: gradient penalty weight")
    label_smoothing: float = opt(0.0, "bce: real labels become 1 - this (one-sided smoothing, e.g. 0.1)")
    flip_prob: float = opt(0.0, "bce: probability of flipping each D label (noisy labels, e.g. 0.05)")
    instance_noise: float = opt(0.0, "std of Gaussian noise added to D's inputs, annealed to 0 (e.g. 0.1)")
    instance_noise_steps: int = opt(10000, "steps over which instance noise anneals to 0")
    diffaugment: str = opt("color,translation,cutout", "DiffAugment policies, comma-separated, or none")
    spectral_norm: bool = opt(False, "spectral normalisation on every discriminator layer")
    self_attention: bool = opt(False, "SAGAN self-attention block in the discriminator (at 16x16)")
    minibatch_discrimination: bool = opt(False, "minibatch-discrimination features before D's head (against mode collapse)")
    monitored: bool = opt(False, "skip the D update while D_loss < --monitor-ratio x G_loss (D is ahead: let G catch up)")
    monitor_ratio: float = opt(0.8, "threshold of the monitored rule")
    boost_prob: float = opt(0.0, "chance per step of starting a boost burst: --boost-length steps training only D or only G")
    boost_length: int = opt(20, "length of a boost burst in steps")
    ema_decay: float = opt(0.999, "EMA of the generator's weights (the exported one); 0 exports the raw generator")
    ema_start: int = opt(1000, "step from which the EMA averages (before, it copies the generator)")
    inception_weights: str = opt("", "Inception-v3 weights file for FID (torchvision's); without it only SWD is reported")

    def __post_init__(self) -> None:
        super().__post_init__()
        wgan = self.loss in WGAN_LOSSES
        object.__setattr__(self, "d_steps", self.d_steps or (5 if wgan else 1))
        object.__setattr__(self, "optimizer", self.optimizer if self.optimizer != "auto" else ("rmsprop" if self.loss == "wgan" else "adam"))
        parse_policy(self.diffaugment)
        GeneratorConfig(arch=self.arch, resolution=self.resolution, latent_dim=self.latent_dim, width=self.g_width)
        if (self.label_smoothing or self.flip_prob) and self.loss != "bce":
            raise ValueError("--label-smoothing and --flip-prob apply to the bce loss only")
        if not 0 <= self.label_smoothing < 0.5 or not 0 <= self.flip_prob < 0.5:
            raise ValueError("--label-smoothing and --flip-prob must be in [0, 0.5)")
        if self.loss == "wgan-gp" and self.minibatch_discrimination:
            raise ValueError("wgan-gp's per-sample gradient penalty cannot be combined with minibatch discrimination")
        if self.monitored and self.loss != "bce":
            raise ValueError("the monitored rule compares BCE losses; use it with --loss bce")
        if self.d_steps < 1 or self.boost_length < 1 or not 0 <= self.boost_prob <= 1:
            raise ValueError("--d-steps and --boost-length must be >= 1 and --boost-prob in [0, 1]")
        if self.instance_noise < 0 or self.instance_noise_steps < 1 or not 0 <= self.ema_decay < 1:
            raise ValueError("--instance-noise must be >= 0, --instance-noise-steps >= 1, --ema-decay in [0, 1)")
        if self.inception_weights and not Path(self.inception_weights).is_file():
            raise ValueError(f"--inception-weights {self.inception_weights}: no such file")

    def generator(self) -> GeneratorConfig:
        return GeneratorConfig(arch=self.arch, resolution=self.resolution, latent_dim=self.latent_dim, width=self.g_width)

    def discriminator(self) -> DiscriminatorConfig:
        # Batch norm couples the samples of a batch, which WGAN's per-sample critic must not do.
        return DiscriminatorConfig(resolution=self.resolution, width=self.d_width, spectral_norm=self.spectral_norm,
                                   self_attention=self.self_attention, minibatch_discrimination=self.minibatch_discrimination,
                                   norm="layer" if self.loss in WGAN_LOSSES else "batch")


def boost_mode(seed: int, step: int, state: dict, prob: float, length: int) -> str:
    """'both', or 'd'/'g' during a burst. Drawn from (seed, step), so every rank and every
    resumed run makes the same choice."""
    if state.get("left", 0) > 0:
        state["left"] -= 1
        return state["mode"]
    if prob > 0 and np.random.default_rng((seed, step, 7)).random() < prob:
        state["mode"] = "d" if np.random.default_rng((seed, step, 8)).random() < 0.5 else "g"
        state["left"] = length - 1
        return state["mode"]
    return "both"


def device_crops(paths: list[Path], size: int, device: torch.device):
    """ImageCrops on the device: random squares of half to all of the largest square, flipped."""
    images = DeviceImages([read_rgb(p) for p in paths], device)

    def make(index: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        crops = crop_resize(images, index, square_boxes(images.sizes[index], 0.5, gen), size)
        return {"image": flip(crops, random_flips(len(index), gen)) / 127.5 - 1}

    return make


def train(c: DCGANConfig, run_args) -> Path | None:
    run = TrainingRun("dcgan", c, run_args)
    split = image_split(c.data, c.holdout, c.seed, run.warn)
    train_set = ImageCrops(split.train, c.resolution, c.seed, train=True)
    held_set = ImageCrops(split.held_out or split.train, c.resolution, c.seed, train=False)
    policy = parse_policy(c.diffaugment)

    g = run.to_device(build_generator(c.generator()))
    d = run.to_device(DCGANDiscriminator(config=c.discriminator()))
    ema = EMA(g, c.ema_decay)
    if c.optimizer == "rmsprop":
        opt_g = torch.optim.RMSprop(g.parameters(), lr=c.g_lr)
        opt_d = torch.optim.RMSprop(d.parameters(), lr=c.d_lr)
    else:
        opt_g = torch.optim.Adam(g.parameters(), lr=c.g_lr, betas=(c.beta1, c.beta2))
        opt_d = torch.optim.Adam(d.parameters(), lr=c.d_lr, betas=(c.beta1, c.beta2))
    run.track(nets={"g": g, "d": d}, optimizers={"g": opt_g, "d": opt_d}, emas={"g_ema": ema})
    plan = {"data": split.describe(), "fid": fid_status(c.inception_weights)}
    if run.dry_run:
        print(json.dumps(run.describe(**plan), indent=2))
        return None

    weights = "g_ema" if c.ema_decay > 0 else "g"
    step, loop = run.start(network=config_to_dict(c.generator()), weights=weights, data=split.describe(),
                           split=split.record(), plan=plan)
    stream = run.stream(train_set, lambda: device_crops(split.train, c.resolution, run.device), consumed=loop.get("consumed", 0))
    boost, last = loop.get("boost", {}), loop.get("last", {})
    inception = find_inception_weights(c.inception_weights)
    fid = FID(inception, run.device) if inception is not None else None
    if fid is None and run.dist.main:
        run.warn(plan["fid"])
    G, D = run.compiled(g), run.compiled(d)
    fixed_z = torch.randn(c.samples, c.latent_dim, generator=torch.Generator().manual_seed(c.seed)).to(run.device)
    all_held = functools.cache(lambda: fixed_batch(held_set, len(held_set)))  # decoded once, at the first evaluation

    def augment(x: torch.Tensor, step: int) -> torch.Tensor:
        x = diff_augment(x, policy)
        # Instance noise blurs the real and fake distributions into each other early on, so
        # D cannot separate them perfectly and G's gradients stay informative.
        sigma = c.instance_noise * max(0.0, 1.0 - step / c.instance_noise_steps)
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def d_loss_on(real: torch.Tensor, step: int) -> torch.Tensor:
        z = torch.randn(real.shape[0], c.latent_dim, device=run.device)
        with run.autocast():
            with torch.no_grad():
                fake = G(z)
            real_logits, fake_logits = D(augment(real, step)), D(augment(fake.float(), step))
            loss = d_loss(c.loss, real_logits.float(), fake_logits.float(),
                          smoothing=c.label_smoothing, flip_prob=c.flip_prob)
        if c.loss == "wgan-gp":
            loss = loss + c.gp_weight * gradient_penalty(lambda x: D(augment(x, step)), real, fake.float())
        return loss

    def train_step(step: int) -> dict[str, torch.Tensor]:
        g.train(), d.train()
        mode = boost_mode(c.seed, step, boost, c.boost_prob, c.boost_length)
        losses: dict[str, torch.Tensor] = {}
        # The monitored rule: while D is comfortably ahead of G, hold D still.
        d_ahead = c.monitored and "d" in last and last["d"] < c.monitor_ratio * last["g"]
        if mode != "g":
            for _ in range(c.d_steps):
                real = run.images(stream.next()["image"])
                if d_ahead:
                    with torch.no_grad():
                        losses["d_loss"] = d_loss_on(real, step)
                    continue
                loss = d_loss_on(real, step)
                run.step_optimizer("d", loss, d)
                if c.loss == "wgan":
                    # Clipping keeps the critic (roughly) Lipschitz, which the WGAN estimate needs.
                    with torch.no_grad():
                        for p in d.parameters():
                            p.clamp_(-c.clip, c.clip)
                losses["d_loss"] = loss.detach()
            losses["d_updates"] = torch.tensor(0.0 if d_ahead else 1.0)
        if mode != "d":
            z = torch.randn(run.batch, c.latent_dim, device=run.device)
            with run.autocast():
                loss = g_loss(c.loss, D(augment(G(z).float(), step)).float())
            run.step_optimizer("g", loss, g)
            ema.update(g, step, c.ema_start)
            losses["g_loss"] = loss.detach()
        if c.monitored and "d_loss" in losses and "g_loss" in losses:
            agreed = distributed.mean_across({"d": float(losses["d_loss"]), "g": float(losses["g_loss"])}, run.dist, run.device)
            last.update(agreed)
        return losses

    @torch.no_grad()
    def generate(z: torch.Tensor) -> torch.Tensor:
        net = ema.module if c.ema_decay > 0 else g.eval()
        out = torch.cat([net(chunk) for chunk in z.split(64)])
        g.train()
        return (out.float() + 1) / 2

    def evaluate() -> dict[str, float]:
        real = (all_held()["image"] + 1) / 2
        n = max(len(real), 16)
        z = torch.randn(n, c.latent_dim, generator=torch.Generator().manual_seed(c.seed + 1)).to(run.device)
        fake = generate(z).cpu()
        result = sliced_wasserstein(real, fake[: len(real)])
        if fid is not None:
            result["fid"] = fid.distance(real, fake)
        return result

    return run.loop(step, train_step, images_per_step=c.batch_size * c.d_steps,
                    loop_state=lambda: {"consumed": stream.consumed, "boost": dict(boost), "last": dict(last)},
                    sample=lambda: generate(fixed_z), evaluate=evaluate)


def main(argv: list[str] | None = None, prog: str = "python -m landscape.trainers.dcgan") -> int:
    return run_main(train, DCGANConfig, argv, prog=prog, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
