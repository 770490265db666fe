"""Decode, infer and encode at the same time.

Reader threads decode inputs ahead of the model; the calling thread alone runs the model
(one ONNX Runtime session, which spreads each call over the cores itself); writer threads
encode and write the results. Bounded queues sit between the stages: realesrgan-ncnn-vulkan's
`-j load:proc:save`, with proc fixed at one session. Decoders, encoders and ONNX Runtime
release the GIL, so the threads overlap for real.

Results are reported in input order, whatever order the writers finish in, so stdout is the
same as in a sequential run.
"""
from __future__ import annotations

from collections import deque
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Optional

from landscape.errors import FatalError, ItemError, LandscapeError, UsageError
from landscape.imaging.photo_meta import RunNote


@dataclass(frozen=True)
class Jobs:
    load: int = 2  # reader threads; 0 = decode in the calling thread
    save: int = 2  # writer threads; 0 = encode and write in the calling thread


def parse_jobs(spec: str, *, gpu: bool = False) -> Jobs:
    """'L:S' (reader and writer threads), 'N' (both), or 'auto': 2:2 where the model runs on
    the CPU (it needs the cores); with a GPU, a writer for every core but two, since PNG
    encoding must keep up with the card (docs/PERFORMANCE.md, "`--jobs` and spinning")."""
    if spec == "auto":
        return Jobs(2, max(2, (os.cpu_count() or 2) - 2)) if gpu else Jobs(2, 2)
    parts = spec.split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(v < 0 or v > 64 for v in values):
        raise UsageError(f"--jobs must be LOAD:SAVE, N (threads, 0..64) or auto, got {spec!r}")
    return Jobs(values[0], values[-1])


@dataclass(frozen=True)
class Stages:
    """What one command does to an item, cut where the threads change hands."""

    infer: Callable[[list[Any]], list[Any]]  # a batch of loaded inputs -> one result each (calling thread)
    save: Callable[[Any, Any], Any]  # (item, result) -> Encoded (writer threads)
    load: Optional[Callable[[Any], Any]] = None  # item -> loaded input (reader threads); None: item.source


class _Inline:
    """An executor that runs each task at once in the caller: --jobs 0."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever reads the result, as a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, **_: Any) -> None:
        pass


def _pool(threads: int, name: str):
    return ThreadPoolExecutor(threads, thread_name_prefix=name) if threads else _Inline()


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A decoder or codec bug on one odd file must not end the batch: unexpected exceptions
    become that item's error."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except (LandscapeError, MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise ItemError(f"unexpected {type(exc).__name__}: {exc}") from None

    return call


def run_stages(todo: list[Any], stages: Stages, reporter: Any, *, batch_size: int = 1, jobs: Jobs = Jobs()) -> None:
    """Process `todo` (items whose outputs are to be written) through the three stages and
    write each result atomically. A failed item is reported and the rest go on; a FatalError
    (disk full) stops the batch, and the files written before it stay."""
    from landscape.imaging.outputs import atomic_write

    batch_size = max(1, batch_size)
    load, save, infer = _guard(stages.load or (lambda item: item.source)), _guard(stages.save), _guard(stages.infer)

    def write(item: Any, result: Any) -> Any:
        encoded = save(item, result)
        atomic_write(item.output, encoded.data)
        return encoded

    readers, writers = _pool(jobs.load, "landscape-load"), _pool(jobs.save, "landscape-save")
    ahead = 2 * batch_size + jobs.load  # inputs decoded ahead of the model
    behind = 2 * batch_size + jobs.save  # results waiting for a writer
    pending = iter(todo)
    loading: deque[tuple[Any, Future]] = deque()
    writing: deque[tuple[Any, Future]] = deque()
    lock = threading.Lock()  # `writing` and the reporter: the calling thread and the writers
    failure: list[BaseException] = []
    stopped = False

    def top_up() -> None:
        while len(loading) < ahead and not stopped:
            item = next(pending, None)
            if item is None:
                return
            loading.append((item, readers.submit(load, item)))

    def drain() -> None:
        """Report the finished results at the front, in input order. Runs in the calling
        thread and, as each write lands, in the writer that finished it, so a written path
        reaches stdout then and not after the model's next call (minutes, for a big upscale)."""
        nonlocal stopped
        with lock:
            while writing and writing[0][1].done() and not failure:
                item, future = writing.popleft()
                try:
                    try:
                        encoded = future.result()
                    except FatalError as exc:
                        if not stopped:  # one line for the batch, not one per queued item
                            reporter.fail(item.label, str(exc))
                        stopped = True
                        continue
                    except LandscapeError as exc:
                        reporter.fail(item.label, str(exc))
                        reporter.advance(item.label)
                        continue
                    for text in encoded.notes:
                        if isinstance(text, RunNote):
                            reporter.note_once(text)
                        else:
                            reporter.note(f"{item.label}: {text}")
                    reporter.wrote(item.output)
                    reporter.advance(item.label)
                except BaseException as exc:  # stdout closed, Ctrl-C: raised again in the calling thread
                    failure.append(exc)

    def queue_write(item: Any, future: Future) -> None:
        with lock:
            writing.append((item, future))
        future.add_done_callback(lambda _: drain())

    def report(keep: int) -> None:
        """Wait while more than `keep` results are queued; then raise what reporting raised."""
        while True:
            drain()
            with lock:
                head = writing[0][1] if len(writing) > keep and not failure else None
            if head is None:
                break
            wait([head])
        if failure:
            raise failure[0]

    try:
        top_up()
        while loading and not stopped:
            batch: list[tuple[Any, Any]] = []
            while loading and len(batch) < batch_size:
                item, future = loading.popleft()
                top_up()
                try:
                    batch.append((item, future.result()))
                except LandscapeError as exc:
                    queue_write(item, _failed(exc))
            if batch:
                try:
                    results = infer([payload for _, payload in batch])
                except LandscapeError as exc:
                    results = [exc] * len(batch)
                for (item, _), result in zip(batch, results):
                    failed = isinstance(result, LandscapeError)
                    queue_write(item, _failed(result) if failed else writers.submit(write, item, result))
            report(keep=behind)
        report(keep=0)
    finally:
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
