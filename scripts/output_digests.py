"""Digests of what every command writes and prints on the sample folders, to show that a change
of the code's shape leaves behaviour alone: the written files' sha256, the paths on stdout, the
--help texts and the text outputs (info, models, palette, --dry-run).

Float kernels differ between CPU kinds (AVX2, AVX-512, AMX) and between runtime versions, so the
digests are kept per machine kind: `--record` adds this kind's entry to the file,
`tests/test_output_digests.py` compares a run with it. On a kind with no entry the test runs the
previous commit's tree (a git worktree, on this machine) and compares this tree with it, case by
case, but for the cases that commit's change of the digests file declares changed.

    python -m scripts.output_digests --record      # before a restructuring
    python -m pytest tests/test_output_digests.py  # after it
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
DIGESTS = ROOT / "tests" / "data" / "output_digests.json"

# (name, argv after `landscape`); OUT is the run's scratch folder, SAMPLES the sample folders.
CASES = [
    ("generate", ["generate", "-n", "3", "--seed", "5", "-o", "OUT/gen", "--grid", "OUT/gen_grid.png"]),
    ("generate-upscale", ["generate", "-n", "1", "--seed", "2", "--upscale", "-o", "OUT/genup", "--format", "jpg"]),
    ("generate-walk", ["generate", "--walk", "1,2", "--frames", "2", "-o", "OUT/walk", "--animation", "OUT/walk.gif"]),
    ("upscale", ["upscale", "SAMPLES/photos", "-o", "OUT/up", "--compare", "OUT/up_sheet.png"]),
    ("upscale-ort-jpg", ["upscale", "SAMPLES/photos/lake.png", "--backend", "onnxruntime", "--format", "jpg", "-o", "OUT/upo"]),
    ("upscale-dry-run", ["upscale", "SAMPLES/photos", "-o", "OUT/up", "--dry-run"]),
    ("inpaint", ["inpaint", "SAMPLES/photos", "--masks", "SAMPLES/masks", "-o", "OUT/inp", "--compare", "OUT/inp_sheet.png"]),
    ("inpaint-raw", ["inpaint", "SAMPLES/photos/lake.png", "--masks", "SAMPLES/masks", "--raw-fill", "-o", "OUT/inpraw"]),
    ("translate", ["translate", "SAMPLES/maps", "-o", "OUT/tr", "--compare", "OUT/tr_sheet.png"]),
    ("label", ["label", "SAMPLES/photos", "-o", "OUT/lab", "--compare", "OUT/lab_sheet.png"]),
    ("label-index", ["label", "SAMPLES/photos/lake.png", "-o", "OUT/labi", "--index", "--min-region", "1"]),
    ("info-picture", ["info", "OUT/gen/seed000005.png"]),
    ("palette", ["palette", "-o", "OUT/legend.png"]),
    ("models", ["models", "show"]),
    ("models-list", ["models", "list", "--json"]),
] + [(f"help-{name}", [*name.split(), "--help"]) for name in
     ("", "generate", "translate", "inpaint", "upscale", "label", "palette", "models", "models pull", "info", "export", "train",
      "train dcgan", "serve")]


def machine_kind() -> str:
    """What decides the float kernels: the CPU's units and the runtimes' versions."""
    from landscape.runtime.cpu import facts

    versions = []
    for dist in ("onnxruntime", "onnxruntime-gpu", "openvino"):
        try:
            versions.append(f"{dist}-{metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return " ".join([",".join(facts().units) or "none", *versions])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_case(argv: list[str], out: Path) -> dict:
    argv = [a.replace("OUT", str(out)).replace("SAMPLES", str(SAMPLES)) for a in argv]
    before = {p for p in out.rglob("*") if p.is_file()}
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb", "LANDSCAPE_CACHE": str(out / ".cache"),
           "LANDSCAPE_MODELS_DIR": str(out / "models")}
    env.pop("LANDSCAPE_BACKEND", None)
    env.pop("LANDSCAPE_PRECISION", None)
    done = subprocess.run([sys.executable, "-m", "landscape", *argv], capture_output=True, env=env, cwd=ROOT)
    files = {str(p.relative_to(out)): _sha(p.read_bytes()) for p in sorted(out.rglob("*"))
             if p.is_file() and p not in before and ".cache" not in p.parts}
    stdout = done.stdout.decode().replace(str(out), "OUT").replace(str(SAMPLES), "SAMPLES").replace(str(ROOT), "ROOT")
    return {"exit": done.returncode, "stdout": stdout, "files": files}


RATES = "precision rates"  # the entry that holds the measured rates `--precision auto` chose from


def run_all(rates: dict | None = None) -> dict:
    """Every case's digests, and the precision rates the runs chose from. `auto` measures them
    on first use, and where two precisions are close the measurement can differ from one run
    to the next: so a check run starts from the recorded rates (in this machine's context),
    and what it compares is the code's behaviour on them, not the clock."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ".cache" / "precision"
        folder.mkdir(parents=True)
        for sha256, ms in (rates or {}).items():
            (folder / f"{sha256}.json").write_text(json.dumps({"context": _rates_context(), "ms": ms}))
        results = {name: run_case(argv, Path(tmp)) for name, argv in CASES}
        results[RATES] = {p.stem: json.loads(p.read_text())["ms"] for p in sorted(folder.glob("*.json"))}
        return results


def _rates_context() -> dict:
    from landscape.runtime.precision_rates import context

    return context()


def previous_tree(commit: str, workdir: Path) -> dict:
    """The digests `commit`'s own code and models give on this machine: its tree checked out in a
    git worktree and its output_digests run there (its package first on PYTHONPATH)."""
    tree = workdir / "previous"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True, capture_output=True)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run([sys.executable, "-m", "scripts.output_digests"], cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the digests of {commit} could not be made here:\n{done.stderr[-2000:]}")
        return next(iter(json.loads(done.stdout).values()))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def declared_changes(commit: str) -> set[str]:
    """The cases whose recorded digests differ between `commit`'s digests file and this tree's,
    for the machine kinds both record: what the change since `commit` says it changes. Every case
    where no kind is recorded in both."""
    shown = subprocess.run(["git", "show", f"{commit}:{DIGESTS.relative_to(ROOT)}"], cwd=ROOT, capture_output=True, text=True)
    before = json.loads(shown.stdout) if shown.returncode == 0 else {}
    after = json.loads(DIGESTS.read_text())
    both = set(before) & set(after)
    if not both:
        return {name for name, _ in CASES}
    return {case for kind in both for case in set(before[kind]) | set(after[kind])
            if before[kind].get(case) != after[kind].get(case)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help=f"Write this machine kind's digests into {DIGESTS}.")
    args = parser.parse_args()
    kind = machine_kind()
    recorded = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    results = run_all(None if args.record else recorded.get(kind, {}).get(RATES))
    if args.record:
        recorded[kind] = results
        DIGESTS.parent.mkdir(parents=True, exist_ok=True)
        DIGESTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(results)} cases for {kind}", file=sys.stderr)
    else:
        print(json.dumps({kind: results}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
