"""Published models pulled by name: the registry (landscape/models/registry.json: each model's
file, URLs, size, hash and licence, with where its hash comes from), the folder they are
imported into, a name resolved to its file, and the download that fetches and verifies one.

- The folder: $LANDSCAPE_MODELS_DIR, else the platform's user data folder for landscape
  (platformdirs: ~/.local/share/landscape/models on Linux). A pulled model is NAME.onnx with
  NAME.json (its record) beside it; downloads wait in downloads/ until they are imported.
- The download (pooch): into a temporary file beside its destination, kept only once its hash
  matches; a failed attempt (a cut body, a reset, a timeout) is tried again, then the next URL.
  LANDSCAPE_MODEL_MIRROR (a base URL) is tried first; the system's proxy settings hold
  (HTTPS_PROXY, ...); LANDSCAPE_OFFLINE=1 opens no connection at all; a server that does not
  answer gives up after LANDSCAPE_DOWNLOAD_TIMEOUT seconds (30).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional

from landscape.errors import LandscapeError, ModelError, UsageError

# Licences a model is pulled under without --accept-license (SPDX ids).
PERMISSIVE = frozenset({"MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "Zlib", "CC0-1.0", "Unlicense",
                        "CC-BY-4.0"})
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
RETRIES = 2  # more attempts per URL after a failed one
DEFAULT_TIMEOUT = 30.0


class DownloadError(LandscapeError):
    """No URL gave the file whole and with its hash, or it could not be kept: exit 1."""


@dataclass(frozen=True)
class Entry:
    """One model a user can pull."""

    name: str
    task: Optional[str]  # None: what the import finds (a user's own URL)
    file: str
    urls: tuple[str, ...]
    size: Optional[int]
    known_hash: str  # "sha256:HEX" or "md5:HEX", as pooch takes it
    license: str
    title: str = ""
    source: str = ""
    hash_source: str = ""

    @property
    def permissive(self) -> bool:
        return self.license in PERMISSIVE

    def describe_size(self) -> str:
        return f"{self.size / 1e6:.1f} MB" if self.size else "size unknown"


def entries() -> list[Entry]:
    data = json.loads((resources.files("landscape.models") / "registry.json").read_text())
    return [Entry(name=e["name"], task=e["task"], file=e["file"], urls=tuple(e["urls"]), size=e.get("size"),
                  known_hash=f"sha256:{e['sha256']}" if "sha256" in e else f"md5:{e['md5']}", license=e["license"],
                  title=e.get("title", ""), source=e.get("source", ""), hash_source=e.get("hash_source", ""))
            for e in data["models"]]


def entry(name: str) -> Entry:
    """The registry's entry for `name`, or a usage error that lists the names it knows."""
    for found in entries():
        if found.name == name:
            return found
    raise UsageError(f"unknown model {name!r}; the registry has: {', '.join(e.name for e in entries())} "
                     "(or give your own: landscape models pull NAME --url URL --sha256 HEX)")


def own_entry(name: str, url: str, sha256: str) -> Entry:
    """A file of the user's own (a company mirror's), pulled under `name`."""
    check_name(name)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256 or ""):
        raise UsageError(f"--sha256 {sha256!r}: 64 hexadecimal digits")
    if not url.startswith(("https://", "http://", "file://")):
        raise UsageError(f"--url {url!r}: an http(s):// or file:// address")
    file = os.path.basename(url.split("?", 1)[0]) or f"{name}.pth"
    return Entry(name=name, task=None, file=file, urls=(url,), size=None, known_hash=f"sha256:{sha256.lower()}",
                 license="unknown (your own file)", title="", source=url, hash_source="given with --sha256")


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise UsageError(f"model name {name!r}: lower-case letters, digits, '.', '_' and '-', at most 64")


def models_dir() -> Path:
    if os.environ.get("LANDSCAPE_MODELS_DIR"):
        return Path(os.environ["LANDSCAPE_MODELS_DIR"])
    import platformdirs

    return Path(platformdirs.user_data_dir("landscape", appauthor=False)) / "models"


def pulled_path(name: str) -> Optional[Path]:
    """NAME.onnx in the models folder, where it has been pulled (its record beside it)."""
    onnx = models_dir() / f"{name}.onnx"
    return onnx if onnx.is_file() and onnx.with_suffix(".json").is_file() else None


def pulled() -> list[tuple[str, Path, dict[str, Any]]]:
    """(name, file, record) of every model in the models folder."""
    folder = models_dir()
    found = []
    for record_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        onnx = record_path.with_suffix(".onnx")
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
        if onnx.is_file() and isinstance(record, dict):
            found.append((record_path.stem, onnx, record))
    return found


def resolve(spec: str) -> Optional[Path]:
    """The file a model name stands for: a pulled model's; a registry name not pulled yet is a
    ModelError naming the command that pulls it; None where `spec` is no name at all."""
    if not NAME.match(spec):
        return None
    path = pulled_path(spec)
    if path is not None:
        return path
    known = {e.name: e for e in entries()}
    if spec in known:
        e = known[spec]
        raise ModelError(f"{spec} is not pulled yet: landscape models pull {spec} ({e.describe_size()}, {e.license})")
    return None


def offline() -> bool:
    return os.environ.get("LANDSCAPE_OFFLINE", "") not in ("", "0")


def _timeout() -> float:
    text = os.environ.get("LANDSCAPE_DOWNLOAD_TIMEOUT", "")
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise UsageError(f"LANDSCAPE_DOWNLOAD_TIMEOUT={text!r}: a number of seconds") from None


def urls(e: Entry) -> list[str]:
    """Where to fetch from, in order: the mirror named by LANDSCAPE_MODEL_MIRROR, then the entry's."""
    mirror = os.environ.get("LANDSCAPE_MODEL_MIRROR", "").rstrip("/")
    return ([f"{mirror}/{e.file}"] if mirror else []) + list(e.urls)


def downloader(progressbar: Any) -> Any:
    """pooch's HTTP downloader with our timeouts and progress bar (the file:// addresses of a
    local mirror are copied)."""
    import pooch

    seconds = _timeout()
    return pooch.HTTPDownloader(progressbar=progressbar, timeout=(min(seconds, 10.0), seconds))


def fetch(e: Entry, progressbar: Any = False, note: Callable[[str], None] = lambda text: None) -> Path:
    """The entry's file in downloads/, its hash checked: already there, or downloaded now (the
    URLs in turn, each tried 1 + RETRIES times). ModelError in one line where none serves it."""
    import pooch
    import requests

    folder = models_dir() / "downloads"
    target = folder / e.file
    if offline() and not target.is_file():
        raise ModelError(f"{e.name}: not downloaded: LANDSCAPE_OFFLINE is set (copy {e.file} into {folder}, "
                         "or pull it on a machine that is online)")
    pooch.get_logger().setLevel("WARNING")  # its own lines say what ours say
    failures = []
    for url in urls(e):
        fetcher = pooch.create(path=folder, base_url="", registry={e.file: e.known_hash}, urls={e.file: url},
                               retry_if_failed=RETRIES, allow_updates=not offline())
        try:
            if not target.is_file():
                note(f"{e.name}: downloading {e.file} ({e.describe_size()}, {e.license}) from {url}")
            return Path(fetcher.fetch(e.file, downloader=_local_or_http(url, progressbar)))
        except ValueError as exc:  # the body came whole, every time, but not with the hash
            failures.append(f"{url}: {_first(exc)}")
        except requests.exceptions.RequestException as exc:
            failures.append(f"{url}: {_network_reason(exc)}")
        except OSError as exc:
            raise DownloadError(f"{e.name}: cannot write {folder}: {exc.strerror or exc}; nothing was kept") from None
        finally:
            _remove_if_empty(folder)
    raise DownloadError(f"{e.name}: {e.file} not downloaded ({'; '.join(failures)}); nothing was kept")


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # holds a download, or is gone
        pass


def _local_or_http(url: str, progressbar: Any) -> Any:
    if url.startswith("file://"):
        import shutil

        return lambda source, output, pooch: shutil.copyfile(source[len("file://"):], output)
    return downloader(progressbar)


def _network_reason(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer in {_timeout():g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the body was cut short, {1 + RETRIES} times"
    return _first(exc)


def _first(exc: BaseException) -> str:
    from landscape.errors import first_line

    return first_line(exc, 160)
