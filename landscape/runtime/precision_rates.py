"""How fast each precision runs one model on this CPU: what `--precision auto` chooses from.

Measured, not looked up in a table of CPU names: the same int8/bf16/fp32 ratio differs by model
(the bundled upscaler's concatenations run in reference kernels in int8) and by CPU (VNNI or
not, AMX or not). The measurement is the bf16 probe call at the model's native size (at least
128 px a side: small calls time the runtime's overhead, not its kernels), timed side by side for
each precision that passed its check, interleaved, the fastest of at least PROBE_CALLS calls and
of PROBE_SECONDS each after a warm-up (the fastest: a 2-core machine's interruptions only add);
it is cached per model sha256 with the CPU, its units and the OpenVINO version. Not with the
thread count: a Ray actor given one core and the driver's API call given all must choose alike,
or their pictures would differ; the ratios between precisions are the kernels', and move little
with the threads.

Where the pipeline's calls take a new size nearly every time (an inpainter whose windows follow
the holes, such as LaMa), the measurement is of calls each at a size not met before: OpenVINO
prepares its kernels per new size, which costs int8 (whose weights are repacked with them) far
more than bf16; LaMa on a photo, 2 cores: int8 1.10 s and bf16 1.51 s at a repeated size, about
1.9 and 1.6 s at new ones, so int8 measured on one size made `auto` slower than bf16.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

from landscape.runtime.cache import cache_file, read_record, write_record
from landscape.runtime.model_contract import ModelInfo

PROBE_CALLS = 3
PROBE_SECONDS = 0.3
MAX_CALLS = 25
NEW_SIZES = 3  # calls at new sizes, for models whose sizes vary (ModelInfo.sizes_vary)
METHOD = 2  # in the cached record's context: rates measured otherwise before are measured again
# A less precise precision is taken only when it is this much faster than the best more
# precise one: where rates are close (the small labeller's and translator's bf16 run 0.85-0.96
# of their fp32 time here, from one measurement to the next), the choice, and with it the
# output bytes, must not turn on noise; and a gain under a fifth is not worth the precision.
MARGIN = 0.20
ORDER = ("fp32", "bf16", "int8")  # most precise first


def context() -> dict[str, Any]:
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    return {"cpu": facts().model, "units": list(facts().units), "openvino": openvino_backend.version(), "method": METHOD}


def _path(sha256: str) -> Optional[Path]:
    return cache_file("precision", f"{sha256}.json")


def cached(sha256: str, precisions: set[str]) -> Optional[dict[str, float]]:
    record = read_record(_path(sha256), "ms")
    if record is None or record.get("context") != context():
        return None
    ms = record["ms"]
    return ms if isinstance(ms, dict) and set(ms) == precisions else None


def measure(graphs: dict[str, Any], info: ModelInfo, threads: int) -> dict[str, float]:
    """Milliseconds per probe call for each precision: {precision: OpenVINO model to compile}."""
    from landscape.runtime import openvino_backend
    from landscape.runtime.bf16_check import PROBE_SIDE, probe_feeds

    side = max(PROBE_SIDE, *info.native_size)
    feeds = probe_feeds(info, side=side)
    compiled = {p: openvino_backend.Compiled(graph, p, threads, sizes_vary=info.sizes_vary)
                for p, graph in graphs.items()}
    times: dict[str, list[float]] = {p: [] for p in graphs}

    def each_precision(call: dict[str, Any]) -> None:  # interleaved: a drifting clock hits all alike
        for p, model in compiled.items():
            start = time.perf_counter()
            model.run(call)
            times[p].append(time.perf_counter() - start)

    for p in graphs:
        compiled[p].run(feeds)  # warm-up: first-call allocations
    if info.sizes_vary:
        for k in range(1, NEW_SIZES + 1):
            each_precision(probe_feeds(info, side=side + k * info.size_multiple))
    else:
        while len(times["fp32"]) < MAX_CALLS and (len(times["fp32"]) < PROBE_CALLS or sum(times["fp32"]) < PROBE_SECONDS):
            each_precision(feeds)
    return {p: round(min(t) * 1000, 1) for p, t in times.items()}


def rates(sha256: str, graphs: dict[str, Callable[[], Any]], info: ModelInfo, threads: int) -> dict[str, float]:
    """The cached measurement for these precisions, else measured now and cached. `graphs`
    gives each precision's OpenVINO model when called: read only if a measurement is made."""
    found = cached(sha256, set(graphs))
    if found is None:
        found = measure({p: read() for p, read in graphs.items()}, info, threads)
        write_record(_path(sha256), {"context": context(), "threads": threads, "ms": found})
    return found


def choose(ms: dict[str, float]) -> str:
    """The precision `auto` takes from these rates (see MARGIN)."""
    chosen = "fp32"
    for precision in ORDER[1:]:
        if precision in ms and ms[precision] <= ms[chosen] * (1 - MARGIN):
            chosen = precision
    return chosen


def describe(ms: dict[str, float], info: ModelInfo) -> str:
    per = " a call at a new size" if info.sizes_vary else " a call"
    return ", ".join(f"{p} {v:g} ms" for p, v in sorted(ms.items(), key=lambda item: item[1])) + per
