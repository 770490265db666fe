"""Draw the README's pictures of the bundled models' real outputs, through the real CLI.

- docs/images/generated_grid.jpg: 16 pictures of `landscape generate --seeds 0-15 --upscale`
  (512x512 each, shown at full size);
- docs/images/upscale_compare.jpg: generated 128 px pictures brought to 512 px by nearest
  neighbour, bicubic and the bundled upscaler, side by side (a 192x192 crop of each);
- docs/images/workflow.jpg: one row per sample through the other bundled models: map |
  `translate`; photo with its holes | `inpaint`; `label` of the photo | `translate` of that map;
- docs/images/compare_inpaint.jpg: `landscape inpaint samples/photos --masks samples/masks
  --compare` (input | mask | output, the sheet the CLI writes);
- docs/images/walk.webp: `landscape generate --walk 3,7,12 --frames 12 --upscale --animation`.

    python -m scripts.make_readme_pictures
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CROP = 192


def landscape(*args: str) -> list[Path]:
    done = subprocess.run([sys.executable, "-m", "landscape", *args], check=True, capture_output=True, text=True)
    return [Path(line) for line in done.stdout.splitlines()]


def sheet(rows: list[list[np.ndarray]], gap: int = 4) -> Image.Image:
    h, w = rows[0][0].shape[:2]
    out = np.full((len(rows) * (h + gap) - gap, len(rows[0]) * (w + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return Image.fromarray(out)


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        big = [np.asarray(Image.open(p).convert("RGB")) for p in landscape("generate", "--seeds", "0-15", "--upscale", "-o", f"{tmp}/big")]
        sheet([big[i : i + 4] for i in range(0, 16, 4)]).save(IMAGES / "generated_grid.jpg", quality=88)

        small_paths = landscape("generate", "--seeds", "0-3", "-o", f"{tmp}/small")
        upscaled = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in landscape("upscale", f"{tmp}/small", "-o", f"{tmp}/up")}
        rows = []
        for path in small_paths:
            small = Image.open(path).convert("RGB")
            size = (small.width * 4, small.height * 4)
            y, x = (size[1] - CROP) // 2, (size[0] - CROP) // 2
            views = [np.asarray(small.resize(size, Image.NEAREST)), np.asarray(small.resize(size, Image.BICUBIC)), upscaled[path.stem]]
            rows.append([v[y : y + CROP, x : x + CROP] for v in views])
        sheet(rows).save(IMAGES / "upscale_compare.jpg", quality=90)
        workflow(Path(tmp)).save(IMAGES / "workflow.jpg", quality=88)
        landscape("inpaint", str(ROOT / "samples" / "photos"), "--masks", str(ROOT / "samples" / "masks"), "-o", f"{tmp}/filled",
                  "--compare", str(IMAGES / "compare_inpaint.jpg"))
        landscape("generate", "--walk", "3,7,12", "--frames", "12", "--upscale", "-o", f"{tmp}/walk",
                  "--animation", str(IMAGES / "walk.webp"), "--fps", "10")
    for name in ("generated_grid.jpg", "upscale_compare.jpg", "workflow.jpg", "compare_inpaint.jpg", "walk.webp"):
        print(IMAGES / name)
    return 0


def workflow(tmp: Path) -> Image.Image:
    samples = ROOT / "samples"
    read = lambda path: np.asarray(Image.open(path).convert("RGB"))  # noqa: E731
    translated = {p.stem: read(p) for p in landscape("translate", str(samples / "maps"), "-o", f"{tmp}/tr")}
    filled = {p.stem: read(p) for p in landscape("inpaint", str(samples / "photos"), "--masks", str(samples / "masks"),
                                                 "-o", f"{tmp}/fill")}
    landscape("label", str(samples / "photos"), "-o", f"{tmp}/maps")
    round_trip = {p.stem: read(p) for p in landscape("translate", f"{tmp}/maps", "-o", f"{tmp}/rt")}
    rows = []
    for name in sorted(filled):
        photo = read(samples / "photos" / f"{name}.png")
        holes = np.asarray(Image.open(samples / "masks" / f"{name}.png").convert("L")) > 127
        shown = photo.copy()
        shown[holes] = 255
        rows.append([read(samples / "maps" / f"{name}.png"), translated[name], shown, filled[name],
                     read(tmp / "maps" / f"{name}.png"), round_trip[name]])
    return sheet(rows)


if __name__ == "__main__":
    sys.exit(main())
