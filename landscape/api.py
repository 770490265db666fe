"""The five tasks as objects: each opens its model once, then runs it on pictures in memory
with the same pipelines the `landscape` commands run (the commands are built on these).

    import landscape
    up = landscape.Upscaler()          # the bundled model, on CUDA when it works, else the CPU
    big = up(image)                    # (H, W[, C]) uint8/uint16 array or PIL image -> array, same dtype and channels
    bigs = up([a, b])                  # a list -> a list

An object is meant for one thread at a time; open one per thread to run in parallel. Errors
are `landscape.LandscapeError`s carrying the command line's one-line messages: UsageError
(an option), ModelError (a model file), ItemError (one picture).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import operator
import os
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Optional, Sequence, Union

import numpy as np

from landscape.imaging.arrays import alpha_hole, check_same_size, hole_of, pixels_of
from landscape.imaging.limits import DEFAULT_MAX_PIXELS
from landscape.errors import ItemError, UsageError
from landscape.pipelines.generate import MAX_SEED

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from landscape.pipelines.tiling import Progress
    from landscape.runtime.sessions import Device, Model, Rescale

    Picture = Union[np.ndarray, PILImage]
else:
    Picture = Any

ModelPath = Union[str, "os.PathLike[str]", None]
Note = Callable[[str], None]
_log = logging.getLogger("landscape")


def _log_note(text: str) -> None:
    _log.info(text)


class _Task:
    """One model, opened once on the device chosen by `device`, `threads`, `backend` and
    `precision` (the command line's options of the same names)."""

    task: ClassVar[str]

    def __init__(self, model: ModelPath = None, *, device: str = "auto", threads: int = 0, backend: str = "auto",
                 precision: str = "auto", max_pixels: int = DEFAULT_MAX_PIXELS, largest_input: Optional[int] = None,
                 note: Optional[Note] = None, placed: Optional["Device"] = None,
                 spelling: Optional[Callable[[str], str]] = None) -> None:
        from landscape.runtime.sessions import choose_device, load_model

        self.note: Note = note or _log_note
        # How an option is named in messages: as the parameter here, as the flag on the command line.
        self.spell: Callable[[str], str] = spelling or str
        self.max_pixels = max_pixels
        self._at_least("max_pixels", max_pixels)
        self._check()
        self.device: Device = placed or choose_device(device, threads, backend, precision)
        self.model: Model = load_model(self.task, model, self.device, largest_input=largest_input, note=self.note)

    @property
    def info(self):
        """The model's metadata (landscape.runtime.model_contract.ModelInfo): task, scale, size, palette..."""
        return self.model.info

    def _check(self) -> None:
        """Refuse bad options (UsageError) before the model is opened."""

    def _pixels(self, picture: Any, what: str = "image") -> tuple[np.ndarray, bool]:
        """A picture handed in, as pixels, refused (ItemError) past max_pixels before it is converted."""
        return pixels_of(picture, what, self.max_pixels, self.spell("max_pixels"))

    def _at_least(self, name: str, value: int, minimum: int = 1) -> None:
        if value < minimum:
            raise UsageError(f"{self.spell(name)} must be >= {minimum}, got {value}")

    def describe(self) -> str:
        """Where and how the model runs, in the words of the command line's device note."""
        return f"{self.model.info.task} {self.model.backend} {self.model.precision}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model.path.name}: {self.device.name}, {self.model.backend}, {self.model.precision})"


def check_placement(device: str = "auto", backend: str = "auto", precision: str = "auto") -> None:
    """UsageError unless each names a known value: the part of a task's placement that does
    not depend on the machine it will run on."""
    from landscape.runtime.sessions import check_placement_names

    check_placement_names(device, backend, precision)


def _each(pictures: Any, one: Callable[[Any], Any]) -> Any:
    """A list (or tuple) of pictures -> a list of results; one picture -> one result."""
    if isinstance(pictures, (list, tuple)):
        return [one(p) for p in pictures]
    return one(pictures)


def _back(pixels: np.ndarray, flat: bool) -> np.ndarray:
    """A result in the layout its picture came in: (H, W) for a 2-D array."""
    return pixels[:, :, 0] if flat and pixels.shape[2] == 1 else pixels


class Upscaler(_Task):
    """Super-resolution by a total factor `scale` from 1 to 16 (None: the model's own, x4 for
    the bundled one): the fewest model passes that reach it, then a resize to round(scale x
    side) where the passes overshoot (area averaging) or fall short (Lanczos). The bundled set
    has an x4 and an x2 model, so `scale=2` runs the x2 one and `scale=8` runs both; a given
    model runs alone, as many passes as the factor needs. Tiled over big pictures; gray stays
    gray, alpha goes through the model on its own, 16-bit stays 16-bit. A picture whose result
    (or a pass's) would pass `max_pixels` is refused before any work."""

    task = "upscale"

    def __init__(self, model: ModelPath = None, *, scale: Union[float, int, str, None] = None, tile: int = 256,
                 tile_pad: int = 16, batch_size: int = 4, **placement: Any) -> None:
        from landscape.pipelines.upscale import TileSettings, plan_passes

        self.tiles = TileSettings(tile=tile, pad=tile_pad, batch=batch_size)
        self._scale_asked = scale
        super().__init__(model, **placement)
        own = self.model.info.scale or 4
        self._paths = {own: self.model.path} if model is not None else self._bundled()
        factor = self.asked if self.asked is not None else own
        # A whole factor is written as one (4, not 4.0) in records and messages.
        self.scale: Union[int, float] = int(factor) if float(factor).is_integer() else factor
        self.plan: tuple[int, ...] = plan_passes(self.scale, list(self._paths))
        opened = {own: self.model}
        for f in self.plan:
            if f not in opened:
                opened[f] = self._open(f)
        self.models: tuple["Model", ...] = tuple(opened[f] for f in self.plan)
        for m in self.models:
            if tile and tile % m.info.size_multiple:
                raise UsageError(f"{self.spell('tile')} {tile} is not a multiple of the model's size multiple "
                                 f"{m.info.size_multiple}")

    def _check(self) -> None:
        from landscape.pipelines.upscale import parse_factor

        self.asked = parse_factor(self._scale_asked, self.spell("scale"))
        self._at_least("tile", self.tiles.tile, 0)
        self._at_least("tile_pad", self.tiles.pad, 0)
        self._at_least("batch_size", self.tiles.batch)

    def _bundled(self) -> dict[int, Any]:
        from landscape.runtime.sessions import bundled_models

        return bundled_models(self.task)

    def _open(self, factor: int) -> "Model":
        from landscape.runtime.sessions import load_model

        return load_model(self.task, self._paths[factor], self.device, note=self.note)

    @property
    def passes(self) -> int:
        return len(self.plan)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        from landscape.pipelines.upscale import target_size

        return target_size(height, width, self.scale)

    def check_size(self, height: int, width: int) -> None:
        """ItemError naming max_pixels when the result, or a pass on the way to it, would pass it."""
        sides = [(height * k, width * k) for k in itertools.accumulate(self.plan, operator.mul)]
        h, w = max(sides + [self.output_size(height, width)], key=lambda s: s[0] * s[1])
        if h * w > self.max_pixels:
            where = "" if (h, w) == self.output_size(height, width) else f" in its x{h // height} pass"
            raise ItemError(f"x{self.scale} of {width}x{height} makes {w}x{h} = {w * h:,} pixels{where}, over the limit "
                            f"of {self.max_pixels:,} (raise it with {self.spell('max_pixels')})")

    def describe(self) -> str:
        if len(set(self.models)) == 1:
            return super().describe()
        return ", ".join(f"upscale x{f} {m.backend} {m.precision}" for f, m in zip(self.plan, self.models))

    def work(self, height: int, width: int, channels: int) -> int:
        """Input pixels the models see for a picture of this size: the unit of a progress bar."""
        from landscape.pipelines.upscale import work

        return work(height, width, channels, self.plan)

    def upscale_pixels(self, pixels: np.ndarray, progress: Optional["Progress"] = None) -> np.ndarray:
        """Decoded pixels (H, W, C) uint8/uint16 -> (round(sH), round(sW), C), same dtype."""
        from landscape.pipelines.upscale import upscale_pixels

        self.check_size(*pixels.shape[:2])
        return upscale_pixels(self.models, pixels, self.tiles, self.output_size(*pixels.shape[:2]), progress)

    def finish(self, rgb: np.ndarray, start: int, height: int, width: int,
               progress: Optional["Progress"] = None) -> np.ndarray:
        """(H', W', 3) float in [0, 1] or uint8 that passes `start` onwards still have to go
        through -> the picture of (height, width)'s result, uint8 unless no pass was left and
        no resize needed."""
        from landscape.pipelines.upscale import resample, upscale_rgb

        for model in self.models[start:]:
            rgb = upscale_rgb(model, rgb, np.uint8, self.tiles, progress)
        return resample(rgb, self.output_size(height, width))

    def upscale_rgb(self, rgb: np.ndarray, progress: Optional["Progress"] = None) -> np.ndarray:
        """(H, W, 3) float in [0, 1] (a generated or translated picture) -> (round(sH), round(sW), 3) uint8."""
        self.check_size(*rgb.shape[:2])
        return self.finish(rgb, 0, *rgb.shape[:2], progress)

    def __call__(self, pictures: Union[Picture, Sequence[Picture]]) -> Union[np.ndarray, list[np.ndarray]]:
        def one(picture: Picture) -> np.ndarray:
            pixels, flat = self._pixels(picture)
            return _back(self.upscale_pixels(pixels), flat)

        return _each(pictures, one)

    def video(self, source: "os.PathLike[str] | str", target: "os.PathLike[str] | str", *, codec: str = "libx264",
              crf: int = 18, preset: Optional[str] = None, audio: bool = True,
              progress: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
        """A clip upscaled frame by frame into `target` (= `landscape upscale CLIP`): each frame's
        timestamp, the audio, subtitles, chapters and metadata kept; resumed where an earlier call
        stopped. `progress(n)` hears the frames as they are made. Returns the output file (the
        same name in .mkv where the container cannot hold `codec`), frames, and frames resumed."""
        return _video(self, source, target, lambda pixels, index: self.upscale_pixels(pixels), codec, crf, preset, audio,
                      progress, {"scale": self.scale, "tiles": [self.tiles.tile, self.tiles.pad]}, self.check_size)


def _video(task: _Task, source: Any, target: Any, transform: Callable[[np.ndarray, int], np.ndarray], codec: str,
           crf: int, preset: Optional[str], audio: bool, progress: Optional[Callable[[int], None]],
           options: dict[str, Any], check_size: Callable[[int, int], None]) -> dict[str, Any]:
    from pathlib import Path

    from landscape.imaging.video import Encoding, process
    from landscape.runtime.sessions import model_sha256

    models = getattr(task, "models", (task.model,))
    job = {"models": [[model_sha256(m.path), m.backend, m.precision] for m in models], **options}
    result = process(Path(source), Path(target), transform, Encoding(codec=codec, crf=crf, preset=preset, audio=audio),
                     job=job, check_size=check_size, progress=progress or (lambda n: None), note=task.note)
    return {"output": result.output, "frames": result.frames, "resumed_from": result.resumed_from}


class Generator(_Task):
    """New landscapes from seeds: picture i depends on its seed alone, whatever the batch.
    With `upscale=True` the upscaler (bundled, or `upscale_model`) runs on the generator's
    pictures in memory; it is opened on first use, on the generator's device."""

    task = "generate"

    def __init__(self, model: ModelPath = None, *, upscale_model: ModelPath = None, upscale_precision: Optional[str] = None,
                 batch_size: int = 8, **placement: Any) -> None:
        self.batch_size = batch_size
        self.upscale_model = upscale_model
        self.upscale_precision = upscale_precision  # None: the generator's `precision`
        self._upscalers: dict[Optional[float], Upscaler] = {}
        super().__init__(model, **placement)

    def _check(self) -> None:
        self._at_least("batch_size", self.batch_size)

    def upscaler(self, scale: Optional[float] = None) -> Upscaler:
        """The upscaler for a total factor `scale` (None: its own), opened once."""
        if scale not in self._upscalers:
            placed = self.device
            if self.upscale_precision is not None:
                from landscape.runtime.sessions import choose_device

                placed = choose_device(self.device.name, self.device.threads, self.device.backend, self.upscale_precision)
            upscaler = Upscaler(self.upscale_model, scale=scale, placed=placed, note=self.note, spelling=self.spell,
                                max_pixels=self.max_pixels)
            try:  # every picture has the generator's size: refused here, before any is made
                upscaler.check_size(*self.model.info.native_size)
            except ItemError as exc:
                raise UsageError(f"{self.spell('scale')} {upscaler.scale}: {exc}") from None
            self._upscalers[scale] = upscaler
        return self._upscalers[scale]

    @functools.cached_property
    def _rescale(self) -> "Rescale":
        """The on-device range change between the two models (CUDA), made once."""
        from landscape.runtime.sessions import Rescale

        return Rescale(self.device)

    def latents(self, seeds: Sequence[int]) -> np.ndarray:
        from landscape.pipelines.generate import latents

        return latents(list(seeds), self.model.info.latent_dim or 0)

    def walk_latents(self, seeds: Sequence[int], frames: int) -> np.ndarray:
        """The latents of a walk through the seeds: `frames` from each seed to the next (spherical
        interpolation), then the last seed's."""
        from landscape.pipelines.generate import walk_latents

        return walk_latents(seeds, frames, self.model.info.latent_dim or 0)

    def render(self, sources: Sequence[Union[int, np.ndarray]], upscaler: Optional[Upscaler] = None,
               progress: Optional["Progress"] = None) -> list[np.ndarray]:
        """One batch: seeds (or latents, for a walk's frames) -> pictures, float32 in [0, 1]
        (H, W, 3) when the generator's one call made them, else uint8. The upscaler's first
        pass runs on the whole batch when the sizes allow it (on a GPU the pictures stay on
        the device between the models); further passes (x16) one picture at a time, tiled."""
        from landscape.pipelines.generate import generate_upscaled, images, upscales_as_is
        from landscape.pipelines.upscale import upscale_unit_batch

        z = np.stack([self.latents([s])[0] if isinstance(s, (int, np.integer)) else s for s in sources])
        if upscaler is None:
            return list(images(self.model, z))
        first = upscaler.models[0]
        batched = upscales_as_is(self.model, first)
        if batched and self.device.name == "cuda":
            out = generate_upscaled(self.model, first, self._rescale, z)
        else:
            out = images(self.model, z)
            if batched:
                out = upscale_unit_batch(first, out)
        side = self.model.info.native_size
        return [upscaler.finish(p, 1 if batched else 0, *side,
                                None if progress is None else lambda px, area=p.shape[0] * p.shape[1]: progress(px / area))
                for p in out]

    def _batches(self, sources: Sequence[Union[int, np.ndarray]], upscale: bool, scale: Optional[float]) -> list[np.ndarray]:
        from landscape.imaging.codec import from_unit

        if scale is not None and not upscale:
            raise UsageError("scale needs upscale=True")
        upscaler = self.upscaler(scale) if upscale else None
        out: list[np.ndarray] = []
        for start in range(0, len(sources), self.batch_size):
            out += [p if p.dtype == np.uint8 else from_unit(p) for p in self.render(sources[start : start + self.batch_size], upscaler)]
        return out

    def __call__(self, seeds: Iterable[int] = (0,), *, upscale: bool = False, scale: Optional[float] = None) -> list[np.ndarray]:
        """Seeds -> (H, W, 3) uint8 pictures, equal to `landscape generate --seeds ...` [--upscale] [--scale]."""
        seeds = [check_seed(s) for s in seeds]
        return self._batches(seeds, upscale, scale)

    def walk(self, seeds: Sequence[int], frames: int = 24, *, upscale: bool = False,
             scale: Optional[float] = None) -> list[np.ndarray]:
        """The frames of a walk through the seeds' latents (`landscape generate --walk`):
        `frames` from each seed to the next, then the last seed's picture."""
        seeds = [check_seed(s) for s in seeds]
        if len(seeds) < 2:
            raise UsageError("a walk needs at least two seeds")
        self._at_least("frames", frames)
        return self._batches(list(self.walk_latents(seeds, frames)), upscale, scale)


def read(path: Union[str, "os.PathLike[str]"], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A picture file as `landscape` reads it: (H, W, C) uint8/uint16, C = 1-4, EXIF orientation
    applied. ItemError says why a file is refused."""
    from landscape.imaging.codec import decode

    try:
        return decode(path, max_pixels=max_pixels).pixels
    except ItemError as exc:
        raise ItemError(f"{path}: {exc}") from None


def write(path: Union[str, "os.PathLike[str]"], picture: Picture, *, quality: int = 95,
          max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Write pixels as the file's extension says (png, jpg, webp, bmp, tif), atomically: a
    reader never sees half a file."""
    from pathlib import Path

    from landscape.imaging.codec import EXTENSION_FORMAT, encode
    from landscape.imaging.outputs import atomic_write

    fmt = EXTENSION_FORMAT.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: the name must end in .png, .jpg, .webp, .bmp or .tif")
    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be in 1..100, got {quality}")
    atomic_write(Path(path), encode(pixels_of(picture, max_pixels=max_pixels)[0], fmt, quality=quality)[0])


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise UsageError(f"seeds must be integers in 0..{MAX_SEED}, got {seed!r}")
    return int(seed)


class Inpainter(_Task):
    """Fill holes; pixels outside them stay as they are. A mask is a bool array (True =
    hole) or a picture whose gray level at or above `threshold` of white marks the holes
    (`invert`: below it). Without a mask, the picture's alpha marks them (transparent = hole)
    and the result is opaque. `dilate` grows each hole by that many pixels, feathered.
    `seamless` (the default) bends each fill to meet the picture at the hole's edge, keeping
    the fill's texture (Poisson blending); False writes the network's fill as it comes."""

    task = "inpaint"

    def __init__(self, model: ModelPath = None, *, dilate: int = 0, threshold: float = 0.5, invert: bool = False,
                 seamless: bool = True, **placement: Any) -> None:
        self.dilate, self.threshold, self.invert, self.seamless = dilate, threshold, invert, seamless
        super().__init__(model, **placement)

    def _check(self) -> None:
        self._at_least("dilate", self.dilate, 0)
        if not 0.0 < self.threshold <= 1.0:
            raise UsageError(f"{self.spell('threshold')} must be in (0, 1], got {self.threshold}")

    def hole(self, mask: Any, pixels: np.ndarray, mask_name: str = "mask") -> np.ndarray:
        """The (H, W) holes a mask marks on these pixels (ItemError when the sizes differ)."""
        hole = hole_of(mask, self.threshold, self.invert, mask_name, self.max_pixels, self.spell("max_pixels"))
        check_same_size(hole, pixels, mask_name)
        return hole

    def alpha_holes(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the colour without its alpha, the holes the alpha marks)."""
        if pixels.shape[2] not in (2, 4):
            raise ItemError(f"no mask: pass {self.spell('masks')}, or give the image an alpha channel")
        hole = alpha_hole(pixels)
        return pixels[:, :, :-1], ~hole if self.invert else hole

    def fill(self, pixels: np.ndarray, hole: np.ndarray) -> Optional[np.ndarray]:
        """Decoded pixels + (H, W) holes -> the filled pixels, or None when there is no hole."""
        from landscape.pipelines.inpaint import inpaint_pixels

        return inpaint_pixels(self.model, pixels, hole, dilate=self.dilate, seamless=self.seamless)

    def __call__(self, pictures: Union[Picture, Sequence[Picture]],
                 masks: Union[Any, Sequence[Any], None] = None) -> Union[np.ndarray, list[np.ndarray]]:
        if isinstance(pictures, (list, tuple)):
            masks = [None] * len(pictures) if masks is None else masks
            if not isinstance(masks, (list, tuple)) or len(masks) != len(pictures):
                raise UsageError("a list of pictures needs a list of as many masks (or none: their alpha)")
            return [self._one(p, m) for p, m in zip(pictures, masks)]
        return self._one(pictures, masks)

    def video(self, source: "os.PathLike[str] | str", target: "os.PathLike[str] | str", mask: Any, *,
              codec: str = "libx264", crf: int = 18, preset: Optional[str] = None, audio: bool = True,
              progress: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
        """A clip's holes filled frame by frame (= `landscape inpaint CLIP --masks MASK`): `mask`
        is one mask for every frame (a picture, an array, or a picture file's path) or the path
        of a mask video with as many frames. Timing, sound, subtitles, chapters and metadata are
        kept; see Upscaler.video."""
        from pathlib import Path

        from landscape.imaging.video import FramesByIndex, is_video

        if isinstance(mask, (str, os.PathLike)) and is_video(Path(mask)):
            mask_for: Callable[[int], Any] = FramesByIndex(Path(mask))
            identity: Any = [str(Path(mask).resolve()), Path(mask).stat().st_mtime_ns]
        else:
            still = read(mask, max_pixels=self.max_pixels) if isinstance(mask, (str, os.PathLike)) else mask
            mask_for = lambda index: still  # noqa: E731
            identity = [str(Path(mask).resolve()), Path(mask).stat().st_mtime_ns] if isinstance(mask, (str, os.PathLike)) \
                else hashlib.sha256(np.ascontiguousarray(np.asarray(still)).tobytes()).hexdigest()

        def fill(pixels: np.ndarray, index: int) -> np.ndarray:
            filled = self.fill(pixels, self.hole(mask_for(index), pixels))
            return pixels if filled is None else filled

        return _video(self, source, target, fill, codec, crf, preset, audio, progress,
                      {"mask": identity, "holes": [self.dilate, self.threshold, self.invert, self.seamless]},
                      lambda h, w: None)

    def _one(self, picture: Picture, mask: Any) -> np.ndarray:
        pixels, flat = self._pixels(picture)
        if mask is None:
            pixels, hole = self.alpha_holes(pixels)
        else:
            hole = self.hole(mask, pixels)
        filled = self.fill(pixels, hole)
        return _back(pixels.copy() if filled is None else filled, flat)


class _Mapped(_Task):
    """A task whose maps use the model's classes and colours."""

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        return self.model.info.palette

    def colourise(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) class indices -> (H, W, 3) uint8 in the model's palette (the one `Translator` reads)."""
        from landscape.pipelines.label import colourise

        return colourise(labels, self.palette)


class Translator(_Mapped):
    """Segmentation maps -> landscape photos of the same size. A map is colour-coded in the
    model's palette (`palette`; colours within `tolerance` snap to it) or holds class indices
    ((H, W) or one channel)."""

    task = "translate"

    def __init__(self, model: ModelPath = None, *, tolerance: float = 24.0, upscale_model: ModelPath = None,
                 **placement: Any) -> None:
        self.tolerance = tolerance
        self.upscale_model = upscale_model
        self._upscaler: Optional[Upscaler] = None
        super().__init__(model, **placement)

    def _check(self) -> None:
        if not 0 <= self.tolerance <= 442:
            raise UsageError(f"{self.spell('tolerance')} must be in 0..442, got {self.tolerance}")

    def upscaler(self) -> Upscaler:
        if self._upscaler is None:
            self._upscaler = Upscaler(self.upscale_model, placed=self.device, note=self.note, spelling=self.spell)
        return self._upscaler

    def labels(self, pixels: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Decoded map -> ((H, W) class indices, notes on snapped colours)."""
        from landscape.pipelines.translate import labels_from_map

        return labels_from_map(pixels, self.palette, self.tolerance)

    def photo(self, labels: np.ndarray, upscaler: Optional[Upscaler] = None,
              progress: Optional["Progress"] = None) -> np.ndarray:
        """(H, W) class indices -> the photo: (H, W, 3) float32 in [0, 1], or uint8 upscaled."""
        from landscape.pipelines.translate import translate

        photo = translate(self.model, labels, progress=progress)
        return photo if upscaler is None else upscaler.upscale_rgb(photo, progress)

    def __call__(self, maps: Union[Picture, Sequence[Picture]], *, upscale: bool = False) -> Union[np.ndarray, list[np.ndarray]]:
        """Maps -> (H, W, 3) uint8 photos (4x with `upscale`), equal to `landscape translate`'s."""
        from landscape.imaging.codec import from_unit

        upscaler = self.upscaler() if upscale else None

        def one(picture: Picture) -> np.ndarray:
            labels, notes = self.labels(self._pixels(picture, "map")[0])
            for text in notes:
                self.note(text)
            photo = self.photo(labels, upscaler)
            return photo if photo.dtype == np.uint8 else from_unit(photo)

        return _each(maps, one)


class Labeller(_Mapped):
    """Photos -> (H, W) uint8 class-index maps of the same size, regions smaller than
    `min_region` percent of the picture merged into their surroundings (0: none)."""

    task = "label"

    def __init__(self, model: ModelPath = None, *, min_region: float = 0.25, **placement: Any) -> None:
        self.min_region = min_region
        super().__init__(model, **placement)

    def _check(self) -> None:
        if not 0 <= self.min_region < 100:
            raise UsageError(f"{self.spell('min_region')} {self.min_region:g}: must be a percentage in [0, 100)")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.model.info.classes

    def raw_labels(self, rgb: np.ndarray, progress: Optional["Progress"] = None) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] (landscape.imaging.codec.rgb_unit of decoded pixels) -> (H, W)
        uint8: each pixel's own class, before merging."""
        from landscape.pipelines.label import label

        return label(self.model, rgb, progress=progress)

    def merge(self, labels: np.ndarray) -> np.ndarray:
        from landscape.pipelines.label import merge_small_regions

        return merge_small_regions(labels, round(labels.size * self.min_region / 100))

    def __call__(self, photos: Union[Picture, Sequence[Picture]]) -> Union[np.ndarray, list[np.ndarray]]:
        """Photos -> maps, equal to `landscape label --index`'s."""
        from landscape.imaging.codec import rgb_unit

        return _each(photos, lambda picture: self.merge(self.raw_labels(rgb_unit(self._pixels(picture, "photo")[0]))))
