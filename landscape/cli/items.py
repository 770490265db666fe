"""What a batch command works through: items (one output from one input), their encoded
results, and the plan that produces items lazily."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional


@dataclass
class Item:
    """One output to produce, from one input (a path, a seed, an image+mask pair)."""

    label: str
    output: Optional[Path]
    source: Any = None
    error: Optional[str] = None


@dataclass
class Encoded:
    data: bytes
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The items of a run, produced lazily as the run takes them (from seeds, or from the
    folder walk), and how many there will be where that is known without producing them."""

    items: Iterable[Item]
    total: Optional[int] = None
