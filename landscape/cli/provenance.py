"""How a picture was made, written into it and read back: the command, the seed, the models
(file name and sha256), the scale, the backend and precision, the program's version. A
generated picture's record is enough to remake it byte for byte (`landscape info PICTURE`
prints the command); upscale, inpaint and translate record the model that made each output.

The record is one JSON text under the key `landscape` (a PNG text chunk, a JPEG comment),
beside whatever text other tools wrote. A record is read as untrusted input: every field is
checked for its type and range before anything uses it, and a record that fails names the
field (`RecordError`); only a record that passes is turned back into a command.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Optional

from landscape import __version__
from landscape.api import MAX_SEED
from landscape.errors import ItemError
from landscape.imaging.photo_meta import OWN_KEY

COMMANDS = ("generate", "upscale", "inpaint", "translate")
TASKS = ("generate", "upscale", "inpaint", "translate", "label")
# Limits on what a record may hold before it is believed: walks and texts of sizes a real run
# writes (seeds: the generator's own bound).
MAX_WALK_SEEDS = 1_000_000
MAX_TEXT = 4096
MAX_SCALE = 16


class RecordError(ItemError):
    """A picture's record is missing, not ours, or damaged (the message names the field)."""


def model_record(model: Any) -> dict[str, Any]:
    from landscape.runtime.sessions import bundled_dir, model_sha256

    bundled = model.path.parent == bundled_dir()
    record = {"file": model.path.name, "sha256": model_sha256(model.path), "bundled": bundled,
              "precision": model.precision}
    if not bundled:
        record["path"] = str(model.path.resolve())
    return record


def upscaler_models(upscaler: Any) -> dict[str, Any]:
    """An upscaler's models under their record keys: `upscale` for its own (the one given, or
    the bundled default), `upscale-xN` for another of the bundled set a factor ran through."""
    models = {"upscale": upscaler.model}
    for factor, model in zip(upscaler.plan, upscaler.models):
        if model is not upscaler.model:
            models[f"upscale-x{factor}"] = model
    return models


def _model_key(key: Any) -> bool:
    return key in TASKS or (isinstance(key, str) and key.startswith("upscale-x") and key[len("upscale-x"):].isdigit())


def make(command: str, models: dict[str, Any], **fields: Any) -> str:
    """The record's text: deterministic (sorted keys, no time), so that a remade picture has
    the same bytes."""
    first = next(iter(models.values()))
    record = {"command": command, "version": __version__, "device": first.device.name, "backend": first.backend,
              "precision": first.precision,
              "models": {task: model_record(m) for task, m in models.items()}, **fields}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def read(path: Path) -> dict[str, Any]:
    """The record a picture carries, checked field by field (`check`); RecordError says why
    there is none to use."""
    import io

    from PIL import Image

    from landscape.imaging.photo_meta import png_without_big_text, refuses_text

    def texts_of(source) -> tuple[dict, Any]:
        with Image.open(source) as img:
            return dict(getattr(img, "text", {}) or {}), img.info.get("comment")

    try:
        try:
            texts, comment = texts_of(path)
        except ValueError as exc:
            if not refuses_text(exc):
                raise
            texts, comment = texts_of(io.BytesIO(png_without_big_text(Path(path).read_bytes())[0]))
    except Exception as exc:  # any file at all may be named: its reader's complaint is the reason
        raise ItemError(f"cannot read it ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})") from None
    if OWN_KEY not in texts and comment:
        text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
        if text.startswith(f"{OWN_KEY}: "):
            texts[OWN_KEY] = text[len(OWN_KEY) + 2:]
    if not isinstance(texts.get(OWN_KEY), str):
        raise RecordError("no landscape record (not made by landscape, or its metadata was stripped)")
    try:
        record = json.loads(texts[OWN_KEY])
    except (ValueError, RecursionError):
        raise RecordError("record damaged: not JSON") from None
    return check(record)


def _damaged(field: str) -> RecordError:
    return RecordError(f"record damaged: {field}")


def _text(record: dict, key: str, choices: tuple[str, ...] = (), where: str = "") -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT or (choices and value not in choices):
        raise _damaged(where + key)
    return value


def _count(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _damaged(field)
    return value


def check(record: Any) -> dict[str, Any]:
    """`record` if every field a reader uses has its type and range, else RecordError naming
    the first that does not."""
    if not isinstance(record, dict):
        raise _damaged("not an object")
    command = _text(record, "command", COMMANDS)
    _text(record, "version")
    _text(record, "device", ("cpu", "cuda"))
    _text(record, "backend", ("onnxruntime", "openvino"))
    _text(record, "precision")
    models = record.get("models")
    if not isinstance(models, dict) or not models:
        raise _damaged("models")
    for task, model in models.items():
        if not _model_key(task) or not isinstance(model, dict):
            raise _damaged(f"models.{str(task)[:40]}")
        _text(model, "file", where=f"models.{task}.")
        sha = model.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise _damaged(f"models.{task}.sha256")
        if not isinstance(model.get("bundled"), bool):
            raise _damaged(f"models.{task}.bundled")
        if not model["bundled"]:
            _text(model, "path", where=f"models.{task}.")
        if "precision" in model:  # since int8: each model's own (records before it have the first's only)
            _text(model, "precision", where=f"models.{task}.")
    scale = record.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 1 <= scale <= MAX_SCALE):
        raise _damaged("scale")
    if command == "generate":
        if "generate" not in models:
            raise _damaged("models.generate")
        _text(record, "format", ("png", "jpg", "webp", "bmp", "tif"))
        if "walk" in record:
            walk = record["walk"]
            if not isinstance(walk, dict):
                raise _damaged("walk")
            seeds = walk.get("seeds")
            if not isinstance(seeds, list) or not 2 <= len(seeds) <= MAX_WALK_SEEDS:
                raise _damaged("walk.seeds")
            for seed in seeds:
                _count(seed, "walk.seeds", 0, MAX_SEED)
            _count(walk.get("frames"), "walk.frames", 1, 1 << 20)
            _count(walk.get("frame"), "walk.frame", 0, (len(seeds) - 1) * walk["frames"])
        else:
            _count(record.get("seed"), "seed", 0, MAX_SEED)
    return record


def remake_command(record: dict[str, Any], output: str = "remade") -> Optional[str]:
    """The command that makes the recorded picture again, for generated pictures; `record`
    has passed `check`."""
    if record["command"] != "generate":
        return None
    models = record["models"]
    argv = ["landscape", "generate"]
    if "walk" in record:
        walk = record["walk"]
        argv += ["--walk", ",".join(map(str, walk["seeds"])), "--frames", str(walk["frames"])]
    else:
        argv += ["--seeds", str(record["seed"])]
    if "upscale" in models:
        argv += ["--upscale"] + (["--scale", str(record["scale"])] if record.get("scale") else [])
    for task, option in (("generate", "--model"), ("upscale", "--upscale-model")):
        if task in models and not models[task]["bundled"]:
            argv += [option, models[task]["path"]]
    # ONNX Runtime runs a file in its own precision, which --precision fp32 asks for.
    def asked(precision: str) -> str:
        return precision if precision in ("bf16", "int8") else "fp32"

    precision = asked(models["generate"].get("precision", record["precision"]))
    argv += ["--device", record["device"], "--backend", record["backend"], "--precision", precision]
    if "upscale" in models and asked(models["upscale"].get("precision", record["precision"])) != precision:
        argv += ["--upscale-precision", asked(models["upscale"]["precision"])]
    argv += ["--format", record["format"], "-o", output]
    return shlex.join(argv)
