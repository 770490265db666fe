"""`landscape export`: a checkpoint of ours, or published weights, -> verified ONNX (needs the
`train` extras)."""
import sys
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options
from landscape.errors import LandscapeError, UsageError

INSTALL_HINT = "landscape export needs PyTorch, onnx and spandrel: pip install 'landscape[train]'"
TASKS = ("upscale", "inpaint")


@options.spec
class ExportOptions:
    weights: Annotated[Path, typer.Argument(help="A landscape checkpoint (.safetensors with its config), or published "
                                            "weights: .pth/.pt/.ckpt/.bin state dicts (BasicSR wrappers included) or "
                                            ".safetensors of a super-resolution or inpainting network, or a SPAN model "
                                            "in ncnn's form (.param, with its .bin beside it).", show_default=False)]
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the .onnx file.", show_default=False)]
    task: Annotated[Optional[str], typer.Option("--task", help="For published weights: the task they must be for "
                                                "(upscale or inpaint); a mismatch is an error.", show_default=False)] = None
    fp16: Annotated[bool, typer.Option("--fp16", help="Write fp16 weights (float32 inputs/outputs), checked against fp32.")] = False
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version (the torch.export route uses at least 18).")] = 17


@options.command(ExportOptions)
def export(opts: ExportOptions) -> int:
    """Export to ONNX, verified against PyTorch at two sizes, with the metadata the commands read.

    Example: landscape export RealESRGAN_x4plus.pth -o realesrgan.onnx --fp16
    """
    if opts.task is not None and opts.task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, got {opts.task!r}")
    try:
        from landscape.export.exporter import export_checkpoint
        from landscape.export.imported import export_published, is_published_weights
    except ImportError as exc:
        raise LandscapeError(f"{INSTALL_HINT} ({exc})") from None
    if opts.weights.suffix.lower() == ".param":
        if opts.task not in (None, "upscale"):
            raise UsageError(f"{opts.weights}: an ncnn SPAN model upscales; --task {opts.task} does not fit it")
        from landscape.export.ncnn_span import export_ncnn_span

        report = export_ncnn_span(opts.weights, opts.output, fp16=opts.fp16, opset=opts.opset)
    elif is_published_weights(opts.weights):
        report = export_published(opts.weights, opts.output, task=opts.task, fp16=opts.fp16, opset=opts.opset)
    else:
        if opts.task is not None:
            raise UsageError("--task is for published weights; a landscape checkpoint names its own task")
        report = export_checkpoint(opts.weights, opts.output, fp16=opts.fp16, opset=opts.opset)
    print(report.summary(), file=sys.stderr, flush=True)
    print(report.path, flush=True)
    return 0
