"""How fast each precision runs one model on this CPU: what `--precision auto` chooses from.

Measured, not looked up in a table of CPU names: the same int8/bf16/fp32 ratio differs by model
(the bundled upscaler's concatenations run in reference kernels in int8) and by CPU (VNNI or
not, AMX or not). The measurement is the bf16 probe call (128 px), timed side by side for each
precision that passed its check, median of PROBE_CALLS after a warm-up; it is cached per model
sha256 with the CPU, its units, the OpenVINO version and the thread count it was made with.
"""
from __future__ import annotations

import json
import time
from typing import Any, Optional

from landscape.runtime.model_contract import ModelInfo

PROBE_CALLS = 3
# A less precise precision is taken only when it is this much faster than the best more
# precise one: so that two close rates (the small labeller's bf16 and fp32, 4 ms apart by
# 1 ms) do not make the choice, and the output bytes, turn on a noisy measurement.
MARGIN = 0.10
ORDER = ("fp32", "bf16", "int8")  # most precise first


def _context(threads: int) -> dict[str, Any]:
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    return {"cpu": facts().model, "units": list(facts().units), "openvino": openvino_backend.version(), "threads": threads}


def _path(sha256: str):
    from landscape.runtime.cache import cache_dir

    folder = cache_dir("precision")
    return folder / f"{sha256}.json" if folder else None


def cached(sha256: str, precisions: set[str], threads: int) -> Optional[dict[str, float]]:
    path = _path(sha256)
    try:
        record = json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("context") != _context(threads):
        return None
    ms = record.get("ms")
    return ms if isinstance(ms, dict) and set(ms) == precisions else None


def measure(graphs: dict[str, Any], info: ModelInfo, threads: int) -> dict[str, float]:
    """Milliseconds per probe call for each precision: {precision: OpenVINO model to compile}."""
    import numpy as np

    from landscape.runtime import openvino_backend
    from landscape.runtime.bf16_check import probe_feeds

    feeds = probe_feeds(info)
    compiled = {p: openvino_backend.Compiled(graph, openvino_backend.compile_config(p, threads)) for p, graph in graphs.items()}
    times: dict[str, list[float]] = {p: [] for p in graphs}
    for p in graphs:
        compiled[p].run(feeds)  # warm-up: first-call allocations
    for _ in range(PROBE_CALLS):  # interleaved, so that a drifting clock hits every precision alike
        for p, model in compiled.items():
            start = time.perf_counter()
            model.run(feeds)
            times[p].append(time.perf_counter() - start)
    return {p: round(float(np.median(t)) * 1000, 1) for p, t in times.items()}


def rates(sha256: str, graphs: dict[str, Any], info: ModelInfo, threads: int) -> dict[str, float]:
    """The cached measurement for these precisions, else measured now and cached."""
    from landscape.imaging.outputs import atomic_write

    found = cached(sha256, set(graphs), threads)
    if found is not None:
        return found
    found = measure(graphs, info, threads)
    path = _path(sha256)
    if path is not None:
        try:
            atomic_write(path, json.dumps({"context": _context(threads), "ms": found}).encode())
        except Exception:  # a cache that cannot be written costs a new measurement next time
            pass
    return found


def choose(ms: dict[str, float]) -> str:
    """The precision `auto` takes from these rates (see MARGIN)."""
    chosen = "fp32"
    for precision in ORDER[1:]:
        if precision in ms and ms[precision] <= ms[chosen] * (1 - MARGIN):
            chosen = precision
    return chosen


def describe(ms: dict[str, float]) -> str:
    return ", ".join(f"{p} {v:g} ms" for p, v in sorted(ms.items(), key=lambda item: item[1])) + " a probe call"
