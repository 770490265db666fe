"""Photos paired with segmentation maps by file stem, which both the translator (pix2pix: map ->
photo) and the labeller (segmenter: photo -> map) train on: the options, the pairing and its
held-out split, and the crops taken from both alike (in a data loader, or on the device)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.trainers import device_data as dd
from landscape.trainers.data import (DataError, Split, apply_crop, center_crop, list_images, random_square_crop, read_rgb,
                                     sample_rng, split_holdout, split_key, to_tensor)
from landscape.trainers.maps import IGNORE, PRESETS, load_table, onehot, read_labels
from landscape.trainers.options import opt
from landscape.trainers.palette import LANDSCAPE_CLASSES
from landscape.trainers.run import BaseConfig


@dataclass(frozen=True)
class PairedConfig(BaseConfig):
    """The options of every trainer on photos paired with segmentation maps by file stem."""

    maps: str = opt("", "folder of maps matched to the photos in --data by file stem")
    class_map: str = opt("stanford", f"how index maps' classes become landscape classes: {', '.join(PRESETS)} or a JSON file "
                         "{\"index\": \"class\"}; colour maps use the landscape palette")
    holdout_list: str = opt("", "file of stems (one per line) to hold out instead of a random --holdout share, e.g. an official val split")
    resolution: int = opt(256, "training crop size (a multiple of 2**num_downs)")
    min_scale: float = opt(0.5, "smallest crop, as a share of the largest square that fits")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.maps:
            raise ValueError("--maps is required: the folder of segmentation maps paired with --data")
        load_table(self.class_map)
        if not 0 < self.min_scale <= 1:
            raise ValueError("--min-scale must be in (0, 1]")
        if self.holdout_list and not Path(self.holdout_list).is_file():
            raise ValueError(f"--holdout-list {self.holdout_list}: no such file")


class PairedCrops(torch.utils.data.Dataset):
    """(photo, map) pairs cropped and flipped together: the photo resampled with area
    filtering, the map with nearest neighbour so classes never blend."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: int, seed: int, lut: np.ndarray, *, train: bool,
                 min_scale: float) -> None:
        self.pairs, self.size, self.seed, self.lut, self.train, self.min_scale = pairs, size, seed, lut, train, min_scale

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        epoch, index = split_key(key)
        photo_path, map_path = self.pairs[index]
        photo, labels = read_rgb(photo_path), read_labels(map_path, self.lut)
        if photo.shape[:2] != labels.shape:
            raise DataError(f"{map_path}: map is {labels.shape[1]}x{labels.shape[0]}, photo {photo.shape[1]}x{photo.shape[0]}")
        h, w = labels.shape
        rng = sample_rng(self.seed, epoch, index)
        crop = random_square_crop(h, w, rng, self.min_scale) if self.train else center_crop(h, w)
        labels = apply_crop(labels.astype(np.uint8), crop, self.size, nearest=True)
        return {"photo": to_tensor(apply_crop(photo, crop, self.size)),
                "onehot": torch.from_numpy(onehot(labels, len(LANDSCAPE_CLASSES))),
                "labels": torch.from_numpy(labels.astype(np.int64))}


def device_paired_crops(crops: PairedCrops, device: torch.device, jitter: float = 0.0):
    """PairedCrops on the device: photo and map cropped and flipped together, the photo area-
    filtered, the map by nearest neighbour; the photo optionally colour-jittered."""
    photos = dd.DeviceImages([read_rgb(p) for p, _ in crops.pairs], device)
    maps = dd.DeviceImages([read_labels(m, crops.lut).astype(np.uint8) for _, m in crops.pairs], device, fill=IGNORE)
    size, classes = crops.size, len(LANDSCAPE_CLASSES)

    def make(index: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        boxes = dd.square_boxes(photos.sizes[index], crops.min_scale, gen)
        flips = dd.random_flips(len(index), gen)
        photo = dd.colour_jitter(dd.flip(dd.crop_resize(photos, index, boxes, size), flips) / 127.5 - 1, jitter, gen)
        labels = dd.flip(dd.crop_nearest(maps, index, boxes, size), flips)[:, 0].long()
        return {"photo": photo, "onehot": dd.onehot(labels, classes), "labels": labels}

    return make


def pair_folders(c: PairedConfig, warn) -> Split:
    photos = list_images(c.data, warn)
    maps: dict[str, Path] = {}
    for path in list_images(c.maps, warn):
        if path.stem in maps:
            raise DataError(f"{path}: two maps share the stem {path.stem!r} ({maps[path.stem]})")
        maps[path.stem] = path
    pairs = [(p, maps[p.stem]) for p in photos if p.stem in maps]
    unpaired = [p for p in photos if p.stem not in maps]
    if unpaired:
        warn(f"{len(unpaired)} photo(s) have no map in {c.maps} and are left out (first: {unpaired[0]})")
    if not pairs:
        raise DataError(f"no photo in {c.data} has a map with the same stem in {c.maps}")
    if c.holdout_list:
        stems = {line.strip() for line in Path(c.holdout_list).read_text().splitlines() if line.strip()}
        held = [x for x in pairs if x[0].stem in stems]
        train = [x for x in pairs if x[0].stem not in stems]
        if not held or not train:
            raise DataError(f"--holdout-list {c.holdout_list} leaves {len(train)} training and {len(held)} held-out pairs")
    else:
        train, held = split_holdout(pairs, c.holdout, c.seed)
    return Split(Path(c.data), train, held)
