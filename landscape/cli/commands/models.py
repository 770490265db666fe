"""`landscape models`: what each bundled or given model is."""
import sys
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options


@options.spec
class ModelsOptions:
    files: Annotated[Optional[list[Path]], typer.Argument(help="ONNX files to describe beside the bundled models.", show_default=False)] = None
    json_mode: options.Json = False


@options.command(ModelsOptions)
def models(opts: ModelsOptions) -> int:
    """Describe models: task, family, sizes, sha256, training data, parity.

    Example: landscape models my_upscaler.onnx
    """
    import json

    from landscape.errors import ModelError
    from landscape.runtime.sessions import bundled_dir, read_info, read_manifest, sha256_file

    # (path, origin, sha256 the manifest expects or None)
    entries = [(bundled_dir() / e["file"], "bundled", e["sha256"]) for e in read_manifest()]
    entries += [(Path(f), "given", None) for f in opts.files or []]
    rows, failed = [], 0
    for path, origin, expected in entries:
        try:
            if not path.is_file():
                raise ModelError(f"{path}: no such model file")
            info = read_info(path)
            digest = sha256_file(path)
            if expected is not None and digest != expected:
                raise ModelError(f"{path}: sha256 {digest} does not match the manifest ({expected}): damaged installation")
        except ModelError as exc:
            print(f"landscape: {exc}", flush=True, file=sys.stderr)
            failed += 1
            continue
        raw = info.raw
        rows.append({
            "file": str(path), "origin": origin, "task": info.task, "family": info.family,
            "arch": raw.get("arch"), "precision": raw.get("precision"), "native_size": list(info.native_size),
            "size_multiple": info.size_multiple, "dynamic_hw": info.dynamic_hw, "size_mb": round(path.stat().st_size / 1e6, 2),
            "sha256": digest, "training": raw.get("training"), "parity": raw.get("parity"),
            **({"latent_dim": info.latent_dim} if info.latent_dim else {}),
            **({"scale": info.scale} if info.scale else {}),
            **({"classes": list(info.classes)} if info.classes else {}),
        })
    if opts.json_mode:
        print(json.dumps(rows, indent=2))
    else:
        if not entries:
            print("landscape: no bundled models in this installation; pass ONNX files to describe them", file=sys.stderr)
        for row in rows:
            size = "x".join(str(v) for v in row["native_size"])
            print(f"{row['file']} ({row['origin']})\n  task {row['task']}, family {row['family']} ({row['arch']}, "
                  f"{row['precision']}), native {size}, multiple {row['size_multiple']}, {row['size_mb']} MB\n"
                  f"  sha256 {row['sha256']}\n  trained: {row['training']}")
    return 1 if failed else 0
