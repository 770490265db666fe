"""What a run says: written paths on stdout, everything else on stderr, a tally or one JSON
summary at the end; and the edge where library errors become one line and an exit code."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from landscape.cli.items import Item
from landscape.errors import LandscapeError, interrupted_code, interruption


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
        self.sheets = None  # landscape.cli.sheets.Sheets, with --compare
        self.device = "cpu"  # where the models run, once say_device has said
        self.planned: dict[str, float] = {}
        self.work: Optional[Callable[[Item], float]] = None
        self.total_items: Optional[int] = None
        self.begun = 0
        self.begun_work = 0.0
        self.completed = 0.0
        self.in_flight = 0.0
        self._work_lock = threading.Lock()

    def progress(self, total: Optional[int], work: Optional[Callable[[Item], float]] = None, unit: str = "img") -> None:
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

    def begin(self, item: Item) -> None:
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
            from landscape.cli.sheets import Sheets

            self.sheets = Sheets(path, panels, self.note)

    def offer(self, item: Item, pictures: list) -> None:
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


def execute(body: Callable[[], int]) -> None:
    """The CLI edge: library errors become `landscape: <message>` and an exit code."""
    try:
        code = body()
    except LandscapeError as exc:
        print(f"landscape: {exc}", file=sys.stderr, flush=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        print(f"landscape: {interruption(exc)}", file=sys.stderr, flush=True)
        raise typer.Exit(interrupted_code(exc)) from None
    except BrokenPipeError:
        # The reader of stdout is gone (`| head -1`): stop quietly; Python must not complain
        # again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def say_device(reporter: Reporter, *tasks: Any) -> None:
    """Which device, backend and precision run each of this run's models."""
    reporter.device = tasks[0].device.name
    reporter.note(f"device: {tasks[0].device.describe()}: {', '.join(task.describe() for task in tasks)}")
