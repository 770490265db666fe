"""LaMa's Fourier units without FFT operators: the same 2-D real FFT and its inverse, written as
products with cosine and sine matrices built from the feature map's size in the graph.

Why: the torch.export route writes ONNX DFT operators, which ONNX Runtime runs but OpenVINO
2026.4 cannot convert with dynamic height and width (a Transpose of unknown rank), and the CPU
path we ship runs on OpenVINO. A DFT as two matrix products per axis is exact arithmetic (the
angles are reduced modulo the length in integers before the cosine, so large indices lose no
precision); it costs O(N) more than an FFT per axis, which at LaMa's 1/8-resolution features
(64 for a 512 window) is small beside its convolutions (measured in
`python -m benchmarks.lama_cpu`). Any TorchScript-era exporter and any runtime with MatMul, Cos
and Sin runs it.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _angles(rows: torch.Tensor, cols: torch.Tensor, length: int | torch.Tensor) -> torch.Tensor:
    """2*pi*(r*c mod length)/length for every pair: the reduction is in integers."""
    turns = torch.remainder(rows[:, None] * cols[None, :], length)
    return turns.to(torch.float32) * (2 * math.pi) / length


class MatmulFourierUnit(nn.Module):
    """FourierUnit.forward (rfft2 with norm="ortho" -> 1x1 conv, batch norm, ReLU on the real and
    imaginary parts as interleaved channels -> irfft2) for the configuration every published
    LaMa uses: no spectral position encoding, no squeeze-excitation, 2-D, no resampling."""

    def __init__(self, unit: nn.Module) -> None:
        super().__init__()
        self.conv_layer, self.bn, self.relu = unit.conv_layer, unit.bn, unit.relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        x = x.float()
        h = torch.arange(height, device=x.device)
        w = torch.arange(width, device=x.device)
        bins = torch.arange(width // 2 + 1, device=x.device)
        cos_h, sin_h = torch.cos(_angles(h, h, height)), torch.sin(_angles(h, h, height))  # symmetric
        along_w = _angles(w, bins, width)  # (W, W/2+1)
        cos_w, sin_w = torch.cos(along_w), torch.sin(along_w)
        scale = torch.rsqrt(torch.tensor(height * width, dtype=torch.float32, device=x.device))

        # Forward: along the width to half the spectrum, then along the height (complex).
        a, b = x @ cos_w, x @ sin_w  # the spectrum along W is a - ib
        real = (cos_h @ a - sin_h @ b) * scale
        imag = -(cos_h @ b + sin_h @ a) * scale
        spectrum = torch.stack((real, imag), dim=2).reshape(batch, 2 * channels, height, width // 2 + 1)

        f = self.relu(self.bn(self.conv_layer(spectrum))).float()
        f = f.reshape(batch, -1, 2, height, width // 2 + 1)
        f_real, f_imag = f[:, :, 0], f[:, :, 1]

        # Inverse: along the height (complex), then back to W real samples; the bins between DC
        # and Nyquist stand for their mirrored twins too, so they count twice.
        u_real = cos_h @ f_real - sin_h @ f_imag
        u_imag = cos_h @ f_imag + sin_h @ f_real
        twice = torch.where((bins == 0) | (2 * bins == width), 1.0, 2.0).to(x.dtype)
        back_cos = (cos_w * twice).transpose(0, 1)  # (W/2+1, W)
        back_sin = (sin_w * twice).transpose(0, 1)
        return (u_real @ back_cos - u_imag @ back_sin) * scale


def supported(unit: nn.Module) -> bool:
    return (not unit.spectral_pos_encoding and not unit.use_se and not unit.ffc3d
            and unit.spatial_scale_factor is None and unit.fft_norm == "ortho" and unit.conv_layer.groups == 1)


def without_fft(net: nn.Module) -> int:
    """Replace every Fourier unit of a LaMa network in place; the number replaced. A unit in
    a configuration the rewrite does not cover is left as it is (its FFT then needs the DFT
    route, which the caller's parity check will tell)."""
    replaced = 0
    for name, module in list(net.named_modules()):
        if type(module).__name__ == "FourierUnit" and supported(module):
            parent = net.get_submodule(name.rsplit(".", 1)[0]) if "." in name else net
            setattr(parent, name.rsplit(".", 1)[-1], MatmulFourierUnit(module))
            replaced += 1
    return replaced
