"""`landscape export`: checkpoint -> verified ONNX (needs the `train` extras)."""
import sys
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape_cli.commands import common
from landscape_cli.errors import LandscapeError

INSTALL_HINT = "landscape export needs PyTorch and onnx: pip install 'landscape[train]'"


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A landscape checkpoint (.safetensors with its config).", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the .onnx file.", show_default=False)],
    fp16: Annotated[bool, typer.Option("--fp16", help="Write fp16 weights (float32 inputs/outputs), checked against fp32.")] = False,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
) -> None:
    """Export a checkpoint to ONNX, verified against PyTorch at two sizes, with metadata.

    Example: landscape export runs/sr/last.safetensors -o upscale.onnx --fp16
    """
    common.execute(lambda: _export(checkpoint, output, fp16, opset))


def _export(checkpoint, output, fp16, opset) -> int:
    try:
        from export.exporter import export_checkpoint
    except ImportError as exc:
        raise LandscapeError(f"{INSTALL_HINT} ({exc})") from None
    report = export_checkpoint(checkpoint, output, fp16=fp16, opset=opset)
    print(report.summary(), file=sys.stderr, flush=True)
    print(report.path, flush=True)
    return 0
