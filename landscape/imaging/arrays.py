"""What the Python API takes as a picture, as the decoded pixels the pipelines work on.

A picture is an (H, W) or (H, W, C) array of uint8 or uint16 (C = 1 gray, 2 gray + alpha,
3 RGB, 4 RGBA), or a PIL image. A PIL image is read the way `landscape` reads a file: its
EXIF orientation applied, palettes and CMYK made RGB(A), a colour key made alpha. Its size is
checked against the pixel limit before anything is converted or allocated.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from landscape.errors import ItemError
from landscape.imaging.limits import DEFAULT_MAX_PIXELS, check_pixels


def is_pil(value: Any) -> bool:
    # Without importing Pillow: a caller who never passes a PIL image does not pay for it.
    return any(cls.__module__.startswith("PIL.") and cls.__name__ == "Image" for cls in type(value).__mro__)


def _within(width: int, height: int, what: str, max_pixels: int, option: str) -> None:
    try:
        check_pixels(width, height, max_pixels, option)
    except ItemError as exc:
        raise ItemError(f"{what}: {exc}") from None


def pixels_of(picture: Any, what: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
              option: str = "max_pixels") -> tuple[np.ndarray, bool]:
    """(H, W, C) pixels, and whether the picture came as a 2-D array (its result goes back 2-D).
    A picture that is neither a usable array nor a PIL image, or has more than `max_pixels`
    (raised by `option`), raises ItemError naming `what`."""
    if is_pil(picture):
        _within(*picture.size, what, max_pixels, option)
        from landscape.imaging.codec import exif_orientation, orient, pillow_pixels

        notes: list[str] = []
        try:
            pixels = pillow_pixels(picture, notes)
        except ItemError as exc:
            raise ItemError(f"{what}: {exc}") from None
        return orient(pixels, exif_orientation(picture)), False
    if not isinstance(picture, np.ndarray):
        raise ItemError(f"{what}: expected a numpy array or a PIL image, got {type(picture).__name__}")
    if picture.dtype not in (np.uint8, np.uint16):
        raise ItemError(f"{what}: pixels must be uint8 or uint16, got {picture.dtype}")
    if picture.ndim == 2:
        _within(picture.shape[1], picture.shape[0], what, max_pixels, option)
        return picture[:, :, None], True
    if picture.ndim != 3 or picture.shape[2] not in (1, 2, 3, 4):
        raise ItemError(f"{what}: expected an (H, W) or (H, W, C) array with C in 1-4, got shape {picture.shape}")
    if picture.shape[0] == 0 or picture.shape[1] == 0:
        raise ItemError(f"{what}: the picture is empty ({picture.shape[1]}x{picture.shape[0]})")
    _within(picture.shape[1], picture.shape[0], what, max_pixels, option)
    return picture, False


def hole_of(mask: Any, threshold: float = 0.5, invert: bool = False, what: str = "mask",
            max_pixels: int = DEFAULT_MAX_PIXELS, option: str = "max_pixels") -> np.ndarray:
    """(H, W) bool, True = hole: a bool array as it is; pixels (or a PIL image) where their
    gray level, with transparent pixels read as black, is at least `threshold` of white."""
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        if mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[:, :, 0]
        if mask.ndim != 2:
            raise ItemError(f"{what}: a bool mask must be (H, W), got shape {mask.shape}")
        _within(mask.shape[1], mask.shape[0], what, max_pixels, option)
        hole = mask
    else:
        from landscape.imaging.codec import gray_unit

        hole = gray_unit(pixels_of(mask, what, max_pixels, option)[0]) >= threshold
    return ~hole if invert else hole


def alpha_hole(pixels: np.ndarray) -> np.ndarray:
    """The holes an alpha channel marks: its transparent half."""
    return pixels[:, :, -1] < (128 if pixels.dtype == np.uint8 else 32768)


def check_same_size(mask: np.ndarray, pixels: np.ndarray, mask_name: str = "mask") -> None:
    if mask.shape[:2] != pixels.shape[:2]:
        raise ItemError(f"{mask_name} is {mask.shape[1]}x{mask.shape[0]} but the image is "
                        f"{pixels.shape[1]}x{pixels.shape[0]} (after EXIF orientation); masks are never resized")
