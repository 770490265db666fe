"""Training data: image folders of any sizes, a fixed held-out split, random crops, and a
batch order that a resumed or multi-process run reproduces exactly.

Every random choice about a sample (crop, flip, mask, degradation) is drawn from a generator
seeded by (run seed, epoch, sample index), never from shared state. The same sample therefore
gets the same augmentation whether it is loaded by worker 0 or 3, by rank 0 or 1, before or
after a resume.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# cv2 sees one thread per DataLoader worker; its own pool would oversubscribe the cores.
cv2.setNumThreads(1)


class DataError(ValueError):
    """Training data that cannot be used (empty folder, unpaired maps, too few images)."""


def list_images(root: str | os.PathLike, warn: Callable[[str], None]) -> list[Path]:
    """Every readable image under `root`, recursively, sorted; unreadable ones are reported
    through `warn` and left out (one bad file must not stop a long run)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    found = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        try:
            with Image.open(path):  # parses the header only: cheap even for large folders
                found.append(path)
        except (OSError, UnidentifiedImageError) as exc:
            warn(f"{path}: skipped, not a readable image ({exc})")
    if not found:
        raise DataError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    return found


def split_holdout(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, held_out): a seeded choice of ceil(fraction * n) items, at least one when
    fraction > 0, kept in their sorted order. The same folder and seed give the same split."""
    if fraction <= 0:
        return list(items), []
    count = min(max(1, math.ceil(fraction * len(items))), len(items) - 1)
    if count < 1:
        raise DataError(f"{len(items)} image(s) cannot be split into training and held-out sets")
    held = set(np.random.default_rng(seed).permutation(len(items))[:count].tolist())
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def read_rgb(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3); gray becomes three channels, alpha is dropped, EXIF orientation applied."""
    img_bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img_bgr is None:
        raise DataError(f"{path}: cannot decode")
    return cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB)


def shrink_to_short_side(img: np.ndarray, side: int) -> np.ndarray:
    """Area-resampled so that the short side is `side`; pictures already smaller keep their pixels."""
    h, w = img.shape[:2]
    s = side / min(h, w)
    return img if s >= 1 else cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def split_key(key: tuple[int, int] | int) -> tuple[int, int]:
    """(epoch, index) from a training key, or (0, index) for plain indexing (held-out sets)."""
    return key if isinstance(key, tuple) else (0, key)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng((seed, epoch, index))


@dataclass(frozen=True)
class Crop:
    y: int
    x: int
    side: int
    flip: bool


def random_square_crop(h: int, w: int, rng: np.random.Generator, min_scale: float) -> Crop:
    """A square whose area is between `min_scale` and 1 of the largest square that fits."""
    short = min(h, w)
    side = max(1, int(round(short * math.sqrt(rng.uniform(min_scale, 1.0)))))
    return Crop(int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side, bool(rng.random() < 0.5))


def center_crop(h: int, w: int) -> Crop:
    side = min(h, w)
    return Crop((h - side) // 2, (w - side) // 2, side, False)


def apply_crop(img: np.ndarray, crop: Crop, size: int, nearest: bool = False) -> np.ndarray:
    patch = img[crop.y : crop.y + crop.side, crop.x : crop.x + crop.side]
    if crop.side != size:
        # Pixel-centre nearest neighbour (INTER_NEAREST samples at corners), as the device path.
        interp = cv2.INTER_NEAREST_EXACT if nearest else (cv2.INTER_AREA if crop.side > size else cv2.INTER_CUBIC)
        patch = cv2.resize(patch, (size, size), interpolation=interp)
    if crop.flip:
        patch = patch[:, ::-1]
    return np.ascontiguousarray(patch)


def to_tensor(img_hwc_u8: np.ndarray, signed: bool = True) -> torch.Tensor:
    """uint8 HWC -> float CHW in [-1, 1] (signed) or [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img_hwc_u8)).permute(2, 0, 1).float() / 255.0
    return t * 2 - 1 if signed else t


class ImageCrops(Dataset):
    """Square crops of `size` from image files; `train=False` gives the deterministic
    centre crop used for held-out evaluation and sample grids. Keys are (epoch, index)."""

    def __init__(self, paths: list[Path], size: int, seed: int, *, train: bool, min_scale: float = 0.5) -> None:
        self.paths, self.size, self.seed, self.train, self.min_scale = paths, size, seed, train, min_scale

    def __len__(self) -> int:
        return len(self.paths)

    def crop(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape[:2]
        crop = random_square_crop(h, w, rng, self.min_scale) if self.train else center_crop(h, w)
        return apply_crop(img, crop, self.size)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, torch.Tensor]:
        epoch, index = split_key(key)
        img = read_rgb(self.paths[index])
        return {"image": to_tensor(self.crop(img, sample_rng(self.seed, epoch, index)))}


class EpochBatches(Sampler):
    """This rank's batches for one epoch, as lists of (epoch, index) keys.

    DistributedSampler shuffles with (seed + epoch) and deals indices to ranks in turn, so
    with per-rank batch B/world the ranks' batches at step s together hold exactly the
    samples of a single process's step s at batch B. `skip` drops the batches a resumed
    run has already trained on.
    """

    def __init__(self, n: int, batch: int, *, rank: int, world: int, seed: int, epoch: int, skip: int = 0,
                 weights: torch.Tensor | None = None) -> None:
        if weights is None:
            sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
            sampler.set_epoch(epoch)
            indices = list(sampler)
        else:
            # n draws with replacement, in proportion to the weights, the same on every rank;
            # each rank takes every world-th one, as DistributedSampler deals them.
            drawn = torch.multinomial(weights, n - n % world, replacement=True,
                                      generator=torch.Generator().manual_seed(seed + epoch))
            indices = drawn[rank::world].tolist()
        self.batches = [[(epoch, i) for i in indices[k : k + batch]] for k in range(0, len(indices) - batch + 1, batch)]
        self.batches = self.batches[skip:]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def batches_per_epoch(n: int, batch: int, world: int) -> int:
    return (n // world) // batch


class BatchStream:
    """An endless stream of this rank's batches that can start at any point of the order:
    `consumed` counts batches already trained on, and is saved in checkpoints."""

    def __init__(self, dataset: Dataset, batch: int, *, rank: int, world: int, seed: int, workers: int,
                 device: torch.device, consumed: int = 0, weights: torch.Tensor | None = None) -> None:
        self.dataset, self.batch, self.rank, self.world, self.seed = dataset, batch, rank, world, seed
        self.workers, self.device, self.consumed, self.weights = workers, device, consumed, weights
        self.per_epoch = batches_per_epoch(len(dataset), batch, world)
        if self.per_epoch < 1:
            raise DataError(f"{len(dataset)} training image(s) are fewer than one batch of {batch * world}; "
                            "lower --batch-size or add images")
        self._iter: Iterator | None = None

    @property
    def epoch(self) -> int:
        return self.consumed // self.per_epoch

    def _start_epoch(self) -> None:
        sampler = EpochBatches(len(self.dataset), self.batch, rank=self.rank, world=self.world, seed=self.seed,
                               epoch=self.epoch, skip=self.consumed % self.per_epoch, weights=self.weights)
        # The loader gets its own generator: by default it draws a seed from the global RNG
        # whenever an epoch starts, and a resumed run starts one at a different step.
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=False,
                            generator=torch.Generator().manual_seed(self.seed + self.epoch))
        self._iter = iter(loader)

    def next(self) -> dict[str, torch.Tensor]:
        if self._iter is None:
            self._start_epoch()
        try:
            batch = next(self._iter)
        except StopIteration:
            self._start_epoch()
            batch = next(self._iter)
        self.consumed += 1
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}


def fixed_batch(dataset: Dataset, count: int) -> dict[str, torch.Tensor]:
    """The first `count` items of a held-out dataset, stacked: the same inputs every time."""
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


@dataclass(frozen=True)
class Split:
    root: Path
    train: list
    held_out: list

    def record(self) -> dict[str, list[str]]:
        """Relative paths of both sides, written to the run folder's split.json."""
        rel = lambda item: str(Path(item[0] if isinstance(item, tuple) else item).relative_to(self.root))  # noqa: E731
        return {"train": [rel(x) for x in self.train], "held_out": [rel(x) for x in self.held_out]}

    def describe(self) -> str:
        return f"{self.root} ({len(self.train)} training, {len(self.held_out)} held-out)"


def image_split(root: str, holdout: float, seed: int, warn: Callable[[str], None]) -> Split:
    train, held = split_holdout(list_images(root, warn), holdout, seed)
    return Split(Path(root), train, held)
