"""`landscape info`: versions, providers, the CPU's units, and the device, backend and
precision that `auto` picks for each bundled model (and why); or, given a picture, how it was
made and the command that remakes it."""
import json
import platform
import sys
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options
from landscape import __version__

PACKAGES = ("onnxruntime-gpu", "onnxruntime", "openvino", "numpy", "pillow", "opencv-python-headless", "typer", "torch", "onnx")


def _version(dist: str) -> str | None:
    from importlib import metadata  # a slow import: kept out of `landscape --help`

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@options.spec
class InfoOptions:
    pictures: Annotated[Optional[list[Path]], typer.Argument(help="Pictures made by landscape: print how each was made "
                                                            "and, for generated ones, the command that remakes it.",
                                                            show_default=False)] = None
    json_mode: options.Json = False
    device: options.Device = "auto"
    backend: options.Backend = "auto"
    precision: options.Precision = "auto"


@options.command(InfoOptions)
def info(opts: InfoOptions) -> int:
    """Show versions, providers, the CPU's units, and for each bundled model the device, backend
    and precision that these options choose, and why.

    Example: landscape info --json    (or: landscape info generated/seed000007.png)
    """
    if opts.pictures:
        return _pictures(opts.pictures, opts.json_mode)
    return _info(opts.json_mode, options.Placement(opts.device, 0, opts.backend, opts.precision))


def _pictures(pictures: list[Path], json_mode: bool) -> int:
    """How each picture was made, from the record it carries (landscape.cli.provenance)."""
    from landscape.cli import provenance
    from landscape.errors import ItemError
    from landscape.runtime.sessions import read_manifest

    bundled = {e["file"]: e["sha256"] for e in read_manifest()}
    failed = 0
    rows = []
    for path in pictures:
        try:
            record = provenance.read(path)
        except ItemError as exc:
            print(f"landscape: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        remake = provenance.remake_command(record)
        changed = [m["file"] for m in record["models"].values() if m["bundled"] and bundled.get(m["file"]) != m["sha256"]]
        rows.append({"picture": str(path), "record": record, "remake": remake, "bundled_models_changed": changed})
        if json_mode:
            continue
        models = ", ".join(f"{task} {m['file']} (sha256 {m['sha256'][:12]})" for task, m in record["models"].items())
        print(f"{path}: {record['command']} by landscape {record['version']}, {record['backend']} "
              f"{record['precision']} on {record['device']}; models: {models}")
        if remake:
            print(f"  remake: {remake}")
        for name in changed:
            print(f"  note: the bundled {name} of this installation differs from the one that made it")
    if json_mode:
        print(json.dumps(rows, indent=2))
    return 1 if failed else 0


def _info(json_mode, placement: options.Placement) -> int:
    import onnxruntime

    from landscape.runtime.cpu import facts
    from landscape.runtime.sessions import choose_device, cuda_problem, load_model, read_manifest

    device = choose_device(placement.device, placement.threads, placement.backend, placement.precision)
    notes: list[str] = []
    runs = {}
    for entry in read_manifest():
        model = load_model(entry["task"], None, device, note=notes.append)
        runs[entry["task"]] = {"backend": model.backend, "precision": model.precision, "why": model.why}
    report = {
        "landscape": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: v for name in PACKAGES if (v := _version(name))},
        "cpu": {"model": facts().model, "units": list(facts().units), "bf16": facts().has_bf16},
        "providers": onnxruntime.get_available_providers(),
        "device": device.describe(),
        "cuda": "usable" if device.name == "cuda" else cuda_problem(),
        "models": runs,
        "notes": notes,
    }
    if json_mode:
        print(json.dumps(report, indent=2))
        return 0
    print(f"landscape {report['landscape']} (Python {report['python']}, {report['platform']})")
    for name, version in report["packages"].items():
        print(f"  {name} {version}")
    print(f"cpu: {facts().describe()}")
    print(f"providers: {', '.join(report['providers'])}")
    print(f"cuda: {report['cuda']}")
    print(f"device: {report['device']}")
    for task, run in runs.items():
        print(f"  {task}: {run['backend']} {run['precision']}" + (f" ({run['why']})" if run["why"] else ""))
    for text in notes:
        print(f"note: {text}")
    return 0
