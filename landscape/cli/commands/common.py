"""What every batch command shares: options, the reporter (stdout = written paths only,
everything else on stderr), the item loop with its skip/overwrite rules, and the edge where
errors become one line and an exit code.

Heavy modules (numpy, onnxruntime) are imported inside functions so that `--help` stays fast.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import typer
from typing_extensions import Annotated

from landscape.errors import ItemError, LandscapeError, UsageError

# Pixel count above which a picture is refused unless --max-pixels raises it: 100 MP admits
# 10000x10000 photos and refuses decompression bombs before they allocate gigabytes.
DEFAULT_MAX_PIXELS = 100_000_000
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
Precision = Annotated[str, typer.Option("--precision", envvar="LANDSCAPE_PRECISION", help="auto (bf16 where the CPU has "
                      "AMX or AVX512-BF16 units and the model passed its bf16 check against fp32, else fp32), fp32 or bf16.")]
Format = Annotated[str, typer.Option("--format", help="Output format: keep (the input's), png, jpg, webp, bmp or tif.")]
Quality = Annotated[int, typer.Option("--quality", help="JPEG/WebP quality, 1-100.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (default: keep them, so a re-run finishes the rest).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan (inputs, outputs, skips, errors) and write nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout instead of the written paths.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar, notes or tally; errors still go to stderr.")]
MaxPixels = Annotated[int, typer.Option("--max-pixels", help="Refuse images with more pixels than this (decompression bombs).")]
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


@dataclass
class Item:
    """One output to produce, from one input (a path, a seed, an image+mask pair)."""

    label: str
    output: Optional[Path]
    source: Any = None
    error: Optional[str] = None


@dataclass
class Encoded:
    data: bytes
    notes: list[str] = field(default_factory=list)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


class Reporter:
    """Written paths on stdout, one per line, flushed as each file lands; everything else on
    stderr; a tally at the end; or one JSON object with --json."""

    def __init__(self, command: str, *, json_mode: bool = False, quiet: bool = False, null: bool = False) -> None:
        self.command, self.json_mode, self.quiet, self.null = command, json_mode, quiet, null
        # Counts always; the paths themselves only for --json's summary, so that a run of
        # millions of pictures holds no list of them.
        self.counts = {"written": 0, "skipped": 0}
        self.written: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.start = time.perf_counter()
        self.bar = None
        # Work counted by the bar: the planned share of each item in flight, the work finished
        # items stand for, what the model reported of the items in flight, and the items to come.
        self.sheets = None  # landscape.sheets.Sheets, with --compare
        self.device = "cpu"  # where the models run, once say_device has said
        self.planned: dict[str, float] = {}
        self.work: Optional[Callable[["Item"], float]] = None
        self.total_items: Optional[int] = None
        self.begun = 0
        self.begun_work = 0.0
        self.completed = 0.0
        self.in_flight = 0.0
        self._work_lock = threading.Lock()

    def progress(self, total: Optional[int], work: Optional[Callable[["Item"], float]] = None, unit: str = "img") -> None:
        """A bar over `total` items (None: not known up front), counting `work(item)` (model
        input pixels, say) when given, so that one huge picture and thousands of small ones
        both show a true rate and ETA; else one unit per item. Each item's work is measured
        as it starts (begin), and the total is an estimate refined as they come: the work so
        far plus the items to come at the mean so far. Without a terminal on stderr nothing
        is measured or shown."""
        from tqdm import tqdm

        enabled = not self.quiet and stderr_is_terminal()
        self.work = work if enabled else None
        self.total_items = total
        self.bar = tqdm(total=None if work is not None else total, file=sys.stderr, unit=unit if self.work else "img",
                        unit_scale=self.work is not None, dynamic_ncols=True, leave=False, disable=not enabled)

    def begin(self, item: "Item") -> None:
        """An item goes to the stages: its work is measured now, not before the run."""
        if self.work is None:
            return
        amount = max(float(self.work(item)), 1.0)
        with self._work_lock:
            self.planned[item.label] = amount
            self.begun += 1
            self.begun_work += amount
            if self.total_items is not None:
                self.bar.total = self.begun_work + max(0, self.total_items - self.begun) * self.begun_work / self.begun
                self.bar.refresh()

    def tick(self, amount: float) -> None:
        """Work the model finished inside an item (tiles, a pass): the bar moves before the
        item is written."""
        if self.bar is None or self.bar.disable or self.work is None:
            return
        with self._work_lock:
            self.in_flight += amount
            self._show()

    def _show(self) -> None:
        position = self.completed + self.in_flight
        if self.bar.total is not None:
            position = min(self.bar.total, position)
        if position > self.bar.n:
            self.bar.update(position - self.bar.n)

    def _line(self, text: str) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.write(f"landscape: {text}", file=sys.stderr)
        else:
            print(f"landscape: {text}", file=sys.stderr, flush=True)

    def fail(self, label: str, reason: str) -> None:
        self.failed.append({"input": label, "reason": reason})
        self._line(f"{label}: {reason}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        if not self.quiet:
            self._line(text)

    def note_once(self, text: str) -> None:
        """A note that holds for the whole run (what the output format drops), said once."""
        if text not in self.notes:
            self.note(text)

    def wrote(self, path: Path) -> None:
        self.counts["written"] += 1
        if self.json_mode:
            self.written.append(str(path))
        if not self.json_mode:
            sys.stdout.write(str(path) + ("\0" if self.null else "\n"))
            sys.stdout.flush()
        if self.sheets is not None:
            self.sheets.take(path)

    def compare(self, path: Optional[Path], panels: int) -> None:
        """--compare: contact sheets of this run's written pairs, `panels` pictures a cell."""
        if path is not None:
            from landscape.sheets import Sheets

            self.sheets = Sheets(path, panels, self.note)

    def offer(self, item: "Item", pictures: list) -> None:
        """From a writer thread: the pictures of `item`'s cell on the comparison sheet."""
        if self.sheets is not None:
            self.sheets.offer(item.output, Path(item.label).name, pictures)

    def skip(self, path: Path) -> None:
        self.counts["skipped"] += 1
        if self.json_mode:
            self.skipped.append(str(path))

    def advance(self, label: str) -> None:
        """An item is done (written or failed): its whole planned work counts, and what the
        model had reported of it leaves the in-flight share."""
        if self.bar is None or self.bar.disable:
            return
        with self._work_lock:
            share = self.planned.pop(label, 1.0)
            self.completed += share
            self.in_flight = max(0.0, self.in_flight - share)
            self._show()

    def finish(self, **extra: Any) -> int:
        if self.bar is not None:
            self.bar.close()
        if self.sheets is not None:
            self.sheets.close()
        seconds = time.perf_counter() - self.start
        if self.json_mode:
            summary = {"command": self.command, "written": self.written, "skipped": self.skipped,
                       "failed": self.failed, "notes": self.notes, "seconds": round(seconds, 3), **extra}
            print(json.dumps(summary, indent=2))
        elif not self.quiet:
            written, skipped = self.counts["written"], self.counts["skipped"]
            parts = [f"{written} written"]
            if skipped:
                parts.append(f"{skipped} skipped (already there; --overwrite redoes them)")
            if self.failed:
                parts.append(f"{len(self.failed)} failed")
            if not (written or skipped or self.failed):
                parts = ["no input found"]
            print(f"landscape: {self.command}: {', '.join(parts)} in {seconds:.1f}s", file=sys.stderr, flush=True)
        return 1 if self.failed else 0


@dataclass
class Plan:
    """The items of a run, produced lazily as the run takes them (from seeds, or from the
    folder walk), and how many there will be where that is known without producing them."""

    items: Iterable[Item]
    total: Optional[int] = None


def run_items(plan: Plan, stages: Any, reporter: Reporter, *, overwrite: bool, batch_size: int = 1,
              jobs: str = "auto", work: Optional[Callable[[Item], float]] = None, unit: str = "img") -> None:
    """Skip what exists (unless overwrite), then run the rest through the command's stages
    (landscape.overlap): decoding, inference and encoding overlap, each result is
    written atomically, a failed item is reported and the batch goes on, a FatalError
    stops it. Items are planned, checked and skipped one at a time as the stages take them:
    the first picture starts at once, whatever the size of the run."""
    from landscape.overlap import parse_jobs, run_stages

    def todo() -> Iterator[Item]:
        for item in plan.items:
            if item.error is not None:
                reporter.fail(item.label, item.error)
                reporter.advance(item.label)
            elif item.output is not None and item.output.exists() and not overwrite:
                reporter.skip(item.output)
                reporter.advance(item.label)
            else:
                reporter.begin(item)
                yield item

    reporter.progress(plan.total, work, unit)
    run_stages(todo(), stages, reporter, batch_size=batch_size, jobs=parse_jobs(jobs, gpu=reporter.device == "cuda"))


def each(fn: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    """A one-input inference step as a batch step: an ItemError stays that input's result."""

    def batch(payloads: list[Any]) -> list[Any]:
        results: list[Any] = []
        for payload in payloads:
            try:
                results.append(fn(payload))
            except LandscapeError as exc:
                results.append(exc)
        return results

    return batch


def print_plan(plan: Plan, reporter: Reporter, *, overwrite: bool) -> int:
    """--dry-run: what would be written, skipped or refused; writes nothing. Rows are printed
    as they are planned (--json gathers them into one object)."""
    rows = []
    for item in plan.items:
        if item.error is not None:
            action = f"error: {item.error}"
        elif item.output is not None and item.output.exists() and not overwrite:
            action = "skip (exists)"
        else:
            action = "write"
        if reporter.json_mode:
            rows.append({"input": item.label, "output": str(item.output) if item.output else None, "action": action})
        else:
            sys.stdout.write(f"{item.label}\t{item.output or '-'}\t{action}\n")
    if reporter.json_mode:
        print(json.dumps({"command": reporter.command, "dry_run": True, "plan": rows, "notes": reporter.notes}, indent=2))
    sys.stdout.flush()
    return 0


def resolve_format(fmt: str, quality: int) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 1 <= quality <= 100:
        raise UsageError(f"--quality must be in 1..100, got {quality}")


def output_extension(path: Path, fmt: str) -> str:
    if fmt != "keep":
        return fmt
    from landscape.imaging import EXTENSION_FORMAT

    return EXTENSION_FORMAT.get(path.suffix.lower(), "png")


def plan_outputs(paths: Iterable[Path], out_dir: Path, fmt: str, problems: Iterable[tuple[str, str]] = ()) -> list[Item]:
    """One item per input, named from its stem; collisions and in-place writes refused."""
    taken: dict[str, str] = {}
    return ([Item(label=label, output=None, error=reason) for label, reason in problems]
            + [name_output(path, out_dir, fmt, taken) for path in paths])


def name_output(path: Path, out_dir: Path, fmt: str, taken: dict[str, str]) -> Item:
    """The item for one input: its output named from its stem, unless another input of the
    run (in `taken`: output key -> input) already writes that name, or it is the input itself."""
    from landscape.outputs import output_name

    item = Item(label=str(path), output=None, source=path)
    try:
        target = out_dir / output_name(path.stem, output_extension(path, fmt))
    except ItemError as exc:
        item.error = str(exc)
        return item
    key = os.path.normcase(os.path.abspath(target))
    if key in taken:
        item.error = f"would write {target}, as {taken[key]} does; rename one of them"
    elif os.path.exists(target) and os.path.samefile(target, path):
        item.error = f"output {target} is the input itself; choose another --output"
    else:
        taken[key] = str(path)
        item.output = target
    return item


def check_positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {value}")


def execute(body: Callable[[], int]) -> None:
    """The CLI edge: library errors become `landscape: <message>` and an exit code."""
    try:
        code = body()
    except LandscapeError as exc:
        print(f"landscape: {exc}", file=sys.stderr, flush=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("landscape: interrupted", file=sys.stderr, flush=True)
        raise typer.Exit(130) from None
    except BrokenPipeError:
        # The reader of stdout is gone (`| head -1`): stop quietly; Python must not complain
        # again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@dataclass(frozen=True)
class Placement:
    """Where and how the models run: --device, --threads, --backend, --precision."""

    device: str = "auto"
    threads: int = 0
    backend: str = "auto"
    precision: str = "auto"


# Parameters of the API (landscape.api) whose flag is not the parameter's name.
FLAGS = {"threshold": "--mask-threshold", "dilate": "--mask-dilate", "invert": "--mask-invert",
         "masks": "--masks (or NAME_mask.png beside the image)"}


def flag(name: str) -> str:
    """An API parameter as its command-line flag, for the API's messages."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def open_task(reporter: Reporter, placement: Placement, task_type: type, model: Optional[Path], **options: Any) -> Any:
    """Open an API task (landscape.api.Upscaler, ...) on this run's placement: its notes go to
    the reporter, its option errors name the flags."""
    return task_type(model, device=placement.device, threads=placement.threads, backend=placement.backend,
                     precision=placement.precision, note=reporter.note, spelling=flag, **options)


def say_device(reporter: Reporter, *tasks: Any) -> None:
    """Which device, backend and precision run each of this run's models."""
    reporter.device = tasks[0].device.name
    reporter.note(f"device: {tasks[0].device.describe()}: {', '.join(task.describe() for task in tasks)}")


LOOK_AHEAD = 256  # items whose headers may be read before the run, to choose session settings


def largest_input(plan: Plan) -> tuple[Optional[int], Plan]:
    """The most pixels of any input, from the headers of a plan of at most LOOK_AHEAD items
    (a few tens of microseconds a file); None for a bigger plan, whose headers are not all
    read before the first picture. Returns the plan to run, its first items kept."""
    import itertools
    import math

    from landscape.imaging import header_size

    items = iter(plan.items)
    head = list(itertools.islice(items, LOOK_AHEAD + 1))
    rest = Plan(itertools.chain(head, items), plan.total)
    if len(head) > LOOK_AHEAD:
        return None, rest
    return max((math.prod(header_size(item.source)[:2]) for item in head if item.error is None), default=0), rest


def collect_items(inputs: list[str], output: Path, fmt: str, reporter: Reporter, *, recursive: bool,
                  null: bool, shard: Optional[str] = None) -> Plan:
    """Inputs -> a lazy plan of items (this shard's share); the scan's notes are reported as
    it makes them."""
    from landscape.inputs import Scan
    from landscape.shard import in_shard, parse_shard

    share = parse_shard(shard)
    scan = Scan(inputs, recursive=recursive, null_separated=null, exclude=output)

    def items() -> Iterator[Item]:
        taken: dict[str, str] = {}
        for found in scan:
            while scan.notes:
                reporter.note(scan.notes.pop(0))
            # A problem with an argument as given is every shard's to report.
            if not ((found.path is None and found.given) or in_shard(found.key, share)):
                continue
            if found.path is None:
                yield Item(label=found.label, output=None, error=found.problem)
            else:
                yield name_output(found.path, output, fmt, taken)
        while scan.notes:
            reporter.note(scan.notes.pop(0))

    # With a shard, the total is this shard's expected share.
    total = None if scan.total is None else scan.total if share is None else -(-scan.total // share[1])
    return Plan(items(), total)


def shard_share(collected: Any, spec: Optional[str], paths: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The paths and per-file problems of this shard. Problems with an argument itself (a
    missing file, say) are every shard's to report."""
    from landscape.shard import in_shard, parse_shard

    shard = parse_shard(spec)
    kept = [p for p in paths if in_shard(collected.key(p), shard)]
    problems = [(label, reason) for label, reason in collected.problems
                if label not in collected.keys or in_shard(collected.keys[label], shard)]
    return kept, problems
