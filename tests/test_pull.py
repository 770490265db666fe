"""`landscape models pull`: published models fetched by name from a local HTTP server (127.0.0.1
only, started here; never the internet), checked, imported, listed, run by name and removed;
and every way a download goes wrong ends in one line, a non-zero exit and nothing left in the
models folder. `test_the_registry_urls_serve_the_registered_files` checks the real URLs and
hashes; it runs only with `--network` (a machine with internet)."""
from __future__ import annotations

import errno
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from landscape.runtime import registry
from tests.conftest import random_image, write_png

pytest.importorskip("spandrel")


class Files(http.server.ThreadingHTTPServer):
    """Serves `files` under /good/, /wrong/ (other bytes, same length), /cut/ (half, then the
    connection closes), /slow/ (a trickle); /404/ and /silent/ (never answers) serve nothing.
    `requests` lists the paths asked for."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.requests, self.stop = files, [], threading.Event()
        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, kind: str, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{kind}/{name}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server: Files = self.server
        server.requests.append(self.path)
        kind, _, name = self.path.strip("/").partition("/")
        body = server.files.get(name)
        if kind == "silent":
            server.stop.wait(30)
            return
        if body is None or kind == "404":
            self.send_error(404)
            return
        if kind == "wrong":
            body = bytes(len(body))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if kind == "slow":
            for start in range(0, len(body), 1024):
                if server.stop.is_set():
                    return
                self.wfile.write(body[start : start + 1024])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, str]:
    """A small published upscaler: Real-ESRGAN's Compact network as a .pth state dict."""
    import spandrel
    import torch

    torch.manual_seed(0)
    net = spandrel.architectures.Compact.Compact(num_feat=8, num_conv=2, upscale=2)
    path = tmp_path_factory.mktemp("published") / "tiny-compact.pth"
    torch.save(net.state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def server(published):
    files = Files({published[0].name: published[0].read_bytes()})
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    yield files
    files.stop.set()
    files.shutdown()


@pytest.fixture()
def models_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("LANDSCAPE_MODELS_DIR", str(folder))
    for name in ("LANDSCAPE_OFFLINE", "LANDSCAPE_MODEL_MIRROR", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANDSCAPE_DOWNLOAD_TIMEOUT", "2")
    return folder


def entry(server: Files, published, kind: str = "good", **changes) -> registry.Entry:
    path, sha = published
    base = dict(name="tiny", task="upscale", file=path.name, urls=(server.url(kind, path.name),), size=path.stat().st_size,
                known_hash=f"sha256:{sha}", license="BSD-3-Clause", title="a tiny Compact x2", source="tests")
    return registry.Entry(**{**base, **changes})


@pytest.fixture()
def with_registry(monkeypatch):
    def use(*entries: registry.Entry) -> None:
        monkeypatch.setattr(registry, "entries", lambda: list(entries))

    return use


def one_error(stderr: str) -> str:
    """The run's error line: what stderr holds but the notes that say what is downloaded."""
    lines = [line for line in stderr.splitlines() if ": downloading " not in line]
    assert len(lines) == 1, stderr
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_pulled_model_is_listed_run_by_name_and_removed(server, published, models_dir, with_registry, cli, tmp_path,
                                                          monkeypatch):
    with_registry(entry(server, published))
    res = cli("models", "pull", "tiny")
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(models_dir / "tiny.onnx")
    assert files_in(models_dir) == ["tiny.json", "tiny.onnx"]  # the download went once imported
    record = json.loads((models_dir / "tiny.json").read_text())
    assert record["source_hash"] == f"sha256:{published[1]}" and record["license"] == "BSD-3-Clause"
    listed = json.loads(cli("models", "list", "--json").stdout)
    assert {"name": "tiny", "origin": "pulled"}.items() <= next(r for r in listed["models"] if r["name"] == "tiny").items()
    write_png(tmp_path / "in" / "a.png", random_image(6, 7))
    up = cli("upscale", tmp_path / "in", "--model", "tiny", "-o", tmp_path / "out")
    assert up.exit_code == 0, up.output
    import landscape

    by_name = landscape.Upscaler("tiny", precision="fp32")  # the API (and Ray, through it) takes the name too
    assert by_name.model.path == models_dir / "tiny.onnx" and by_name(random_image(6, 7)).shape == (12, 14, 3)
    again = cli("models", "pull", "tiny")  # nothing fetched again
    assert again.exit_code == 0 and "already pulled" in again.stderr and len(server.requests) == 1
    assert cli("models", "rm", "tiny").exit_code == 0 and files_in(models_dir) == []
    monkeypatch.setenv("LANDSCAPE_OFFLINE", "1")  # online, the command would pull it again
    gone = cli("upscale", tmp_path / "in", "--model", "tiny", "-o", tmp_path / "out2")
    assert gone.exit_code == 2 and "tiny is not pulled yet: landscape models pull tiny" in gone.stderr


def test_a_command_given_a_registry_name_pulls_it_first(server, published, models_dir, with_registry, cli, tmp_path):
    with_registry(entry(server, published))
    write_png(tmp_path / "in" / "a.png", random_image(6, 7))
    res = cli("upscale", tmp_path / "in", "--model", "tiny", "-o", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "tiny: downloading tiny-compact.pth" in res.stderr and (models_dir / "tiny.onnx").is_file()


def test_offline_opens_no_connection_and_names_the_pull(server, published, models_dir, with_registry, cli, tmp_path,
                                                         monkeypatch):
    with_registry(entry(server, published))
    monkeypatch.setenv("LANDSCAPE_OFFLINE", "1")
    write_png(tmp_path / "in" / "a.png", random_image(6, 7))
    res = cli("upscale", tmp_path / "in", "--model", "tiny", "-o", tmp_path / "out")
    assert res.exit_code == 2 and "landscape models pull tiny" in res.stderr
    pulled = cli("models", "pull", "tiny")
    assert pulled.exit_code == 2 and "LANDSCAPE_OFFLINE" in pulled.stderr
    assert server.requests == [] and files_in(models_dir) == []


def test_a_licence_that_is_not_permissive_needs_accepting(server, published, models_dir, with_registry, cli, tmp_path):
    with_registry(entry(server, published, license="CC-BY-NC-4.0"))
    refused = cli("models", "pull", "tiny")
    assert refused.exit_code == 2 and "--accept-license" in refused.stderr and server.requests == []
    write_png(tmp_path / "in" / "a.png", random_image(6, 7))
    unasked = cli("upscale", tmp_path / "in", "--model", "tiny", "-o", tmp_path / "out")  # not pulled unasked
    assert unasked.exit_code == 2 and "landscape models pull tiny" in unasked.stderr and server.requests == []
    assert cli("models", "pull", "tiny", "--accept-license").exit_code == 0


def test_the_mirror_is_tried_first_and_every_url_named_when_none_serves(server, published, models_dir, with_registry,
                                                                         cli, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_MODEL_MIRROR", server.url("404", "").rstrip("/"))
    with_registry(entry(server, published, kind="404"))
    res = cli("models", "pull", "tiny")
    assert res.exit_code == 1 and one_error(res.stderr).count("HTTP 404") == 2 and "nothing was kept" in res.stderr
    assert server.requests[0] == "/404/tiny-compact.pth" and files_in(models_dir) == []
    with_registry(entry(server, published, urls=(server.url("404", "x"), server.url("good", published[0].name))))
    monkeypatch.delenv("LANDSCAPE_MODEL_MIRROR")
    assert cli("models", "pull", "tiny").exit_code == 0  # fell through to the next URL


@pytest.mark.parametrize("kind,reason", [("wrong", "hash"), ("cut", "cut short"), ("silent", "no answer in 2 s")])
def test_a_bad_download_is_one_line_and_leaves_nothing(server, published, models_dir, with_registry, cli, kind, reason):
    with_registry(entry(server, published, kind=kind))
    started = time.monotonic()
    res = cli("models", "pull", "tiny")
    assert res.exit_code == 1 and reason in one_error(res.stderr), res.stderr
    assert files_in(models_dir) == []
    assert time.monotonic() - started < 30  # a silent server costs its timeout per attempt, then the next URL
    if kind != "wrong":
        assert len(server.requests) == 1 + registry.RETRIES  # tried again before giving up


def test_a_disk_that_fills_is_one_line_and_leaves_nothing(server, published, models_dir, with_registry, cli, monkeypatch):
    with_registry(entry(server, published))

    def full(url, output, pooch):
        with open(output, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(registry, "downloader", lambda progressbar: full)
    res = cli("models", "pull", "tiny")
    assert res.exit_code == 1 and "No space left on device" in one_error(res.stderr)
    assert files_in(models_dir) == []


def test_without_pytorch_the_download_is_kept_for_a_later_import(server, published, models_dir, with_registry, cli,
                                                                   monkeypatch):
    with_registry(entry(server, published))
    monkeypatch.setitem(sys.modules, "landscape.export.imported", None)  # `import` of it raises ImportError
    res = cli("models", "pull", "tiny")
    assert res.exit_code == 1 and "pip install 'landscape[train]'" in one_error(res.stderr)
    assert files_in(models_dir) == ["downloads/tiny-compact.pth"]
    monkeypatch.delitem(sys.modules, "landscape.export.imported")
    assert cli("models", "pull", "tiny").exit_code == 0 and len(server.requests) == 1  # imported from what was kept


def test_unknown_names_and_bad_own_files_are_usage_errors(cli, models_dir):
    res = cli("models", "pull", "lamma")
    assert res.exit_code == 2 and "unknown model 'lamma'" in res.stderr and "lama" in res.stderr
    for args in (["mine", "--url", "http://x/f.pth"], ["mine", "--url", "http://x/f.pth", "--sha256", "12"],
                 ["BAD NAME", "--url", "http://x/f.pth", "--sha256", "0" * 64], ["--all", "lama"]):
        assert cli("models", "pull", *args).exit_code == 2, args
    assert cli("models", "rm", "lama").exit_code == 2


def _pull(server: Files, published, models_dir: Path, kind: str = "good") -> subprocess.Popen:
    env = {**os.environ, "LANDSCAPE_MODELS_DIR": str(models_dir), "LANDSCAPE_NO_SERVER": "1"}
    return subprocess.Popen([sys.executable, "-m", "landscape", "models", "pull", "own", "--url",
                             server.url(kind, published[0].name), "--sha256", published[1]], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_pulls_of_one_name_at_once_both_succeed_with_one_file(server, published, models_dir):
    first, second = _pull(server, published, models_dir), _pull(server, published, models_dir)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == second.returncode == 0, outs
    assert outs[0][0] == outs[1][0] == f"{models_dir / 'own.onnx'}\n"
    assert files_in(models_dir) == ["own.json", "own.onnx"]


def test_ctrl_c_mid_download_exits_130_and_leaves_nothing(server, published, models_dir):
    proc = _pull(server, published, models_dir, kind="slow")
    deadline = time.monotonic() + 60
    while not any(p.startswith("/slow/") for p in server.requests) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert files_in(models_dir) == []


@pytest.mark.network
@pytest.mark.parametrize("name", [e.name for e in registry.entries()])
def test_the_registry_urls_serve_the_registered_files(name, tmp_path, monkeypatch):
    """The real URLs, downloaded whole and checked against the registry's hash (internet only)."""
    monkeypatch.setenv("LANDSCAPE_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("LANDSCAPE_DOWNLOAD_TIMEOUT", "120")
    e = registry.entry(name)
    path = registry.fetch(e)
    assert path.stat().st_size == e.size
