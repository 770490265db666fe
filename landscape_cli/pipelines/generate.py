"""Generation: one latent per seed, so an image depends on its seed only (not on the batch
it ran in, nor on the other seeds asked for)."""
from __future__ import annotations

import numpy as np

from landscape_cli.runtime import Model, Rescale


def latents(seeds: list[int], dim: int) -> np.ndarray:
    """(len(seeds), dim) standard normal float32, row i drawn from seed i alone."""
    return np.stack([np.random.default_rng(seed).standard_normal(dim, dtype=np.float32) for seed in seeds])


def generate(model: Model, seeds: list[int]) -> np.ndarray:
    """Seeds -> images (N, H, W, 3) float32 in [0, 1]."""
    z = latents(seeds, model.info.latent_dim or 0)
    images = model.run(**{model.info.inputs[0].name: z})
    return model.from_output_range(images).transpose(0, 2, 3, 1)


def upscales_as_is(generator: Model, upscaler: Model) -> bool:
    """Whether the generator's pictures can go into the upscaler as they are, a whole batch in
    one call (no padding to the upscaler's size multiple): on a GPU, as one chain on the device."""
    side = generator.info.native_size[0]
    return side % max(1, upscaler.info.size_multiple) == 0


def generate_upscaled(generator: Model, upscaler: Model, rescale: Rescale, seeds: list[int]) -> np.ndarray:
    """Seeds -> upscaled images (N, sH, sW, 3) float32 in [0, 1]. The pictures stay on the
    device between the two models (IO binding and an on-device range change): on a GPU only
    the latents go in and only the upscaled pictures come out."""
    z = latents(seeds, generator.info.latent_dim or 0)
    images = generator.run_bound({generator.info.inputs[0].name: z}, keep_on_device=True)
    name = upscaler.info.inputs[0].name
    images = rescale.between(images, generator.info.output.range or (0.0, 1.0), upscaler.info.input(name).range or (0.0, 1.0))
    out = upscaler.run_bound({name: images}, keep_on_device=False)
    return upscaler.from_output_range(out).transpose(0, 2, 3, 1)
