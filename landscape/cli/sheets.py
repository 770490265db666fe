"""Contact sheets: of a run (`--compare SHEET`), one cell per written output, its panels side by
side (input | output, or input | mask | output) with the file's name under them, cells in
rows, pages of a bounded size; and `generate --grid`'s plain grid of thumbnails. A page is written as soon as it is full, so a batch of any
length holds at most one page of thumbnails in memory.

Thumbnails are made by the writer threads that already hold the pictures; the sheet takes
them in input order as the outputs are reported, so it shows exactly the files this run wrote.
"""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

PANEL = 192  # longest side of a thumbnail
COLUMNS = {2: 3, 3: 2}  # cells per row, by panels per cell
ROWS = 5  # rows per page
GAP, CAPTION = 6, 18
BACKGROUND = 255


def thumbnail(pixels: np.ndarray, side: int = PANEL) -> np.ndarray:
    """Any decoded picture (gray, gray+alpha, RGB, RGBA; 8 or 16 bits) or a float [0, 1]
    picture -> 8-bit RGB no larger than side x side; transparency shown over white."""
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype.kind == "f":
        pixels = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    colour = pixels[:, :, :3] if channels >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
    if channels in (2, 4):
        alpha = pixels[:, :, -1:].astype(np.float32) / 255
        colour = (colour * alpha + BACKGROUND * (1 - alpha)).astype(np.uint8)
    h, w = colour.shape[:2]
    factor = min(1.0, side / max(h, w))
    if factor < 1.0:
        colour = cv2.resize(colour, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(colour)


def _caption(text: str, width: int) -> np.ndarray:
    strip = np.full((CAPTION, width, 3), BACKGROUND, np.uint8)
    scale, thickness = 0.4, 1
    while len(text) > 4 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] > width - 4:
        text = text[:-4] + "..."  # keep the start; a long name loses its middle letters last
    cv2.putText(strip, text, (2, CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 40, 40), thickness, cv2.LINE_AA)
    return strip


def render(cells: list[tuple[str, list[np.ndarray]]], panels: int) -> np.ndarray:
    """One page: cells of `panels` thumbnails each, COLUMNS[panels] to a row."""
    columns = COLUMNS.get(panels, max(1, 6 // panels))
    cell_w = panels * PANEL + (panels - 1) * GAP
    cell_h = PANEL + CAPTION
    rows = -(-len(cells) // columns)
    page = np.full((rows * (cell_h + GAP) + GAP, columns * (cell_w + GAP) + GAP, 3), BACKGROUND, np.uint8)
    for i, (name, thumbs) in enumerate(cells):
        r, c = divmod(i, columns)
        y, x = GAP + r * (cell_h + GAP), GAP + c * (cell_w + GAP)
        for k, thumb in enumerate(thumbs):
            th, tw = thumb.shape[:2]
            px = x + k * (PANEL + GAP) + (PANEL - tw) // 2
            py = y + (PANEL - th) // 2
            page[py : py + th, px : px + tw] = thumb
        page[y + PANEL : y + cell_h, x : x + cell_w] = _caption(name, cell_w)
    return page


def grid(thumbs: list[np.ndarray]) -> np.ndarray:
    """Thumbnails edge to edge on white, in a near-square grid, row by row (`generate --grid`)."""
    import math

    cols = math.ceil(math.sqrt(len(thumbs)))
    rows = math.ceil(len(thumbs) / cols)
    th, tw = max(t.shape[0] for t in thumbs), max(t.shape[1] for t in thumbs)
    sheet = np.full((rows * th, cols * tw, 3), BACKGROUND, np.uint8)
    for i, thumb in enumerate(thumbs):
        r, c = divmod(i, cols)
        sheet[r * th : r * th + thumb.shape[0], c * tw : c * tw + thumb.shape[1]] = thumb
    return sheet


class Sheets:
    """Pages of a run's cells, written as they fill: SHEET itself when the run fits one page,
    else SHEET-001.png, SHEET-002.png, ... (the suffix of SHEET sets the format)."""

    def __init__(self, path: Path, panels: int, note) -> None:
        self.path, self.panels, self.note = path, panels, note
        self.per_page = COLUMNS.get(panels, max(1, 6 // panels)) * ROWS
        self.pending: dict[str, tuple[str, list[np.ndarray]]] = {}
        self.page: list[tuple[str, list[np.ndarray]]] = []
        self.pages_written: list[Path] = []
        self.lock = threading.Lock()

    def offer(self, output: Path, name: str, pictures: list[np.ndarray]) -> None:
        """From a writer thread: the pictures of the cell for `output`."""
        cell = (name, [thumbnail(p) for p in pictures])
        with self.lock:
            self.pending[str(output)] = cell

    def take(self, output: Path) -> None:
        """`output` was reported written (in input order): its cell joins the page."""
        with self.lock:
            cell = self.pending.pop(str(output), None)
            if cell is None:
                return
            self.page.append(cell)
            if len(self.page) == self.per_page:
                self._write_page()

    def _write_page(self) -> None:
        from landscape.imaging.codec import encode
        from landscape.imaging.outputs import atomic_write

        number = len(self.pages_written) + 1
        target = self.path.with_name(f"{self.path.stem}-{number:03d}{self.path.suffix}")
        fmt = {".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}.get(self.path.suffix.lower(), "png")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, encode(render(self.page, self.panels), fmt, quality=90)[0])
        self.pages_written.append(target)
        self.page = []

    def close(self) -> None:
        """The last page; a run that fits one page gets SHEET itself, not SHEET-001."""
        with self.lock:
            if self.page:
                self._write_page()
            if len(self.pages_written) == 1:
                only = self.pages_written[0]
                only.replace(self.path)
                self.pages_written = [self.path]
        if self.pages_written:
            shown = self.pages_written[0] if len(self.pages_written) == 1 else \
                f"{self.pages_written[0]} .. {self.pages_written[-1].name} ({len(self.pages_written)} pages)"
            self.note(f"comparison sheet: {shown}")
