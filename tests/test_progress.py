"""The progress bar counts work, not pictures: tiles of one huge picture move it, a rate and an
ETA mean something for one picture and for thousands, and nothing is measured without a
terminal on stderr."""
from __future__ import annotations

import numpy as np
import pytest

from landscape.cli import reporting
from landscape.cli.items import Item
from landscape.pipelines.tiling import run_tiled
from landscape.pipelines.upscale import work
from tests.conftest import random_image, write_png


@pytest.mark.parametrize("h, w, tile, multiple", [(50, 70, 0, 1), (300, 200, 64, 1), (257, 513, 128, 8), (33, 900, 32, 4)])
def test_tiles_report_every_picture_pixel_once(h, w, tile, multiple):
    heard = []
    run_tiled(np.zeros((3, h, w), np.float32), lambda b: b, lambda y, rows: None, scale=1, tile=tile, pad=8,
              multiple=multiple, batch=3, progress=heard.append)
    assert sum(heard) == h * w and (len(heard) > 1) == (tile and max(h, w) > tile)


def test_work_counts_every_pass_and_the_alpha_plane():
    assert work(10, 20, 3, (4,)) == 200
    assert work(10, 20, 3, (4, 4)) == 200 + 200 * 16
    assert work(10, 20, 4, (2, 2, 2)) == 2 * (200 + 800 + 3200)
    assert work(10, 20, 3, (2, 4)) == 200 + 800


@pytest.fixture()
def terminal(monkeypatch):
    monkeypatch.setattr(reporting, "stderr_is_terminal", lambda: True)


def items(n):
    return [Item(label=f"p{i}", output=None) for i in range(n)]


def test_ticks_move_the_bar_and_finished_items_settle_it(terminal):
    reporter = reporting.Reporter("t")
    reporter.progress(3, work=lambda item: 100.0, unit="px")
    for item in items(3):
        reporter.begin(item)
    assert reporter.bar.total == 300 and reporter.bar.unit == "px"
    reporter.tick(40)  # tiles of p0
    assert reporter.bar.n == 40
    reporter.tick(60)
    reporter.advance("p0")  # written: its ticks leave the in-flight share, its work counts once
    assert reporter.bar.n == 100
    reporter.tick(30)  # p1 fails a third of the way through
    reporter.advance("p1")
    reporter.advance("p2")  # failed before the model saw it
    assert reporter.bar.n == reporter.bar.total == 300
    reporter.finish()


def test_without_a_terminal_nothing_is_read_or_counted(monkeypatch):
    monkeypatch.setattr(reporting, "stderr_is_terminal", lambda: False)
    reporter = reporting.Reporter("t")

    def never(item):
        raise AssertionError("work estimated without a terminal")

    reporter.progress(2, work=never, unit="px")
    for item in items(2):
        reporter.begin(item)
    assert reporter.bar.disable and reporter.planned == {}
    reporter.tick(10)
    reporter.advance("p0")
    reporter.finish()


def test_the_total_is_estimated_from_the_items_begun(terminal):
    """Work is measured as items start, never for the whole plan first: the total is the work
    so far plus the items to come at the mean so far."""
    reporter = reporting.Reporter("t")
    measured = []
    reporter.progress(10, work=lambda item: measured.append(item.label) or 100.0 * (1 + len(measured) % 2), unit="px")
    assert measured == [] and reporter.bar.total is None
    first, second = items(2)
    reporter.begin(first)
    assert measured == ["p0"] and reporter.bar.total == 200 * 10
    reporter.begin(second)
    assert reporter.bar.total == 300 + 8 * 150
    reporter.finish()


def test_one_big_upscale_moves_the_bar_before_it_is_written(models, cli, tmp_path, monkeypatch, terminal):
    write_png(tmp_path / "in" / "big.png", random_image(150, 170))
    seen = []
    real_tick = reporting.Reporter.tick

    def tick(self, amount):
        real_tick(self, amount)
        seen.append((self.bar.n, self.counts["written"]))

    monkeypatch.setattr(reporting.Reporter, "tick", tick)
    result = cli("upscale", tmp_path / "in", "--model", models["upscale"], "-o", tmp_path / "out", "--tile", 48, "-b", 1)
    assert result.exit_code == 0, result.output
    assert len(seen) == 16 and all(written == 0 for _, written in seen)  # 4x4 tiles, one per call
    assert seen[-1][0] == 150 * 170  # every input pixel, before the file landed
