"""On-the-fly x4 degradation for super-resolution training: bicubic downscaling, with
optional blur, noise and JPEG in the manner of Real-ESRGAN, each drawn per sample."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Degradation:
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.2, 2.0)
    noise_prob: float = 0.0
    noise_sigma: tuple[float, float] = (1.0, 15.0)  # in 8-bit levels
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (40, 95)


def bicubic_down(img_hwc_u8: np.ndarray, scale: int = 4) -> np.ndarray:
    """Antialiased bicubic (Pillow), close to MATLAB's imresize that SR benchmarks use."""
    h, w = img_hwc_u8.shape[:2]
    return np.array(Image.fromarray(img_hwc_u8).resize((w // scale, h // scale), Image.BICUBIC))


def degrade(hr_hwc_u8: np.ndarray, d: Degradation, rng: np.random.Generator, scale: int = 4) -> np.ndarray:
    img = hr_hwc_u8
    if rng.random() < d.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*d.blur_sigma)))
    lr = bicubic_down(img, scale)
    if rng.random() < d.noise_prob:
        noisy = lr.astype(np.float32) + rng.normal(0.0, rng.uniform(*d.noise_sigma), lr.shape)
        lr = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if rng.random() < d.jpeg_prob:
        quality = int(rng.integers(d.jpeg_quality[0], d.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", lr[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        lr = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(lr)
