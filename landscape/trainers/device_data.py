"""Training data held on the training device: every image decoded once into one uint8 tensor
there, then cropped, flipped, jittered, degraded and masked there, a whole batch per call.

On a GPU the CPU workers of `landscape.trainers.data` cannot keep up: five trainers sharing a card at
thousands of images per second would need every core for JPEG decoding alone. Here the only
per-step work is on the card. The batch order is the CPU path's (`EpochBatches`, weights
included); the random draws of a batch come from a generator seeded with (seed, rank, batch
number), so a resumed run makes the same batches.

The primitives take and return (B, C, H, W) tensors; each family's trainer puts them
together in its `device_batch` function (crop sizes, masks, degradations).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from landscape.trainers.data import EpochBatches, batches_per_epoch
from landscape.trainers.degrade import Degradation
from landscape.trainers.maps import IGNORE


class DeviceImages:
    """Images of different sizes in one zero-padded uint8 tensor (N, Hmax, Wmax, C) on the
    device, with each image's (h, w)."""

    def __init__(self, arrays: list[np.ndarray], device: torch.device, fill: int = 0) -> None:
        arrays = [a if a.ndim == 3 else a[:, :, None] for a in arrays]
        h, w = max(a.shape[0] for a in arrays), max(a.shape[1] for a in arrays)
        packed = np.full((len(arrays), h, w, arrays[0].shape[2]), fill, np.uint8)
        for i, a in enumerate(arrays):
            packed[i, : a.shape[0], : a.shape[1]] = a
        self.pixels = torch.from_numpy(packed).to(device)
        self.sizes = torch.tensor([a.shape[:2] for a in arrays], dtype=torch.long, device=device)

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def nbytes(self) -> int:
        return self.pixels.numel()


def uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=gen.device)


def square_boxes(sizes: torch.Tensor, min_scale: float, gen: torch.Generator, *, train: bool = True) -> torch.Tensor:
    """(B, 3) float (y, x, side): a square of min_scale..1 of the area of the largest square
    that fits, anywhere in the image; `train=False` gives the centred largest square."""
    h, w = sizes[:, 0].float(), sizes[:, 1].float()
    short = torch.minimum(h, w)
    if not train:
        return torch.stack([((h - short) / 2).floor(), ((w - short) / 2).floor(), short], 1)
    side = (short * uniform(len(sizes), min_scale, 1.0, gen).sqrt()).round().clamp(min=1)
    y = ((h - side + 1) * torch.rand(len(sizes), generator=gen, device=gen.device)).floor()
    x = ((w - side + 1) * torch.rand(len(sizes), generator=gen, device=gen.device)).floor()
    return torch.stack([y, x, side], 1)


def crop_resize(images: DeviceImages, index: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, size, size) float in 0..255: each box resampled to size x size, averaging
    several samples per output pixel when it shrinks (an area filter, as the CPU path's
    INTER_AREA) and bilinear when it grows."""
    from torchvision.ops import roi_align

    source = images.pixels[index].permute(0, 3, 1, 2).float()
    y, x, side = boxes.unbind(1)
    rois = torch.stack([torch.arange(len(index), device=source.device, dtype=source.dtype), x, y, x + side, y + side], 1)
    ratio = max(1, math.ceil(float(side.max()) / size))
    return roi_align(source, rois, (size, size), spatial_scale=1.0, sampling_ratio=ratio, aligned=True)


def crop_nearest(images: DeviceImages, index: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, size, size) uint8: the same boxes by nearest neighbour (class maps never blend)."""
    y, x, side = boxes.unbind(1)
    steps = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size
    rows = (y[:, None] + steps[None] * side[:, None]).floor().long()
    cols = (x[:, None] + steps[None] * side[:, None]).floor().long()
    picked = images.pixels[index[:, None, None], rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2)


def crop_fixed(images: DeviceImages, index: torch.Tensor, size: int, gen: torch.Generator, *,
               train: bool = True) -> torch.Tensor:
    """(B, C, size, size) uint8 crops at native resolution (no resampling), anywhere in each
    image, or centred when `train=False`. Every image must be at least size x size."""
    h, w = images.sizes[index, 0], images.sizes[index, 1]
    if train:
        y = ((h - size + 1) * torch.rand(len(index), generator=gen, device=gen.device)).floor().long()
        x = ((w - size + 1) * torch.rand(len(index), generator=gen, device=gen.device)).floor().long()
    else:
        y, x = (h - size) // 2, (w - size) // 2
    offsets = torch.arange(size, device=h.device)
    picked = images.pixels[index[:, None, None], (y[:, None] + offsets)[:, :, None], (x[:, None] + offsets)[:, None, :]]
    return picked.permute(0, 3, 1, 2)


def random_flips(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=gen.device) < 0.5


def flip(batch: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    return torch.where(flips[:, None, None, None], batch.flip(-1), batch)


def colour_jitter(photos: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """photos (B, 3, H, W) in [-1, 1]; per image, brightness, contrast and saturation factors
    in 1 +- strength (landscape.trainers.segmenter.colour_jitter, batched)."""
    if strength == 0:
        return photos
    b, c, s = (uniform(len(photos), 1 - strength, 1 + strength, gen)[:, None, None, None] for _ in range(3))
    x = (photos + 1) / 2 * b
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    gray = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = (x - gray) * s + gray
    return x.clamp(0, 1) * 2 - 1


def onehot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """labels (B, H, W) int -> (B, classes, H, W) float; ignored pixels are all-zero."""
    known = labels != IGNORE
    out = F.one_hot(torch.where(known, labels, 0).long(), classes).permute(0, 3, 1, 2).float()
    return out * known[:, None]


# -- super-resolution degradations ------------------------------------------------------------

def gaussian_blur(batch: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per image (0 leaves the image as it is)."""
    n, c, h, w = batch.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    t = torch.arange(-radius, radius + 1, device=batch.device, dtype=batch.dtype)
    kernel = torch.exp(-(t[None] ** 2) / (2 * sigma.clamp(min=1e-6)[:, None] ** 2))
    kernel = torch.where(sigma[:, None] > 0, kernel, (t[None] == 0).to(batch.dtype))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)
    x = F.pad(batch.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel[:, None, :, None], groups=n * c)
    x = F.conv2d(x, kernel[:, None, None, :], groups=n * c)
    return x.reshape(n, c, h, w)


def degrade(hr_u8: torch.Tensor, d: Degradation, gen: torch.Generator, scale: int = 4) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, H/scale, W/scale) uint8: optional blur, antialiased bicubic
    downscaling (Pillow's filter, as landscape.trainers.degrade), optional noise and JPEG, per image."""
    n = len(hr_u8)
    x = hr_u8.float()
    blur = torch.rand(n, generator=gen, device=gen.device) < d.blur_prob
    if bool(blur.any()):
        x = gaussian_blur(x, torch.where(blur, uniform(n, *d.blur_sigma, gen), torch.zeros(n, device=x.device)))
    lr = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    lr = lr.round().clamp(0, 255)
    noisy = torch.rand(n, generator=gen, device=gen.device) < d.noise_prob
    if bool(noisy.any()):
        sigma = torch.where(noisy, uniform(n, *d.noise_sigma, gen), torch.zeros(n, device=x.device))
        noise = torch.randn(lr.shape, generator=gen, device=gen.device) * sigma[:, None, None, None]
        lr = (lr + noise).round().clamp(0, 255)
    lr = lr.to(torch.uint8)
    jpeg = torch.rand(n, generator=gen, device=gen.device) < d.jpeg_prob
    if bool(jpeg.any()):
        from torchvision.io import decode_jpeg, encode_jpeg

        qualities = torch.randint(d.jpeg_quality[0], d.jpeg_quality[1] + 1, (n,), generator=gen, device=gen.device)
        for i in torch.nonzero(jpeg).flatten().tolist():
            # nvJPEG on CUDA tensors, libjpeg on the CPU: the round trip stays on the device.
            data = encode_jpeg(lr[i], quality=int(qualities[i]))
            lr[i] = decode_jpeg(data, device=lr.device) if lr.is_cuda else decode_jpeg(data)
    return lr


# -- inpainting holes -----------------------------------------------------------------------

MAX_SHAPES = 64  # shapes per mask at most; the area target is reached long before


def _segment_distance(ys: torch.Tensor, xs: torch.Tensor, a: tuple[torch.Tensor, torch.Tensor],
                      b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """(B, H, W) distance of each pixel to the segment a -> b of its image."""
    ay, ax = (v[:, None, None] for v in a)
    dy, dx = b[0][:, None, None] - ay, b[1][:, None, None] - ax
    t = (((ys - ay) * dy + (xs - ax) * dx) / (dy * dy + dx * dx).clamp(min=1e-6)).clamp(0, 1)
    return torch.hypot(ys - (ay + t * dy), xs - (ax + t * dx))


def _strokes(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Brush strokes as landscape.trainers.masks draws them: 4-11 segments that wander, round joints."""
    ys = torch.arange(h, device=gen.device, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, device=gen.device, dtype=torch.float32)[None, None, :]
    y, x = uniform(n, 0, h, gen), uniform(n, 0, w, gen)
    width = (uniform(n, 0.03, 0.1, gen) * min(h, w)).floor() + 1
    angle = uniform(n, 0, 2 * math.pi, gen)
    segments = torch.randint(4, 12, (n,), generator=gen, device=gen.device)
    out = torch.zeros(n, h, w, dtype=torch.bool, device=gen.device)
    for j in range(11):
        angle = angle + uniform(n, -1.0, 1.0, gen)
        length = uniform(n, 0.05, 0.25, gen) * max(h, w)
        ny, nx = (y + length * torch.sin(angle)).clamp(0, h - 1), (x + length * torch.cos(angle)).clamp(0, w - 1)
        on = j < segments
        out |= (_segment_distance(ys, xs, (y, x), (ny, nx)) <= width[:, None, None] / 2) & on[:, None, None]
        y, x = torch.where(on, ny, y), torch.where(on, nx, x)
    return out


def _rectangles(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    rh, rw = (uniform(n, 0.1, 0.5, gen) * h).floor() + 1, (uniform(n, 0.1, 0.5, gen) * w).floor() + 1
    y = ((h - rh + 1) * torch.rand(n, generator=gen, device=gen.device)).floor()
    x = ((w - rw + 1) * torch.rand(n, generator=gen, device=gen.device)).floor()
    ys = torch.arange(h, device=gen.device)[None, :, None]
    xs = torch.arange(w, device=gen.device)[None, None, :]
    return ((ys >= y[:, None, None]) & (ys < (y + rh)[:, None, None]) & (xs >= x[:, None, None]) & (xs < (x + rw)[:, None, None]))


def random_masks(n: int, h: int, w: int, gen: torch.Generator, *, area: tuple[float, float], kind: str) -> torch.Tensor:
    """(n, 1, h, w) float, 1 = hole: shapes are added to each mask until it covers a share
    drawn from `area` (landscape.trainers.masks.random_mask, batched)."""
    target = uniform(n, *area, gen)
    mask = torch.zeros(n, h, w, dtype=torch.bool, device=gen.device)
    for _ in range(MAX_SHAPES):
        open_ = mask.float().mean((1, 2)) < target
        if not bool(open_.any()):
            break
        stroke = torch.rand(n, generator=gen, device=gen.device) < (1.0 if kind == "strokes" else 0.0 if kind == "rectangles" else 0.5)
        shape = torch.where(stroke[:, None, None], _strokes(n, h, w, gen), _rectangles(n, h, w, gen))
        mask |= shape & open_[:, None, None]
    return mask[:, None].float()


def hole_boxes(mask: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 2) long: the top-left corner of the size x size window centred on each hole's
    bounding box, inside the image (landscape.trainers.masks.hole_box, batched)."""
    hole = mask[:, 0] > 0
    h, w = hole.shape[1:]

    def centre(lines: torch.Tensor, extent: int) -> torch.Tensor:
        first = lines.float().argmax(1)
        last = extent - 1 - lines.flip(1).float().argmax(1)
        middle = torch.where(lines.any(1), (first + last) // 2, torch.full_like(first, extent // 2))
        return (middle - size // 2).clamp(0, extent - size)

    return torch.stack([centre(hole.any(2), h), centre(hole.any(1), w)], 1)


# -- the stream -----------------------------------------------------------------------------

class DeviceStream:
    """`BatchStream`'s order and resume rule, with each batch made on the device by `make`
    (indices of this rank's batch, a generator seeded for this batch) -> dict of tensors."""

    def __init__(self, n: int, batch: int, make: Callable[[torch.Tensor, torch.Generator], dict[str, torch.Tensor]], *,
                 rank: int, world: int, seed: int, device: torch.device, consumed: int = 0,
                 weights: torch.Tensor | None = None) -> None:
        from landscape.trainers.data import DataError

        self.n, self.batch, self.make, self.rank, self.world, self.seed = n, batch, make, rank, world, seed
        self.device, self.consumed, self.weights = device, consumed, weights
        self.per_epoch = batches_per_epoch(n, batch, world)
        if self.per_epoch < 1:
            raise DataError(f"{n} training image(s) are fewer than one batch of {batch * world}; lower --batch-size or add images")
        self._epoch, self._batches = -1, []

    def next(self) -> dict[str, torch.Tensor]:
        epoch, position = divmod(self.consumed, self.per_epoch)
        if epoch != self._epoch:
            self._batches = EpochBatches(self.n, self.batch, rank=self.rank, world=self.world, seed=self.seed,
                                         epoch=epoch, weights=self.weights).batches
            self._epoch = epoch
        index = torch.tensor([i for _, i in self._batches[position]], device=self.device)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(np.random.SeedSequence([self.seed, self.rank, self.consumed]).generate_state(1, np.uint64)[0]))
        self.consumed += 1
        return self.make(index, gen)
