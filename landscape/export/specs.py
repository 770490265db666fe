"""One export spec per family: the ONNX signature, example inputs, the sizes parity is
checked at, tolerances, and the task-specific metadata."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from landscape.runtime.model_contract import TensorSpec

# (batch, height, width) for image networks; (batch, 0, 0) for latent-input ones.
ParityCase = tuple[int, int, int]


@dataclass(frozen=True)
class ExportSpec:
    inputs: Callable[[Any], tuple[TensorSpec, ...]]
    output: Callable[[Any], TensorSpec]
    examples: Callable[[Any, ParityCase, torch.Generator], tuple[torch.Tensor, ...]]
    parity_cases: Callable[[Any], tuple[ParityCase, ...]]
    native_size: Callable[[Any], tuple[int, int]]
    size_multiple: Callable[[Any], int]
    dynamic_hw: bool
    extra_metadata: Callable[[Any], dict[str, Any]]
    # Outputs span 2 units ([-1, 1]) or 1 ([0, 1]); tolerances are absolute on that scale.
    fp32_atol: float = 2e-3
    fp16_atol: float = 0.08

    def dynamic_axes(self, config: Any) -> dict[str, dict[int, str]]:
        axes: dict[str, dict[int, str]] = {}
        for spec in (*self.inputs(config), self.output(config)):
            axes[spec.name] = {0: "batch"}
            if self.dynamic_hw and len(spec.shape) == 4:
                axes[spec.name].update({2: "height", 3: "width"})
        return axes


def _onehot(config: Any, case: ParityCase, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    n, h, w = case
    labels = torch.randint(0, len(config.classes), (n, h // 8 + 1, w // 8 + 1), generator=gen)
    # Blocky maps, like painted ones, rather than per-pixel noise.
    labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :h, :w]
    return (torch.nn.functional.one_hot(labels, len(config.classes)).permute(0, 3, 1, 2).float(),)


def _image_and_mask(config: Any, case: ParityCase, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    n, h, w = case
    image = torch.rand(n, 3, h, w, generator=gen) * 2 - 1
    mask = torch.zeros(n, 1, h, w)
    mask[:, :, h // 4 : h // 2, w // 3 : (2 * w) // 3] = 1.0
    return image, mask


def _smooth_picture(case: ParityCase, gen: torch.Generator) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] with a picture's smoothness, not per-pixel noise: fed uniform noise,
    far from anything it was trained on, SPAN's output reaches 600 and parity would measure
    only the float rounding of that."""
    n, h, w = case
    coarse = torch.rand(n, 3, h // 4 + 2, w // 4 + 2, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


# Super-resolution networks of any factor: image in [0, 1] -> image_out, `scale` times the size.
_SUPER_RESOLUTION = ExportSpec(
    inputs=lambda c: (TensorSpec("image", ("batch", 3, "height", "width"), (0.0, 1.0)),),
    output=lambda c: TensorSpec("image_out", ("batch", 3, f"{c.scale}*height", f"{c.scale}*width"), (0.0, 1.0)),
    examples=lambda c, case, gen: (_smooth_picture(case, gen),),
    parity_cases=lambda c: ((1, 32, 32), (2, 24, 40)),
    native_size=lambda c: (c.resolution, c.resolution),
    size_multiple=lambda c: 1,
    dynamic_hw=True,
    extra_metadata=lambda c: {"scale": c.scale},
    fp16_atol=0.05,
)

SPECS: dict[str, ExportSpec] = {
    "dcgan": ExportSpec(
        inputs=lambda c: (TensorSpec("z", ("batch", c.latent_dim)),),
        output=lambda c: TensorSpec("image", ("batch", 3, c.resolution, c.resolution), (-1.0, 1.0)),
        examples=lambda c, case, gen: (torch.randn(case[0], c.latent_dim, generator=gen),),
        parity_cases=lambda c: ((1, 0, 0), (3, 0, 0)),
        native_size=lambda c: (c.resolution, c.resolution),
        size_multiple=lambda c: 1,
        dynamic_hw=False,
        extra_metadata=lambda c: {"latent_dim": c.latent_dim, "latent_distribution": "standard_normal"},
    ),
    "pix2pix": ExportSpec(
        inputs=lambda c: (TensorSpec("onehot", ("batch", len(c.classes), "height", "width"), (0.0, 1.0)),),
        output=lambda c: TensorSpec("image", ("batch", 3, "height", "width"), (-1.0, 1.0)),
        examples=_onehot,
        parity_cases=lambda c: ((1, c.size_multiple, c.size_multiple), (2, c.size_multiple, 2 * c.size_multiple)),
        native_size=lambda c: (c.resolution, c.resolution),
        size_multiple=lambda c: c.size_multiple,
        dynamic_hw=True,
        extra_metadata=lambda c: {"classes": list(c.classes), "palette": [list(p) for p in c.palette]},
    ),
    "glcic": ExportSpec(
        inputs=lambda c: (
            TensorSpec("image", ("batch", 3, "height", "width"), (-1.0, 1.0)),
            TensorSpec("mask", ("batch", 1, "height", "width"), (0.0, 1.0)),
        ),
        output=lambda c: TensorSpec("image_out", ("batch", 3, "height", "width"), (-1.0, 1.0)),
        examples=_image_and_mask,
        parity_cases=lambda c: ((1, 64, 64), (2, 48, 80)),
        native_size=lambda c: (c.resolution, c.resolution),
        size_multiple=lambda c: 4,
        dynamic_hw=True,
        extra_metadata=lambda c: {"mask_semantics": "1 = hole"},
    ),
    "segmenter": ExportSpec(
        inputs=lambda c: (TensorSpec("image", ("batch", 3, "height", "width"), (-1.0, 1.0)),),
        output=lambda c: TensorSpec("logits", ("batch", len(c.classes), "height", "width")),
        examples=lambda c, case, gen: (torch.rand(case[0], 3, case[1], case[2], generator=gen) * 2 - 1,),
        parity_cases=lambda c: ((1, c.size_multiple, c.size_multiple), (2, c.size_multiple, 2 * c.size_multiple)),
        native_size=lambda c: (c.resolution, c.resolution),
        size_multiple=lambda c: c.size_multiple,
        dynamic_hw=True,
        extra_metadata=lambda c: {"classes": list(c.classes), "palette": [list(p) for p in c.palette]},
        fp32_atol=1e-2,  # on logits, which span tens of units
        fp16_atol=0.5,
    ),
    "esrgan": _SUPER_RESOLUTION,
    "span": _SUPER_RESOLUTION,
}
