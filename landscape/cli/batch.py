"""The batch loop every folder command runs: items planned lazily from the inputs (or seeds),
named outputs, skip/overwrite rules, the stages that overlap decoding, inference and encoding,
and --dry-run's plan."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from landscape.cli.options import Placement
from landscape.cli.items import Item, Plan
from landscape.cli.reporting import Reporter
from landscape.errors import ItemError, LandscapeError


def run_items(plan: Plan, stages: Any, reporter: Reporter, *, overwrite: bool, batch_size: int = 1,
              jobs: str = "auto", work: Optional[Callable[[Item], float]] = None, unit: str = "img") -> None:
    """Skip what exists (unless overwrite), then run the rest through the command's stages
    (landscape.cli.stages): decoding, inference and encoding overlap, each result is
    written atomically, a failed item is reported and the batch goes on, a FatalError
    stops it. Items are planned, checked and skipped one at a time as the stages take them:
    the first picture starts at once, whatever the size of the run."""
    from landscape.cli.stages import parse_jobs, run_stages

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
    from landscape.cli.videos import describe, is_clip

    rows = []
    for item in plan.items:
        if item.error is not None:
            action = f"error: {item.error}"
        elif item.output is not None and item.output.exists() and not overwrite:
            action = "skip (exists)"
        else:
            action = describe(item) if is_clip(item) else "write"
        if reporter.json_mode:
            rows.append({"input": item.label, "output": str(item.output) if item.output else None, "action": action})
        else:
            sys.stdout.write(f"{item.label}\t{item.output or '-'}\t{action}\n")
    if reporter.json_mode:
        print(json.dumps({"command": reporter.command, "dry_run": True, "plan": rows, "notes": reporter.notes}, indent=2))
    sys.stdout.flush()
    return 0


def output_extension(path: Path, fmt: str) -> str:
    """A picture's output format (--format, or its own); a clip keeps its container."""
    from landscape.imaging.codec import EXTENSION_FORMAT
    from landscape.imaging.video import is_video

    if is_video(path):
        return path.suffix.lstrip(".").lower()
    if fmt != "keep":
        return fmt
    return EXTENSION_FORMAT.get(path.suffix.lower(), "png")


def plan_outputs(paths: Iterable[Path], out_dir: Path, fmt: str, problems: Iterable[tuple[str, str]] = ()) -> list[Item]:
    """One item per input, named from its stem; collisions and in-place writes refused."""
    taken: dict[str, str] = {}
    return ([Item(label=label, output=None, error=reason) for label, reason in problems]
            + [name_output(path, out_dir, fmt, taken) for path in paths])


def name_output(path: Path, out_dir: Path, fmt: str, taken: dict[str, str]) -> Item:
    """The item for one input: its output named from its stem, unless another input of the
    run (in `taken`: output key -> input) already writes that name, or it is the input itself."""
    from landscape.imaging.outputs import output_name

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


# Parameters of the API (landscape.api) whose flag is not the parameter's name.
FLAGS = {"threshold": "--mask-threshold", "dilate": "--mask-dilate", "invert": "--mask-invert",
         "masks": "--masks (or NAME_mask.png beside the image)"}


def flag(name: str) -> str:
    """An API parameter as its command-line flag, for the API's messages."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def open_task(reporter: Reporter, placement: Placement, task_type: type, model: Optional[Path], **options: Any) -> Any:
    """Open an API task (landscape.api.Upscaler, ...) on this run's placement: its notes go to
    the reporter, its option errors name the flags. A model given by the name of a published
    one not pulled yet is pulled first, where it may be unasked (landscape.cli.pull)."""
    from landscape.cli.pull import pull_named

    model = pull_named(model, reporter.note, reporter.quiet)
    if options.get("upscale_model") is not None:
        options["upscale_model"] = pull_named(options["upscale_model"], reporter.note, reporter.quiet)
    return task_type(model, device=placement.device, threads=placement.threads, backend=placement.backend,
                     precision=placement.precision, note=reporter.note, spelling=flag, **options)


LOOK_AHEAD = 256  # items whose headers may be read before the run, to choose session settings


def largest_input(plan: Plan) -> tuple[Optional[int], Plan]:
    """The most pixels of any input, from the headers of a plan of at most LOOK_AHEAD items
    (a few tens of microseconds a file); None for a bigger plan, whose headers are not all
    read before the first picture. Returns the plan to run, its first items kept."""
    import itertools
    import math

    from landscape.imaging.codec import header_size

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
    from landscape.cli.inputs import Scan
    from landscape.cli.shard import in_shard, parse_shard

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
    from landscape.cli.shard import in_shard, parse_shard

    shard = parse_shard(spec)
    kept = [p for p in paths if in_shard(collected.key(p), shard)]
    problems = [(label, reason) for label, reason in collected.problems
                if label not in collected.keys or in_shard(collected.keys[label], shard)]
    return kept, problems
