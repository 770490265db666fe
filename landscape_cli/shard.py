"""`--shard K/N`: split a batch over N machines with no coordination. Each input goes to
the shard given by a stable hash of its key (its path relative to the folder argument it was
found in, or the path as given), so every machine started with the same command and its own
K takes a disjoint share, the shares cover the batch exactly once, and a re-run of one shard
picks the same inputs (and skips what it already wrote)."""
from __future__ import annotations

import hashlib
from typing import Optional

from landscape_cli.errors import UsageError

Shard = tuple[int, int]  # (k, n), 0 <= k < n


def parse_shard(spec: Optional[str]) -> Optional[Shard]:
    if spec is None:
        return None
    try:
        k_text, n_text = spec.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise UsageError(f"--shard must be K/N (e.g. 0/4), got {spec!r}") from None
    if n < 1 or not 0 <= k < n:
        raise UsageError(f"--shard {spec}: need N >= 1 and 0 <= K < N (K counts from 0)")
    return k, n


def in_shard(key: str, shard: Optional[Shard]) -> bool:
    if shard is None:
        return True
    k, n = shard
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n == k
