"""How a picture was made, written into it and read back: the command, the seed, the models
(file name and sha256), the scale, the backend and precision, the program's version. A
generated picture's record is enough to remake it byte for byte (`landscape info PICTURE`
prints the command); upscale, inpaint and translate record the model that made each output.

The record is one JSON text under the key `landscape` (a PNG text chunk, a JPEG comment),
beside whatever text other tools wrote.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Optional

from landscape import __version__

KEY = "landscape"


def model_record(model: Any) -> dict[str, Any]:
    from landscape.runtime.sessions import bundled_dir, model_sha256

    bundled = model.path.parent == bundled_dir()
    record = {"file": model.path.name, "sha256": model_sha256(model.path), "bundled": bundled}
    if not bundled:
        record["path"] = str(model.path.resolve())
    return record


def make(command: str, models: dict[str, Any], **fields: Any) -> str:
    """The record's text: deterministic (sorted keys, no time), so that a remade picture has
    the same bytes."""
    first = next(iter(models.values()))
    record = {"command": command, "version": __version__, "device": first.device.name, "backend": first.backend,
              "precision": first.precision,
              "models": {task: model_record(m) for task, m in models.items()}, **fields}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def read(path: Path) -> Optional[dict[str, Any]]:
    """The record a picture carries, or None."""
    from PIL import Image

    with Image.open(path) as img:
        texts = dict(getattr(img, "text", {}) or {})
        comment = img.info.get("comment")
    if KEY not in texts and comment:
        text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
        if text.startswith(f"{KEY}: "):
            texts[KEY] = text[len(KEY) + 2:]
    try:
        record = json.loads(texts[KEY]) if KEY in texts else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def remake_command(record: dict[str, Any], output: str = "remade") -> Optional[str]:
    """The command that makes the recorded picture again, for generated pictures."""
    if record.get("command") != "generate":
        return None
    models = record.get("models", {})
    argv = ["landscape", "generate"]
    if "walk" in record:
        walk = record["walk"]
        argv += ["--walk", ",".join(map(str, walk["seeds"])), "--frames", str(walk["frames"])]
    else:
        argv += ["--seeds", str(record["seed"])]
    if "upscale" in models:
        argv += ["--upscale"] + (["--scale", str(record["scale"])] if record.get("scale") else [])
    for task, option in (("generate", "--model"), ("upscale", "--upscale-model")):
        if task in models and not models[task].get("bundled"):
            argv += [option, models[task]["path"]]
    # ONNX Runtime runs a file in its own precision, which --precision fp32 asks for.
    precision = "bf16" if record["precision"] == "bf16" else "fp32"
    argv += ["--device", record.get("device", "cpu"), "--backend", record["backend"], "--precision", precision,
             "--format", record.get("format", "png"), "-o", output]
    return shlex.join(argv)
