"""The overlapped runner: decoding, inference and encoding run at once, results are reported
in input order, queues stay bounded, and threads change nothing in the bytes written."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from landscape.cli.items import Encoded, Item
from landscape.cli.reporting import Reporter
from landscape.errors import ItemError, UsageError
from landscape.cli.stages import Jobs, Stages, parse_jobs, run_stages
from tests.conftest import random_image, tree_digest, write_png


def test_auto_jobs_give_a_gpu_a_writer_per_core_but_two(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert parse_jobs("auto") == Jobs(2, 2) and parse_jobs("auto", gpu=True) == Jobs(2, 14)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert parse_jobs("auto", gpu=True) == Jobs(2, 2)


def test_parse_jobs():
    assert parse_jobs("3:1") == Jobs(3, 1) and parse_jobs("2") == Jobs(2, 2) and parse_jobs("0") == Jobs(0, 0)
    for bad in ("", "a", "1:2:3", "-1", "1:x", "65"):
        with pytest.raises(UsageError):
            parse_jobs(bad)


def _items(tmp_path: Path, n: int) -> list[Item]:
    return [Item(label=f"in{i}", output=tmp_path / f"{i:03d}.txt", source=i) for i in range(n)]


def test_stages_overlap_and_report_in_input_order(tmp_path, capsys):
    n, pause = 16, 0.05
    rng = random.Random(0)
    waits = [rng.uniform(0, 2 * pause) for _ in range(n)]  # writers finish out of order
    stages = Stages(
        load=lambda item: (time.sleep(pause), item.source)[1],
        infer=lambda batch: [(time.sleep(pause), x)[1] for x in batch],
        save=lambda item, x: (time.sleep(waits[x]), Encoded(f"{x}\n".encode()))[1],
    )
    start = time.perf_counter()
    run_stages(_items(tmp_path, n), stages, Reporter("t", quiet=True), jobs=Jobs(4, 4))
    overlapped = time.perf_counter() - start
    sequential = n * (2 * pause) + sum(waits)
    assert capsys.readouterr().out.split() == [str(tmp_path / f"{i:03d}.txt") for i in range(n)]
    assert overlapped < 0.6 * sequential, (overlapped, sequential)
    assert all((tmp_path / f"{i:03d}.txt").read_text() == f"{i}\n" for i in range(n))


def test_readers_stay_a_bounded_distance_ahead_of_the_model(tmp_path):
    loaded, inferred, worst = [], [], [0]
    lock = threading.Lock()

    def load(item):
        with lock:
            loaded.append(item.source)
            worst[0] = max(worst[0], len(loaded) - len(inferred))
        return item.source

    def infer(batch):
        time.sleep(0.01)
        inferred.extend(batch)
        return batch

    run_stages(_items(tmp_path, 60), Stages(load=load, infer=infer, save=lambda item, x: Encoded(b"x")),
               Reporter("t", quiet=True), batch_size=2, jobs=Jobs(3, 1))
    # The queue (2 batches + one per reader) plus the batch being inferred.
    assert len(inferred) == 60 and worst[0] <= (2 * 2 + 3) + 2


def test_item_errors_in_any_stage_are_that_items_alone(tmp_path, capsys):
    def load(item):
        if item.source == 1:
            raise ItemError("bad input")
        if item.source == 2:
            raise ValueError("decoder bug")
        return item.source

    def save(item, x):
        if x == 4:
            raise ItemError("cannot encode")
        return Encoded(b"ok")

    reporter = Reporter("t", quiet=True)
    run_stages(_items(tmp_path, 6), Stages(load=load, infer=lambda b: b, save=save), reporter, jobs=Jobs(2, 2))
    assert [f["input"] for f in reporter.failed] == ["in1", "in2", "in4"]
    assert "unexpected ValueError: decoder bug" in reporter.failed[1]["reason"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000.txt", "003.txt", "005.txt"]


@pytest.mark.parametrize("jobs", ["0", "1:1", "4:3"])
def test_threads_change_nothing_in_the_output(tmp_path, cli, models, jobs):
    folder = tmp_path / "in"
    for i in range(9):
        write_png(folder / f"{i}.png", random_image(10 + i, 14, seed=i))
    ref = cli("upscale", folder, "-o", tmp_path / "ref", "--model", models["upscale"], "--jobs", "0")
    res = cli("upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--jobs", jobs)
    assert ref.exit_code == res.exit_code == 0
    assert res.stdout.replace("/out/", "/ref/") == ref.stdout
    assert tree_digest(tmp_path / "out") == tree_digest(tmp_path / "ref")
    gen = cli("generate", "-n", 5, "-b", 2, "--model", models["generate"], "-o", tmp_path / "g", "--jobs", jobs,
              "--grid", tmp_path / "grid.png")
    assert gen.exit_code == 0 and gen.stdout.split() == [str(tmp_path / "g" / f"seed{s:06d}.png") for s in range(5)]


@pytest.mark.parametrize("jobs", [Jobs(1, 1), Jobs(2, 2)])
def test_a_written_path_is_reported_before_the_model_finishes_the_next_item(tmp_path, capsys, jobs):
    """A pipeline reading our stdout gets each path as its file lands, not one model call
    later: the model's call on item 1 waits until item 0's path is out."""
    reported = threading.Event()

    class Watching(Reporter):
        def wrote(self, path):
            super().wrote(path)
            if path.name == "000.txt":
                reported.set()

    def infer(batch):
        if batch[0] == 1:
            assert reported.wait(10), "item 0 was written but not reported while the model ran item 1"
        return batch

    stages = Stages(infer=infer, save=lambda item, x: Encoded(f"{x}\n".encode()))
    run_stages(_items(tmp_path, 3), stages, Watching("t", quiet=True), jobs=jobs)
    assert capsys.readouterr().out.split() == [str(tmp_path / f"{i:03d}.txt") for i in range(3)]
