"""Generation: one latent per seed, so an image depends on its seed only (not on the batch
it ran in, nor on the other seeds asked for); latent walks pass through given seeds' latents."""
from __future__ import annotations

import numpy as np

from landscape.runtime.sessions import Model, Rescale

MAX_SEED = 2**63 - 1


def latents(seeds: list[int], dim: int) -> np.ndarray:
    """(len(seeds), dim) standard normal float32, row i drawn from seed i alone."""
    return np.stack([np.random.default_rng(seed).standard_normal(dim, dtype=np.float32) for seed in seeds])


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from a (t = 0) to b (t = 1): Gaussian latents keep their
    typical length along the way, where a straight line would pass through short, atypical ones."""
    cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    omega = np.arccos(np.clip(cosine, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def walk_latents(seeds: list[int], frames_per_leg: int, dim: int) -> np.ndarray:
    """Latents of a walk through the seeds' latents: `frames_per_leg` frames from each seed
    towards the next (its own latent first), then the last seed's: (len(seeds) - 1) *
    frames_per_leg + 1 rows, each seed's latent exactly at its keyframe."""
    keys = latents(seeds, dim)
    rows = [slerp(a, b, k / frames_per_leg) for a, b in zip(keys[:-1], keys[1:]) for k in range(frames_per_leg)]
    return np.stack(rows + [keys[-1]])


def images(model: Model, z: np.ndarray) -> np.ndarray:
    """Latents (N, latent_dim) -> images (N, H, W, 3) float32 in [0, 1]."""
    out = model.run(**{model.info.inputs[0].name: z})
    return model.from_output_range(out).transpose(0, 2, 3, 1)


def generate(model: Model, seeds: list[int]) -> np.ndarray:
    """Seeds -> images (N, H, W, 3) float32 in [0, 1]."""
    return images(model, latents(seeds, model.info.latent_dim or 0))


def upscales_as_is(generator: Model, upscaler: Model) -> bool:
    """Whether the generator's pictures can go into the upscaler as they are, a whole batch in
    one call (no padding to the upscaler's size multiple): on a GPU, as one chain on the device."""
    side = generator.info.native_size[0]
    return side % max(1, upscaler.info.size_multiple) == 0


def generate_upscaled(generator: Model, upscaler: Model, rescale: Rescale, z: np.ndarray) -> np.ndarray:
    """Latents -> upscaled images (N, sH, sW, 3) float32 in [0, 1]. The pictures stay on the
    device between the two models (IO binding and an on-device range change): on a GPU only
    the latents go in and only the upscaled pictures come out."""
    pictures = generator.run_bound({generator.info.inputs[0].name: z}, keep_on_device=True)
    name = upscaler.info.inputs[0].name
    pictures = rescale.between(pictures, generator.info.output.range or (0.0, 1.0), upscaler.info.input(name).range or (0.0, 1.0))
    out = upscaler.run_bound({name: pictures}, keep_on_device=False)
    return upscaler.from_output_range(out).transpose(0, 2, 3, 1)
