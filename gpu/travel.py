"""What a run on the lent GPU machine would carry, and making the checkout small enough for it.

The device tool sends the working tree: tracked files, untracked files that git does not
ignore, and the ignored paths a call names in `carry`, 64 MiB at most.

    python -m gpu.travel report [--carry .device/ort/part-00 ...]   # sizes, by folder; exit 1 if over
    python -m gpu.travel stash                  # move tracked files of 1 MiB and more out of the checkout
    python -m gpu.travel restore                # put them back (git checkout for any that went missing)

`stash` moves the files to a folder beside the checkout (`../<checkout>-stash/`), with a
manifest of their paths and sha256, so that `restore` can check what comes back. Files that
are committed also return with `git checkout -- PATH`, which `restore` falls back on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 64 * 2**20
BIG = 2**20
MANIFEST = "stash.json"


def git_paths(*args: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", *args], cwd=ROOT, check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p]


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def travelling(carry: list[str]) -> dict[str, int]:
    """Every file that would travel, with its size: tracked (and present), untracked not
    ignored, and the carried paths (files or folders)."""
    sizes: dict[str, int] = {}
    for rel in git_paths() + git_paths("--others", "--exclude-standard"):
        path = ROOT / rel
        if path.is_file():
            sizes[rel] = path.stat().st_size
    for rel in carry:
        path = ROOT / rel
        if not path.exists():
            raise SystemExit(f"travel: --carry {rel}: no such path")
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for f in files:
            sizes[str(f.relative_to(ROOT))] = f.stat().st_size
    return sizes


def top_folder(rel: str) -> str:
    parts = Path(rel).parts
    if parts[0] in ("runs", "landscape") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else "."


def report(carry: list[str]) -> int:
    sizes = travelling(carry)
    by_folder: dict[str, int] = defaultdict(int)
    for rel, size in sizes.items():
        by_folder[top_folder(rel)] += size
    total = sum(sizes.values())
    print(f"{'folder':32s} {'MiB':>8s}")
    for folder, size in sorted(by_folder.items(), key=lambda kv: -kv[1]):
        print(f"{folder:32s} {size / 2**20:8.2f}")
    print("largest files:")
    for rel, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {size / 2**20:8.2f}  {rel}")
    verdict = "fits" if total <= LIMIT else "does NOT fit"
    print(f"total {total / 2**20:.2f} MiB of {LIMIT / 2**20:.0f} MiB: {verdict} ({len(sizes)} files)")
    return 0 if total <= LIMIT else 1


def stash_dir() -> Path:
    return ROOT.parent / f"{ROOT.name}-stash"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stash() -> int:
    where = stash_dir()
    manifest_path = where / MANIFEST
    moved = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for rel in git_paths():
        path = ROOT / rel
        if path.is_file() and path.stat().st_size >= BIG:
            moved[rel] = sha256(path)
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(where / rel))
    where.mkdir(exist_ok=True)
    manifest_path.write_text(json.dumps(moved, indent=1) + "\n")
    print(f"{len(moved)} tracked files of >= 1 MiB are in {where}; `python -m gpu.travel restore` brings them back")
    return 0


def restore() -> int:
    where = stash_dir()
    manifest_path = where / MANIFEST
    if not manifest_path.exists():
        print("travel: nothing stashed", file=sys.stderr)
        return 0
    moved: dict[str, str] = json.loads(manifest_path.read_text())
    from_git = []
    for rel, digest in moved.items():
        src, dst = where / rel, ROOT / rel
        if src.is_file() and sha256(src) == digest:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dst))
        else:
            from_git.append(rel)
    if from_git:
        subprocess.run(["git", "checkout", "--", *from_git], cwd=ROOT, check=True)
    shutil.rmtree(where)
    print(f"{len(moved)} files restored ({len(from_git)} of them from git)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    rep = sub.add_parser("report", help="what would travel, by folder, against the 64 MiB limit")
    rep.add_argument("--carry", nargs="*", default=[], help="ignored paths the run names in carry")
    sub.add_parser("stash", help="move tracked files of >= 1 MiB out of the checkout")
    sub.add_parser("restore", help="put stashed files back")
    args = parser.parse_args()
    if args.action == "report":
        return report(args.carry)
    return stash() if args.action == "stash" else restore()


if __name__ == "__main__":
    raise SystemExit(main())
