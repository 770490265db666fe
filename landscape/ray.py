"""Ray Data batch inference: the five tasks as callable classes for `Dataset.map_batches`.

    import ray, landscape.ray
    ds = ray.data.read_images("s3://bucket/photos/", include_paths=True)
    ds = ds.map_batches(landscape.ray.Upscale, concurrency=4, batch_size=8)
    ds.write_images("s3://bucket/big/", column="image")

Each actor opens its model once (landscape.api), on CUDA when the actor was given a GPU
(`num_gpus=1`) and it works, else on the node's CPU with the backend and precision its units
allow. A batch is the dict of NumPy columns that `read_images(..., include_paths=True)` makes
(`image`, `path`); the same batch comes back with `image` replaced by the output and the other
columns kept. Pictures of mixed sizes (a ragged batch) work; outputs of one size are stacked
into one array, others form an object array (Ray's variable-shaped tensor column).

Options of the task (`scale`, `tile`, `device`, `precision`, ...) go in `fn_constructor_kwargs`;
`Upscale.checked(model=..., **options)` returns them after opening the model once on the driver,
so that a missing model or a bad option fails there with the API's one-line error, before any
actor starts (an actor that fails to start reaches the driver as Ray's ActorDiedError, with the
actor's traceback logged).
`threads` defaults to the CPUs Ray gave the actor (`num_cpus`), so that several actors on a
node share its cores instead of each taking all of them. Needs `pip install 'landscape[ray]'`.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from landscape import api
from landscape.errors import UsageError

Batch = dict[str, np.ndarray]


def column(values: list[np.ndarray]) -> np.ndarray:
    """Pictures as one batch column: stacked when they share a shape and dtype, else an
    object array of them."""
    if values and all(v.shape == values[0].shape and v.dtype == values[0].dtype for v in values):
        return np.stack(values)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def placed(options: dict[str, Any]) -> dict[str, Any]:
    """The task's options, with `threads` set to the actor's CPUs unless given."""
    if "threads" in options:
        return options
    import ray

    cpus = 0
    if ray.is_initialized():  # else asking would start a local cluster
        try:
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
        except AssertionError:  # Ray's answer outside a worker (the driver): no allotment
            pass
    return {**options, "threads": max(1, round(cpus)) if cpus else 0}


def _rows(batch: Batch, name: str) -> list[Any]:
    if name not in batch:
        raise UsageError(f"the batch has no column {name!r} (columns: {', '.join(batch) or 'none'})")
    return list(batch[name])


class _Checked:
    @classmethod
    def checked(cls, model: api.ModelPath = None, **options: Any) -> dict[str, Any]:
        """`fn_constructor_kwargs` for these options, once an instance made on the driver has
        passed the checks every actor will make: raises landscape.LandscapeError with its
        one-line message otherwise. The driver's instance runs ONNX Runtime on one CPU thread:
        whether `device`, `backend` and `precision` can run depends on the node an actor lands
        on, so here they are checked by name only."""
        api.check_placement(**{k: options[k] for k in ("device", "backend", "precision") if k in options})
        cls(model, **{**options, "device": "cpu", "backend": "onnxruntime", "precision": "auto", "threads": 1})
        return {"model": None if model is None else str(model), **options}


class _PictureMap(_Checked):
    """Runs a task on each picture of a batch's `image` column (or `column`) and puts the
    results back in its place."""

    def __init__(self, task: Any, column_name: str) -> None:
        self.task, self.column = task, column_name

    def run(self, picture: np.ndarray, batch: Batch, row: int) -> np.ndarray:
        return self.task(picture)

    def __call__(self, batch: Batch) -> Batch:
        pictures = _rows(batch, self.column)
        return {**batch, self.column: column([self.run(p, batch, i) for i, p in enumerate(pictures)])}


class Upscale(_PictureMap):
    """`image` -> the upscaled picture (landscape.api.Upscaler's options)."""

    def __init__(self, model: api.ModelPath = None, *, column: str = "image", **options: Any) -> None:
        super().__init__(api.Upscaler(model, **placed(options)), column)


class Label(_PictureMap):
    """`image` (a photo) -> its (H, W) uint8 class-index map, or with `colour=True` the map in
    the palette `Translate` reads (landscape.api.Labeller's options)."""

    def __init__(self, model: api.ModelPath = None, *, column: str = "image", colour: bool = False, **options: Any) -> None:
        super().__init__(api.Labeller(model, **placed(options)), column)
        self.colour = colour

    def run(self, picture: np.ndarray, batch: Batch, row: int) -> np.ndarray:
        labels = self.task(picture)
        return self.task.colourise(labels) if self.colour else labels


class Translate(_PictureMap):
    """`image` (a colour or index map) -> a landscape photo; `upscale=True` chains the
    upscaler (landscape.api.Translator's options)."""

    def __init__(self, model: api.ModelPath = None, *, column: str = "image", upscale: bool = False, **options: Any) -> None:
        super().__init__(api.Translator(model, **placed(options)), column)
        self.upscale = upscale

    def run(self, picture: np.ndarray, batch: Batch, row: int) -> np.ndarray:
        return self.task(picture, upscale=self.upscale)


class Inpaint(_PictureMap):
    """`image` with the holes of `mask` (a column of masks; without it each picture's alpha)
    -> the filled picture (landscape.api.Inpainter's options)."""

    def __init__(self, model: api.ModelPath = None, *, column: str = "image", mask_column: str = "mask",
                 **options: Any) -> None:
        super().__init__(api.Inpainter(model, **placed(options)), column)
        self.mask_column = mask_column

    def run(self, picture: np.ndarray, batch: Batch, row: int) -> np.ndarray:
        mask = batch[self.mask_column][row] if self.mask_column in batch else None
        return self.task(picture, mask)


class Generate(_Checked):
    """A column of seeds (`seed`, else `id`, which `ray.data.range(n)` makes) -> `image`, the
    generated pictures, other columns kept; `upscale` and `scale` as in landscape.api.Generator."""

    def __init__(self, model: api.ModelPath = None, *, upscale: bool = False, scale: Optional[float] = None,
                 seed_column: Optional[str] = None, column: str = "image", **options: Any) -> None:
        self.task = api.Generator(model, **placed(options))
        self.upscale, self.scale = upscale, scale
        self.seed_column, self.column = seed_column, column

    def __call__(self, batch: Batch) -> Batch:
        name = self.seed_column or ("seed" if "seed" in batch else "id")
        seeds = [int(s) for s in _rows(batch, name)]
        return {**batch, self.column: column(self.task(seeds, upscale=self.upscale, scale=self.scale))}

