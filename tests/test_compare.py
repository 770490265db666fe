"""`--compare SHEET`: contact sheets of a run's pairs, written atomically, paged, noted on
stderr, with nothing added to stdout."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from landscape.cli import sheets
from tests.conftest import random_image, write_png


def photos(folder, count, size=(24, 32)):
    for i in range(count):
        write_png(folder / f"p{i:02d}.png", random_image(*size, seed=i))
    return folder


def page_cells(page: np.ndarray, panels: int) -> int:
    """Cells drawn on a page: columns of cells whose first panel is not blank."""
    columns = sheets.COLUMNS[panels]
    cell_w, cell_h = panels * sheets.PANEL + (panels - 1) * sheets.GAP, sheets.PANEL + sheets.CAPTION
    count = 0
    for r in range((page.shape[0] - sheets.GAP) // (cell_h + sheets.GAP)):
        for c in range(columns):
            y, x = sheets.GAP + r * (cell_h + sheets.GAP), sheets.GAP + c * (cell_w + sheets.GAP)
            count += bool((page[y : y + sheets.PANEL, x : x + sheets.PANEL] != sheets.BACKGROUND).any())
    return count


@pytest.mark.parametrize("command, panels", [("upscale", 2), ("label", 2), ("translate", 2), ("inpaint", 3)])
def test_a_run_fits_one_sheet_named_as_asked(command, panels, models, cli, tmp_path):
    src = photos(tmp_path / "in", 3)
    extra = ["--tolerance", "442"] if command == "translate" else []
    if command == "inpaint":
        for i in range(3):
            write_png(tmp_path / "in" / f"p{i:02d}_mask.png", (random_image(24, 32, 1, seed=9)[:, :, 0] > 128).astype(np.uint8) * 255)
    result = cli(command, src, "--model", models[command], "-o", tmp_path / "out", "--compare", tmp_path / "sheet.png", *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(tmp_path / "out" / f"p{i:02d}.png") for i in range(3)]
    assert f"comparison sheet: {tmp_path / 'sheet.png'}" in result.stderr
    page = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB"))
    assert page_cells(page, panels) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out", "sheet.png"]  # no pages, no temp files


def test_a_large_batch_fills_several_pages_and_failed_items_are_left_out(models, cli, tmp_path):
    per_page = sheets.COLUMNS[2] * sheets.ROWS
    src = photos(tmp_path / "in", per_page + 4)
    (tmp_path / "in" / "p99.png").write_bytes(b"not a picture")
    result = cli("label", src, "--model", models["label"], "-o", tmp_path / "out", "--compare", tmp_path / "s" / "sheet.jpg")
    assert result.exit_code == 1  # the broken file failed; the rest were written
    pages = sorted((tmp_path / "s").iterdir())
    assert [p.name for p in pages] == ["sheet-001.jpg", "sheet-002.jpg"]
    cells = [page_cells(np.asarray(Image.open(p).convert("RGB")), 2) for p in pages]
    assert cells == [per_page, 4]
    assert "sheet-001.jpg .. sheet-002.jpg (2 pages)" in result.stderr
    assert len(result.stdout.split()) == per_page + 4


def test_thumbnails_are_bounded_and_show_any_mode():
    for pixels in (random_image(900, 300), random_image(50, 60, 1), random_image(40, 40, 4),
                   random_image(30, 500, 3, dtype=np.uint16), np.random.default_rng(0).random((64, 64, 3))):
        thumb = sheets.thumbnail(pixels)
        assert thumb.dtype == np.uint8 and thumb.shape[2] == 3 and max(thumb.shape[:2]) <= sheets.PANEL
