"""Quality of ONNX generators against held-out photos, side by side in one table.

- Sliced Wasserstein distance (Karras et al. 2018; x1000, lower is better) between 7x7 patches
  of generated images and of the held-out photos, per Laplacian-pyramid level and averaged.
  Each figure is the mean and spread over three disjoint sets of seeds.
- The same figure for training photos against the held-out ones: the floor a perfect
  generator would reach with this many images.
- Diversity: mean pairwise RMS distance between 32x32 thumbnails, as a fraction of the same
  figure for the held-out photos. Mode collapse shows as a fraction well below 1.

Held-out photos are the run's split.json `held_out` list, centre-cropped and resized exactly
as the trainer's evaluation does.

    python -m evaluation.generator_quality                      # the bundled generator
    python -m evaluation.generator_quality a.onnx b.onnx        # several, side by side
    python -m evaluation.generator_quality --truncation scale:0.8 resample:2.0   # truncated latents too

Truncation, `scale:PSI` (z * PSI) or `resample:T` (coordinates beyond +-T drawn again from the
seed's generator, BigGAN's trick), trades variety for typical pictures; a generator offers it
(`generate --truncation`) only where it measures better here and looks better.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from landscape.pipelines.generate import generate
from landscape.runtime.sessions import BACKENDS, PRECISIONS, bundled_model, choose_device, load_model
from landscape.trainers.data import apply_crop, center_crop, read_rgb
from landscape.trainers.metrics import sliced_wasserstein

SEED_SETS = 3


def photos(root: Path, names: list[str], size: int) -> torch.Tensor:
    crops = [apply_crop(img, center_crop(*img.shape[:2]), size) for img in (read_rgb(root / n) for n in names)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0


def diversity(images: torch.Tensor) -> float:
    thumbs = torch.nn.functional.interpolate(images, size=(32, 32), mode="area").flatten(1).double()
    d = torch.cdist(thumbs, thumbs) / thumbs.shape[1] ** 0.5
    n = len(thumbs)
    return float(d.sum() / (n * (n - 1)))


def swd_stats(real: torch.Tensor, fakes: list[torch.Tensor]) -> dict[str, float]:
    runs = [sliced_wasserstein(real, fake) for fake in fakes]
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    out["swd_mean_std"] = float(np.std([r["swd_mean"] for r in runs]))
    return out


def truncated_latents(seeds, dim: int, spec: str) -> np.ndarray:
    method, value = spec.split(":")
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal(dim, dtype=np.float32)
        if method == "scale":
            z = z * np.float32(value)
        else:
            far = np.abs(z) > float(value)
            while far.any():
                z[far] = rng.standard_normal(int(far.sum()), dtype=np.float32)
                far = np.abs(z) > float(value)
        rows.append(z)
    return np.stack(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="ONNX generators to compare (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--split", type=Path, default=Path("runs/generate-128/split.json"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend, as the CLI's --backend")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the CLI's --precision")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--truncation", nargs="*", default=[], help="also measure truncated latents: scale:PSI or resample:T")
    args = parser.parse_args(argv)

    split = json.loads(args.split.read_text())
    device = choose_device("cpu", args.threads, args.backend, args.precision)
    paths = args.models or [bundled_model("generate")]
    models = [load_model("generate", p, device) for p in paths]
    size = models[0].info.native_size[0]
    held = photos(args.data, split["held_out"], size)
    n = len(held)
    # Training photos spread over the list, so the floor is not one corner of the set.
    step = max(1, len(split["train"]) // (n * SEED_SETS))
    train_names = split["train"][::step][: n * SEED_SETS]
    train = photos(args.data, train_names, size)

    rows = {"training photos (floor)": (swd_stats(held, list(train.split(n))), diversity(train[:n]))}
    for path, model in zip(paths, models):
        fakes = [torch.from_numpy(generate(model, list(range(k * n, (k + 1) * n)))).permute(0, 3, 1, 2)
                 for k in range(SEED_SETS)]
        step_trained = model.info.raw.get("training", {}).get("step", "?")
        rows[f"{path.name} (step {step_trained})"] = (swd_stats(held, fakes), diversity(fakes[0]))
        for spec in args.truncation:
            fakes = [torch.from_numpy(model.from_output_range(model.run(**{model.info.inputs[0].name: truncated_latents(
                range(k * n, (k + 1) * n), model.info.latent_dim, spec)}))) for k in range(SEED_SETS)]
            rows[f"{path.name}, {spec}"] = (swd_stats(held, fakes), diversity(fakes[0]))

    real_div = diversity(held)
    levels = [k for k in next(iter(rows.values()))[0] if k.startswith("swd_") and k.endswith("px")]
    print(f"Generator quality against {n} held-out photos at {size} px (SWD x1000, lower is better; "
          f"mean of {SEED_SETS} seed sets)")
    header = f"{'images':<40}" + "".join(f"{k[4:]:>9}" for k in levels) + f"{'mean':>9}{'+-':>6}{'diversity':>11}"
    print(header)
    for name, (swd, div) in rows.items():
        print(f"{name:<40}" + "".join(f"{swd[k]:9.1f}" for k in levels)
              + f"{swd['swd_mean']:9.1f}{swd['swd_mean_std']:6.1f}{div / real_div:11.2f}")
    print("reproduce: python -m evaluation.generator_quality " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({name: {"swd": swd, "diversity_ratio": div / real_div}
                                         for name, (swd, div) in rows.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
