"""Generation: one latent per seed, so an image depends on its seed only (not on the batch
it ran in, nor on the other seeds asked for)."""
from __future__ import annotations

import numpy as np

from landscape_cli.runtime import Model


def latents(seeds: list[int], dim: int) -> np.ndarray:
    """(len(seeds), dim) standard normal float32, row i drawn from seed i alone."""
    return np.stack([np.random.default_rng(seed).standard_normal(dim, dtype=np.float32) for seed in seeds])


def generate(model: Model, seeds: list[int]) -> np.ndarray:
    """Seeds -> images (N, H, W, 3) float32 in [0, 1]."""
    z = latents(seeds, model.info.latent_dim or 0)
    images = model.run(**{model.info.inputs[0].name: z})
    return model.from_output_range(images).transpose(0, 2, 3, 1)
