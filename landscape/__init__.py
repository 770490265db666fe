"""`landscape`: make and repair landscape pictures with GANs, from Python or the `landscape`
command. The tasks (landscape.api) open a model once and run it on arrays or PIL images:

    import landscape
    big = landscape.Upscaler()(image)
    pictures = landscape.Generator()(seeds=[0, 1, 2], upscale=True)

Importing this package is quick and loads no PyTorch: each name below is imported when
first used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = ("Upscaler", "Generator", "Inpainter", "Translator", "Labeller", "read", "write")
_ERRORS = ("LandscapeError", "UsageError", "ModelError", "ItemError", "FatalError")
__all__ = [*_API, *_ERRORS, "__version__"]

if TYPE_CHECKING:
    from landscape.api import Generator, Inpainter, Labeller, Translator, Upscaler, read, write
    from landscape.errors import FatalError, ItemError, LandscapeError, ModelError, UsageError


def __getattr__(name: str) -> Any:
    if name in _API:
        from landscape import api

        return getattr(api, name)
    if name in _ERRORS:
        from landscape import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
