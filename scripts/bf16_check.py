"""Measure each bundled model's bf16 output against its fp32 output (landscape.runtime.bf16_check)
and record the verdict in the model's metadata, so that `--precision auto` knows at once
whether bf16 may run it; the manifest's sha256 follows the rewritten files.

Needs a CPU with AMX or AVX512-BF16 units and the train extras (onnx):

    python -m scripts.bf16_check            # measure and record
    python -m scripts.bf16_check --check    # print the verdicts, change nothing
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnx

REPO = Path(__file__).resolve().parents[1]

from landscape.runtime import bf16_check
from landscape.runtime.cpu import facts
from landscape.imaging.outputs import atomic_write
from landscape.runtime.sessions import MANIFEST, bundled_dir, read_info, read_manifest, sha256_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="print the verdicts without writing them")
    args = parser.parse_args(argv)
    if not facts().has_bf16:
        raise SystemExit(f"this CPU ({facts().describe()}) has no bf16 units: the check needs AMX or AVX512-BF16")
    print(f"cpu: {facts().describe()}")
    manifest_path = bundled_dir() / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["models"]:
        path = bundled_dir() / entry["file"]
        verdict = bf16_check.record_for(path, read_info(path))
        print(f"{entry['task']}: {bf16_check.describe(verdict)} -> {'bf16' if verdict['passed'] else 'fp32'} under auto")
        if args.check:
            continue
        proto = onnx.load(str(path))
        kept = [p for p in proto.metadata_props if p.key != bf16_check.METADATA_KEY]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        proto.metadata_props.add(key=bf16_check.METADATA_KEY, value=json.dumps(verdict, sort_keys=True))
        atomic_write(path, proto.SerializeToString())
        entry["sha256"] = sha256_file(path)
    if not args.check:
        atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        assert all(bf16_check.recorded(read_info(bundled_dir() / e["file"])) for e in read_manifest())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
