"""`landscape info`: versions, providers and the device `auto` would pick."""
import json
import platform

from landscape_cli.commands import common
from landscape_cli import __version__

PACKAGES = ("onnxruntime-gpu", "onnxruntime", "numpy", "pillow", "opencv-python-headless", "typer", "torch", "onnx")


def _version(dist: str) -> str | None:
    from importlib import metadata  # ~50 ms: kept out of `landscape --help`

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def info(json_mode: common.Json = False) -> None:
    """Show versions, execution providers and the device that --device auto picks.

    Example: landscape info --json
    """
    common.execute(lambda: _info(json_mode))


def _info(json_mode) -> int:
    import onnxruntime

    from landscape_cli.runtime import choose_device, read_manifest

    device = choose_device("auto")
    report = {
        "landscape": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: v for name in PACKAGES if (v := _version(name))},
        "providers": onnxruntime.get_available_providers(),
        "device": device.describe(),
        "bundled_models": [e["task"] + ": " + e["file"] for e in read_manifest()],
    }
    if json_mode:
        print(json.dumps(report, indent=2))
        return 0
    print(f"landscape {report['landscape']} (Python {report['python']}, {report['platform']})")
    for name, version in report["packages"].items():
        print(f"  {name} {version}")
    print(f"providers: {', '.join(report['providers'])}")
    print(f"device (auto): {report['device']}")
    print(f"bundled models: {', '.join(report['bundled_models']) or 'none'}")
    return 0
