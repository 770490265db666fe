"""What this CPU can do: its model name and the vector and matrix units that decide the
inference precision (bf16 needs AMX or AVX512-BF16; fp32 runs everywhere).

Read from /proc/cpuinfo on Linux; elsewhere the units are unknown and treated as absent, so
`--precision auto` stays at fp32 there.
"""
from __future__ import annotations

import functools
import platform
import re
from dataclasses import dataclass

# The flags that matter to inference, in the order `landscape info` prints them, with the
# names Linux gives them.
UNIT_FLAGS = {
    "AVX2": ("avx2",),
    "AVX-512": ("avx512f",),
    "VNNI": ("avx512_vnni", "avx_vnni"),
    "AVX512-BF16": ("avx512_bf16",),
    "AMX-BF16": ("amx_bf16",),
    "AMX-INT8": ("amx_int8",),
}
BF16_UNITS = ("AMX-BF16", "AVX512-BF16")


@dataclass(frozen=True)
class CpuFacts:
    model: str
    units: tuple[str, ...]

    @property
    def has_bf16(self) -> bool:
        return any(unit in self.units for unit in BF16_UNITS)

    def describe(self) -> str:
        return f"{self.model} [{', '.join(self.units) or 'no AVX2'}]"

    @property
    def kind(self) -> str:
        """What a precision's verdicts and speeds depend on: the architecture and the units,
        not the model name (one verdict serves every CPU with the same kernels)."""
        return f"{platform.machine()} {'+'.join(self.units) or 'baseline'}"

    @property
    def kind_slug(self) -> str:
        """The kind as part of a file name."""
        return re.sub(r"[^A-Za-z0-9.+-]", "_", self.kind)


def parse_cpuinfo(text: str) -> CpuFacts:
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    units = tuple(unit for unit, names in UNIT_FLAGS.items() if flags.intersection(names))
    return CpuFacts(model or platform.processor() or platform.machine(), units)


@functools.lru_cache(maxsize=1)
def facts() -> CpuFacts:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return parse_cpuinfo(f.read())
    except OSError:
        return CpuFacts(platform.processor() or platform.machine(), ())
