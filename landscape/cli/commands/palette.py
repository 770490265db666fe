"""`landscape palette`: the classes and colours a translation model's maps use."""
import sys
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options

SWATCH = 40


@options.spec
class PaletteOptions:
    legend: Annotated[Optional[Path], typer.Option("-o", "--output", help="Also draw the legend as an image (PNG).", show_default=False)] = None
    model: options.ModelPath = None
    json_mode: options.Json = False


@options.command(PaletteOptions)
def palette(opts: PaletteOptions) -> int:
    """Print the map classes and colours (from the model's metadata).

    Example: landscape palette -o legend.png
    """
    import json

    from landscape.errors import ModelError
    from landscape.runtime.sessions import bundled_model, read_info

    path = opts.model if opts.model is not None else bundled_model("translate")
    if not Path(path).is_file():
        raise ModelError(f"{path}: no such model file")
    info = read_info(Path(path))
    if not info.palette:
        raise ModelError(f"{path}: a '{info.task}' model has no palette (use a translate or label model)")
    if opts.json_mode:
        print(json.dumps([{"index": i, "class": c, "rgb": list(rgb)} for i, (c, rgb) in enumerate(zip(info.classes, info.palette))], indent=2))
    else:
        for i, (name, rgb) in enumerate(zip(info.classes, info.palette)):
            print(f"{i}\t{name}\t#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}\t{rgb[0]},{rgb[1]},{rgb[2]}")
    if opts.legend is not None:
        _draw_legend(opts.legend, info.classes, info.palette)
        print(f"landscape: legend: {opts.legend}", file=sys.stderr)
    return 0


def _draw_legend(path: Path, classes, palette) -> None:
    import cv2
    import numpy as np

    from landscape.imaging.codec import encode
    from landscape.imaging.outputs import atomic_write

    width = SWATCH + 16 + 14 * max(len(c) for c in classes) + 16
    sheet = np.full((SWATCH * len(classes), width, 3), 255, np.uint8)
    for i, (name, rgb) in enumerate(zip(classes, palette)):
        sheet[i * SWATCH + 2 : (i + 1) * SWATCH - 2, 2 : SWATCH - 2] = rgb
        cv2.putText(sheet, f"{i} {name}", (SWATCH + 12, i * SWATCH + 27), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, encode(sheet, "png")[0])
