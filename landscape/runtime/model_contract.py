"""The ONNX metadata contract: what `landscape/export/` writes into `metadata_props` and what the
runtime reads back. Every value is JSON. The runtime never guesses from file names."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from landscape.errors import ModelError

SCHEMA_VERSION = 1
TASKS = ("generate", "translate", "inpaint", "upscale", "label")

COMMON_KEYS = (
    "schema_version", "task", "family", "inputs", "outputs", "native_size", "size_multiple",
    "dynamic_hw", "training", "package_version", "parity",
)
TASK_KEYS = {
    "generate": ("latent_dim",),
    "translate": ("classes", "palette"),
    "inpaint": (),
    "upscale": ("scale",),
    "label": ("classes", "palette"),
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[Any, ...]
    range: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape)}
        if self.range is not None:
            out["range"] = list(self.range)
        return out


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime needs to know about a model, read from its metadata."""

    task: str
    family: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    native_size: tuple[int, int]
    size_multiple: int
    dynamic_hw: bool
    latent_dim: int | None = None
    scale: int | None = None
    classes: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    # An inpainter's windows at full resolution: (smallest, largest) side; native_size when absent.
    window_sides: tuple[int, int] | None = None
    min_side: int = 1  # the smallest input side the network takes (after padding to size_multiple)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def windows(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(smallest, largest) (h, w) of an inpainting window run at full resolution: a hole
        gets at least the smallest as context, and a window past the largest is shrunk to it."""
        if self.window_sides is None:
            return self.native_size, self.native_size
        low, high = self.window_sides
        return (low, low), (high, high)

    @property
    def sizes_vary(self) -> bool:
        """Whether the pipeline meets the model at a new size nearly every call: an inpainter
        whose windows are sized by the holes (window_sides), rather than at its native size."""
        return self.task == "inpaint" and self.window_sides is not None

    def input(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise ModelError(f"model has no input named {name!r}")

    @property
    def output(self) -> TensorSpec:
        return self.outputs[0]


def encode(values: dict[str, Any]) -> dict[str, str]:
    """Metadata dict -> `metadata_props` strings (each value JSON)."""
    return {key: json.dumps(value, sort_keys=True) for key, value in values.items()}


def _specs(raw: Any, key: str, source: str) -> tuple[TensorSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{source}: metadata {key!r} must be a non-empty list")
    try:
        return tuple(
            TensorSpec(name=str(s["name"]), shape=tuple(s["shape"]), range=tuple(s["range"]) if "range" in s else None)
            for s in raw
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{source}: metadata {key!r} is malformed ({exc})") from None


def _window_sides(raw: Any) -> tuple[int, int] | None:
    if raw is None:
        return None
    low, high = raw
    return int(low), int(high)


def parse(props: dict[str, str], source: str) -> ModelInfo:
    """`metadata_props` strings -> ModelInfo, or ModelError naming the first problem."""
    if "schema_version" not in props:
        raise ModelError(f"{source}: not a landscape model (no 'schema_version' in its metadata; export it with `landscape export`)")
    values: dict[str, Any] = {}
    for key, text in props.items():
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text  # keys written by other tools are kept as plain strings
    if values["schema_version"] != SCHEMA_VERSION:
        raise ModelError(f"{source}: metadata schema_version {values['schema_version']!r} is not supported (this build reads {SCHEMA_VERSION})")
    task = values.get("task")
    if task not in TASKS:
        raise ModelError(f"{source}: metadata 'task' is {task!r}, expected one of {', '.join(TASKS)}")
    for key in COMMON_KEYS + TASK_KEYS[task]:
        if key not in values:
            raise ModelError(f"{source}: metadata is missing the key {key!r}")
    try:
        native = tuple(int(v) for v in values["native_size"])
        palette = tuple(tuple(int(c) for c in colour) for colour in values.get("palette", ()))
        info = ModelInfo(
            task=task,
            family=str(values["family"]),
            inputs=_specs(values["inputs"], "inputs", source),
            outputs=_specs(values["outputs"], "outputs", source),
            native_size=(native[0], native[1]),
            size_multiple=int(values["size_multiple"]),
            dynamic_hw=bool(values["dynamic_hw"]),
            latent_dim=int(values["latent_dim"]) if "latent_dim" in values else None,
            scale=int(values["scale"]) if "scale" in values else None,
            classes=tuple(str(c) for c in values.get("classes", ())),
            palette=palette,  # type: ignore[arg-type]
            window_sides=_window_sides(values.get("window_sides")),
            min_side=int(values["network"].get("min_size", 1)) if isinstance(values.get("network"), dict) else 1,
            raw=values,
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{source}: metadata is malformed ({exc})") from None
    if info.window_sides is not None and not 1 <= info.window_sides[0] <= info.window_sides[1]:
        raise ModelError(f"{source}: metadata 'window_sides' must be [smallest, largest], got {list(info.window_sides)}")
    if info.size_multiple < 1:
        raise ModelError(f"{source}: metadata 'size_multiple' must be >= 1")
    if len(info.classes) != len(info.palette):
        raise ModelError(f"{source}: metadata 'classes' and 'palette' differ in length")
    return info
