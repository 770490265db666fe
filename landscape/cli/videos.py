"""The clips among a command's inputs. They run after its pictures, one at a time, each through
landscape.imaging.video with the command's per-frame function: one output file per clip, its
progress in frames, skipped where it exists (unless --overwrite), a failed clip one line while
the others go on, --json's record of each."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from landscape.cli.items import Item, Plan
from landscape.cli.reporting import Reporter, stderr_is_terminal
from landscape.errors import ItemError

Transform = Callable[[np.ndarray, int], np.ndarray]


def source_of(item: Item) -> Optional[Path]:
    source = item.source[0] if isinstance(item.source, tuple) else item.source
    return source if isinstance(source, Path) else None


def is_clip(item: Item) -> bool:
    from landscape.imaging.video import is_video

    source = source_of(item)
    return source is not None and item.error is None and is_video(source)


def split(plan: Plan) -> tuple[Plan, list[Item]]:
    """The plan's pictures, lazily as before, and its clips, gathered as the pictures are taken
    (so the list is whole once the pictures' run has ended)."""
    clips: list[Item] = []

    def pictures() -> Iterator[Item]:
        for item in plan.items:
            if is_clip(item):
                clips.append(item)
            else:
                yield item

    return Plan(pictures(), plan.total), clips


def run(clips: list[Item], reporter: Reporter, *, transform: Callable[[Item], Transform], encoding: Any, overwrite: bool,
        job: Callable[[Item], dict[str, Any]], check_size: Callable[[int, int], None]) -> list[dict[str, Any]]:
    """Each clip made (or skipped, or failed with its one line); --json's records of them.
    `job(item)` is what makes the clip's frames: an earlier run's segments are taken only where
    it is the same."""
    from landscape.imaging import video

    records = []
    for item in clips:
        output, _ = video.output_path(item.output, encoding)
        if output.exists() and not overwrite:
            reporter.skip(output)
            continue
        try:
            with _frame_bar(reporter, item) as tick:
                result = video.process(source_of(item), item.output, transform(item), encoding, job=job(item),
                                       check_size=check_size, progress=tick, note=reporter.note)
        except ItemError as exc:
            reporter.fail(item.label, str(exc))
            continue
        if result.resumed_from:
            reporter.note(f"{item.label}: went on from frame {result.resumed_from}, where an earlier run stopped")
        reporter.wrote(result.output)
        records.append({"input": item.label, "output": str(result.output), "frames": result.frames,
                        "resumed_from": result.resumed_from})
    return records


class _frame_bar:
    """A bar of frames on stderr for one clip, where stderr is a terminal and not --quiet."""

    def __init__(self, reporter: Reporter, item: Item) -> None:
        self.enabled = not reporter.quiet and stderr_is_terminal()
        self.label = Path(item.label).name

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            self.bar = None
            return lambda n: None
        from tqdm import tqdm

        self.bar = tqdm(desc=self.label, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False)
        return self.bar.update

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def describe(item: Item) -> str:
    """--dry-run's word on a clip: its size, frames and streams, or why it cannot be made."""
    from landscape.imaging import video

    try:
        return f"write ({video.inspect(source_of(item), count_frames=True).describe()})"
    except ItemError as exc:
        return f"error: {exc}"
