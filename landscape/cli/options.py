"""The options the commands share, declared once (typed aliases, and groups of options that
travel together), and how a command's options object becomes its Typer command: each command
declares one options class whose annotated attributes are its options (help, flags and
defaults in their annotations; a group's options where the group is named), in the order
--help lists them, and a body that takes that object.

Heavy modules (numpy, onnxruntime) are imported inside functions so that `--help` stays fast.
"""
import dataclasses
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typing_extensions import Annotated, dataclass_transform

from landscape.errors import UsageError
from landscape.imaging.limits import DEFAULT_MAX_PIXELS

FORMATS = ("keep", "png", "jpg", "webp", "bmp", "tif")

Inputs = Annotated[list[str], typer.Argument(help="Image files, folders, globs, or - to read paths from stdin.", show_default=False)]
Recursive = Annotated[bool, typer.Option("-r", "--recursive", help="Descend into sub-folders of folder inputs.")]
Null = Annotated[bool, typer.Option("-0", "--null", help="Paths on stdin and stdout are NUL-separated (names with newlines).")]
ModelPath = Annotated[Optional[Path], typer.Option("--model", help="ONNX model to use instead of the bundled default.", show_default=False)]
UpscaleModel = Annotated[Optional[Path], typer.Option("--upscale-model", help="Super-resolution ONNX model for --upscale (default: bundled).", show_default=False)]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when it really works, else CPU), cpu or cuda.")]
Threads = Annotated[int, typer.Option("--threads", help="CPU threads for inference; 0 = one per core.")]
Backend = Annotated[str, typer.Option("--backend", envvar="LANDSCAPE_BACKEND", help="auto (OpenVINO on the CPU where it is "
                    "installed and compiles the model, else ONNX Runtime; ONNX Runtime on CUDA), onnxruntime or openvino.")]
Precision = Annotated[str, typer.Option("--precision", envvar="LANDSCAPE_PRECISION", help="auto (the fastest on this CPU, "
                      "measured once per model, of fp32 and the precisions the model passed its check against fp32 in (a less precise one "
                      "must be 20 percent faster): bf16 "
                      "on CPUs with AMX or AVX512-BF16, int8 where an int8 version is shipped or cached), fp32, bf16 or int8 "
                      "(quantized once with NNCF and cached; a model that fails its int8 check runs in bf16 or fp32, with a note).")]
Format = Annotated[str, typer.Option("--format", help="Output format: keep (the input's), png, jpg, webp, bmp or tif.")]
Quality = Annotated[int, typer.Option("--quality", help="JPEG/WebP quality, 1-100.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (default: keep them, so a re-run finishes the rest).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan (inputs, outputs, skips, errors) and write nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout instead of the written paths.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar, notes or tally; errors still go to stderr.")]
MaxPixels = Annotated[int, typer.Option("--max-pixels", help="Refuse pictures with more pixels than this, read or made "
                      "(decompression bombs; an upscale whose result, or a pass on the way, would be bigger).")]
MaxBytes = Annotated[int, typer.Option("--max-bytes", help="Refuse files larger than this, before reading them; 0 = 8 bytes "
                     "per --max-pixels pixel plus 16 MiB (816 MB for the default 100 MP).")]
Output = Annotated[Path, typer.Option("-o", "--output", help="Output folder (created if missing).")]
BatchSize = Annotated[int, typer.Option("--batch-size", "-b", help="Images (or tiles) per inference call.")]
Jobs = Annotated[str, typer.Option("--jobs", "-j", help="LOAD:SAVE threads that decode ahead of the model and encode/write "
                   "behind it (N = both; 0 = none, all in one thread; auto = 2:2 on the CPU, with a GPU a writer "
                   "for every core but two).")]
StripMetadata = Annotated[bool, typer.Option("--strip-metadata", help="Write no metadata: no colour profile, EXIF, "
                          "XMP or text (by default they are carried over, with the orientation applied, and this "
                          "program's record added).")]
Compare = Annotated[Optional[Path], typer.Option("--compare", help="Also write contact sheets of this run's pairs "
                    "(input | output; inpaint: input | mask | output) with each file's name: SHEET, or SHEET-001.png, "
                    "SHEET-002.png, ... when they fill several pages. Noted on stderr; stdout stays the outputs.",
                    show_default=False)]
ShardOption = Annotated[Optional[str], typer.Option("--shard", help="K/N: only this machine's share (K = 0..N-1) of the inputs, "
                        "by a stable hash of each input's relative path; N machines cover the batch exactly once. "
                        "auto: K and N from a Slurm array's variables; auto/N: K from them or from a Kubernetes "
                        "indexed job's JOB_COMPLETION_INDEX.", show_default=False)]


@dataclass(frozen=True)
class Placement:
    """Where and how the models run."""

    device: Device = "auto"
    threads: Threads = 0
    backend: Backend = "auto"
    precision: Precision = "auto"


@dataclass(frozen=True)
class Scan:
    """How folder inputs are walked and paths are separated."""

    recursive: Recursive = False
    null: Null = False


@dataclass(frozen=True)
class Run:
    """What a run redoes and how it reports."""

    overwrite: Overwrite = False
    dry_run: DryRun = False
    json_mode: Json = False
    quiet: Quiet = False


@dataclass(frozen=True)
class Limits:
    """What a picture file may be, checked before anything is opened."""

    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS
    max_bytes: MaxBytes = 0

    def check(self) -> None:
        check_positive("--max-pixels", self.max_pixels)
        check_positive("--max-bytes", self.max_bytes, 0)

    @property
    def byte_limit(self) -> Optional[int]:
        """--max-bytes for the decoder: 0 means its own default."""
        return self.max_bytes or None


@dataclass(frozen=True)
class Parallel:
    """How the work is spread: machines (--shard) and threads around the model (--jobs)."""

    shard: ShardOption = None
    jobs: Jobs = "auto"


VideoCodec = Annotated[str, typer.Option("--codec", help="Video inputs: the encoder (libx264; libx265, libsvtav1, libvpx-vp9, "
                      "ffv1 lossless; h264_nvenc, hevc_nvenc on NVIDIA GPUs). A container that cannot hold it gives .mkv.")]
Crf = Annotated[int, typer.Option("--crf", help="Video inputs: the encoder's constant rate factor (lower is better; 0 is "
                "lossless for x264 and x265).")]
Preset = Annotated[Optional[str], typer.Option("--preset", help="Video inputs: the encoder's preset (x264, x265: ultrafast .. "
                   "veryslow; SVT-AV1: 0-13).", show_default=False)]
NoAudio = Annotated[bool, typer.Option("--no-audio", help="Video inputs: leave their audio streams out (subtitles, "
                    "attachments and chapters stay).")]


@dataclass(frozen=True)
class Video:
    """How video inputs are encoded (their frames go through the model; the rest is copied)."""

    codec: VideoCodec = "libx264"
    crf: Crf = 18
    preset: Preset = None
    no_audio: NoAudio = False

    def encoding(self) -> Any:
        from landscape.imaging.video import Encoding

        return Encoding(codec=self.codec, crf=self.crf, preset=self.preset, audio=not self.no_audio)


GROUPS = (Placement, Scan, Run, Limits, Parallel, Video)


@dataclass_transform(frozen_default=True, kw_only_default=True)
def spec(options_type: type) -> type:
    """Marks a command's options class: its annotated attributes are its options, in the order
    --help lists them; an attribute typed with a group (Placement, Scan, Run, Limits,
    Parallel) stands for the group's options. `command` builds the Typer signature from them
    and makes the class a frozen dataclass when the command runs, so that `--help` pays for
    no dataclass code generation."""
    options_type.__options__ = True
    return options_type


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def command(options_type: type) -> Callable[[Callable[[Any], int]], Callable[..., None]]:
    """The Typer command for a body that takes one `options_type` object (a class marked with
    `spec`): its parameters are the class's options, groups spread in place, so the signature
    is written once, there; the body runs at the CLI's edge (reporting.execute)."""
    annotations = options_type.__dict__.get("__annotations__", {})
    if not getattr(options_type, "__options__", False) or any(isinstance(a, str) for a in annotations.values()):
        raise TypeError(f"{options_type.__name__}: mark it with @options.spec, in a module without postponed annotations")
    parameters, groups = [], {}
    for name, annotation in annotations.items():
        if annotation in GROUPS:
            fields = dataclasses.fields(annotation)
            groups[name] = (annotation, [f.name for f in fields])
            parameters += [_parameter(f.name, f.type, f.default) for f in fields]
        else:
            parameters.append(_parameter(name, annotation, options_type.__dict__.get(name, inspect.Parameter.empty)))

    def wrap(body: Callable[[Any], int]) -> Callable[..., None]:
        def entry(**values: Any) -> None:
            from landscape.cli.reporting import execute

            if "__dataclass_fields__" not in vars(options_type):
                dataclasses.dataclass(frozen=True, kw_only=True)(options_type)
            for name, (group, names) in groups.items():
                values[name] = group(**{n: values.pop(n) for n in names})
            execute(lambda: body(options_type(**values)))

        entry.__name__, entry.__qualname__, entry.__doc__ = body.__name__, body.__qualname__, body.__doc__
        entry.__module__ = body.__module__
        entry.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        entry.__annotations__ = {p.name: p.annotation for p in parameters}
        return entry

    return wrap


def check_positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {value}")


def resolve_format(fmt: str, quality: int) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 1 <= quality <= 100:
        raise UsageError(f"--quality must be in 1..100, got {quality}")
