"""`--shard K/N`: split a batch over N machines with no coordination. Each input goes to
the shard given by a stable hash of its key (its path relative to the folder argument it was
found in, or the path as given), so every machine started with the same command and its own
K takes a disjoint share, the shares cover the batch exactly once, and a re-run of one shard
picks the same inputs (and skips what it already wrote)."""
from __future__ import annotations

import hashlib
import os
from typing import Mapping, Optional

from landscape.errors import UsageError

Shard = tuple[int, int]  # (k, n), 0 <= k < n


def parse_shard(spec: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Optional[Shard]:
    """`K/N`, or `auto` / `auto/N`: K (and N) from the scheduler's own variables."""
    if spec is None:
        return None
    if spec == "auto" or spec.startswith("auto/"):
        return scheduler_shard(spec, os.environ if environ is None else environ)
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


def _int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise UsageError(f"--shard auto: {name}={environ[name]!r} is not a number") from None


def scheduler_shard(spec: str, environ: Mapping[str, str]) -> Shard:
    """This task's (K, N) from a Slurm array (SLURM_ARRAY_TASK_ID, _MIN, _STEP, _COUNT) or a
    Kubernetes indexed job (JOB_COMPLETION_INDEX; N from `auto/N`, as Kubernetes exports no
    count). Arrays whose ids are not MIN + k*STEP for k < N (`--array=1,5,7`) cannot be
    numbered from the variables: they are refused, naming --shard K/N."""
    given_n = None
    if spec != "auto":
        try:
            given_n = int(spec.split("/", 1)[1])
        except ValueError:
            raise UsageError(f"--shard {spec}: expected auto or auto/N") from None
        if given_n < 1:
            raise UsageError(f"--shard {spec}: N must be >= 1")
    if "SLURM_ARRAY_TASK_ID" in environ:
        task = _int(environ, "SLURM_ARRAY_TASK_ID")
        first = _int(environ, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in environ else 0
        step = _int(environ, "SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in environ else 1
        if "SLURM_ARRAY_TASK_COUNT" not in environ and given_n is None:
            raise UsageError("--shard auto: SLURM_ARRAY_TASK_COUNT is not set; give the count as --shard auto/N")
        count = given_n if given_n is not None else _int(environ, "SLURM_ARRAY_TASK_COUNT")
        k, off_step = divmod(task - first, max(step, 1))
        if step < 1 or off_step or not 0 <= k < count:
            raise UsageError(f"--shard auto: Slurm array task {task} is not MIN + k x STEP ({first} + k x {step}) for "
                             f"k < {count}: an array of listed ids cannot be numbered; use --shard K/N")
        return k, count
    if "JOB_COMPLETION_INDEX" in environ:
        if given_n is None:
            raise UsageError("--shard auto: a Kubernetes indexed job exports no count; use --shard auto/N "
                             "with N = the job's completions")
        k = _int(environ, "JOB_COMPLETION_INDEX")
        if not 0 <= k < given_n:
            raise UsageError(f"--shard auto/{given_n}: JOB_COMPLETION_INDEX {k} is outside 0..{given_n - 1}")
        return k, given_n
    raise UsageError("--shard auto: no scheduler variables (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX) in the "
                     "environment; use --shard K/N")
