"""`landscape serve`: commands handed to a resident process give what they give alone (bytes,
stdout, stderr, exit codes), a Ctrl-C in the client stops them, and a client the server must not
serve runs its command itself."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import random_image, tree_digest, write_png
from landscape.cli import resident

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not resident.supported(), reason="Unix sockets that pass file descriptors")


def start_server(sock: Path, *extra: str) -> subprocess.Popen:
    log = open(sock.parent / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "landscape", "serve", "--socket", str(sock), *extra], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log, env=client_env(sock))
    deadline = time.monotonic() + 60
    while "serving on" not in server_log(sock):
        assert proc.poll() is None and time.monotonic() < deadline, server_log(sock)
        time.sleep(0.05)
    return proc


def server_log(sock: Path) -> str:
    return (sock.parent / "serve.log").read_text()


def client_env(sock: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LANDSCAPE_NO_SERVER"}
    return {**env, "LANDSCAPE_SOCKET": str(sock), **extra}


def landscape(args: list, cwd: Path, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landscape", *map(str, args)], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    os.chmod(folder, 0o700)
    sock = folder / "s.sock"
    proc = start_server(sock)
    yield sock
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert not sock.exists()


@pytest.fixture()
def photos(tmp_path) -> Path:
    for i in range(3):
        write_png(tmp_path / "in" / f"p{i}.png", random_image(24, 32, seed=i))
    return tmp_path / "in"


def test_a_served_command_gives_what_it_gives_alone(server, photos, models):
    work = photos.parent
    args = ["upscale", "in", "--model", models["upscale"], "-q"]
    served = landscape(args + ["-o", "served"], work, client_env(server))
    alone = landscape(args + ["-o", "alone"], work, {**client_env(server), "LANDSCAPE_NO_SERVER": "1"})
    assert served.returncode == alone.returncode == 0, served.stderr
    # Paths as the client named them, relative to its folder.
    assert served.stdout == "".join(f"served/p{i}.png\n" for i in range(3))
    assert alone.stdout == served.stdout.replace("served/", "alone/")
    assert tree_digest(work / "served") == tree_digest(work / "alone")
    assert server_log(server).count("`upscale` exit 0") == 1  # the served run, and only it


def test_stdin_paths_failures_and_usage_errors_come_back(server, photos, models):
    work = photos.parent
    (photos / "broken.png").write_text("not a picture")
    env = client_env(server)
    res = landscape(["upscale", "-", "-o", "out", "--model", models["upscale"]], work, env,
                    stdin=f"{photos / 'p0.png'}\n{photos / 'broken.png'}\n")
    assert res.returncode == 1
    assert res.stdout == "out/p0.png\n"
    assert "broken.png" in res.stderr and "1 written" in res.stderr and "1 failed" in res.stderr
    usage = landscape(["upscale", "in", "--tile", "-3", "--model", models["upscale"]], work, env)
    assert usage.returncode == 2 and "tile" in usage.stderr
    before = server_log(server)
    assert "`upscale` exit 1" in before and "`upscale` exit 2" in before


def test_ctrl_c_in_the_client_stops_the_served_command(server, tmp_path, models):
    for i in range(300):
        write_png(tmp_path / "in" / f"{i:03d}.png", random_image(96, 96, seed=i))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "landscape", "upscale", "in", "-o", "out", "--model", str(models["upscale"])],
                            cwd=tmp_path, env=client_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().startswith("out/")
    # A second client waits for the first command, and says so.
    waiting = subprocess.Popen([sys.executable, "-m", "landscape", "upscale", "in/001.png", "-o", "second", "--model",
                                str(models["upscale"])], cwd=tmp_path, env=client_env(server), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert "waiting for the server" in waiting.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    second_out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and second_out == "second/001.png\n"
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "`upscale` exit 130" in server_log(server)
    written = sorted(out.iterdir())
    assert 1 <= len(written) < 300 and all(p.suffix == ".png" and not p.name.startswith(".") for p in written)
    # The server goes on serving.
    again = landscape(["upscale", "in/000.png", "-o", "again", "--model", models["upscale"], "-q"], tmp_path,
                      client_env(server))
    assert again.returncode == 0 and again.stdout == "again/000.png\n"


def test_a_client_with_another_setting_runs_its_command_itself(server, photos, models):
    res = landscape(["upscale", "in", "-o", "out", "--model", models["upscale"], "-q"], photos.parent,
                    client_env(server, LANDSCAPE_PRECISION="fp32"))
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3
    assert "declined `upscale`: another LANDSCAPE_*" in server_log(server)


def test_without_a_live_server_the_command_runs_itself(tmp_path, photos, models):
    stale = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stale))
    listener.close()  # the file stays, nobody listens: a server that was killed
    for sock in (stale, tmp_path / "none.sock"):
        res = landscape(["upscale", "in", "-o", f"out-{sock.stem}", "--model", models["upscale"], "-q"], photos.parent,
                        client_env(sock))
        assert res.returncode == 0 and len(res.stdout.splitlines()) == 3, res.stderr


def test_serve_refuses_a_taken_socket_and_an_open_folder(server, tmp_path):
    env = client_env(server)
    taken = landscape(["serve", "--socket", server], tmp_path, env)
    assert taken.returncode == 2 and "already listening" in taken.stderr
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    os.chmod(open_folder, 0o777)
    res = landscape(["serve", "--socket", open_folder / "s.sock"], tmp_path, env)
    assert res.returncode == 2 and "closed to others" in res.stderr


def test_an_idle_server_leaves_and_a_killed_ones_socket_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    sock = folder / "s.sock"
    killed = start_server(sock)
    killed.kill()
    killed.wait()
    assert sock.exists()
    idle = start_server(sock, "--idle", "0.5")
    assert idle.wait(timeout=30) == 0
    assert "no command for 0.5 s: leaving" in server_log(sock) and not sock.exists()


def test_a_server_whose_code_changed_declines_and_stops(tmp_path):
    from landscape.cli.server import Server

    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    server = Server(str(tmp_path / "s.sock"), 0, lambda text: None, lambda argv: None)
    server.code_files = {str(source): source.stat().st_mtime_ns}
    request = {"argv": ["upscale"], "setting": resident.setting()}
    assert server.declines(request) == "" and not server.stopping
    assert "another Python environment" in server.declines({**request, "setting": {**request["setting"], "python": "/elsewhere"}})
    os.utime(source, ns=(0, 0))
    assert "code changed" in server.declines(request) and server.stopping


def test_models_kept_open_are_reopened_when_their_file_changes(models, monkeypatch, tmp_path):
    import shutil

    from landscape.runtime import sessions

    monkeypatch.setattr(sessions, "_kept_open", None)
    sessions.keep_models_open(2)
    device = sessions.choose_device("cpu", 1)
    copy = Path(shutil.copy(models["label"], tmp_path / "label.onnx"))
    first = sessions.load_model("label", copy, device)
    assert sessions.load_model("label", copy, device) is first
    os.utime(copy, ns=(0, 0))
    second = sessions.load_model("label", copy, device)
    assert second is not first
    for task in ("upscale", "generate"):
        sessions.load_model(task, models[task], device)
    assert len(sessions._kept_open) == 2 and sessions.load_model("label", copy, device) is not second


def test_the_client_and_the_server_take_only_their_own_users_end(monkeypatch):
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert resident.same_user(left, "unused")
        monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
        assert not resident.same_user(left, "unused")


def test_a_server_drops_what_is_not_a_request_and_goes_on(server, photos, models):
    """A client that says nothing (the server gives up on it after REQUEST_SECONDS), garbage, a
    message without its descriptors, and a command the server does not run."""
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(str(server))
    for message in (b"\x00\x00\x00\x05hello", b"\x00\x00\x00\x02{}"):  # not JSON; JSON without descriptors
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(server))
            sock.sendall(message)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(server))
        request = {"argv": ["serve"], "cwd": "/", "umask": 0o22, "setting": resident.setting(client_env(server)),
                   "streams": [None, None, None]}
        resident.send(sock, request, [0, 1, 2])
        assert resident.receive(sock) == {"accepted": False, "why": "`serve` is run by the command itself, not by a server"}
    res = landscape(["upscale", "in", "-o", "after", "--model", models["upscale"], "-q"], photos.parent, client_env(server))
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3
    assert "a connection that sent no command: closed" in server_log(server)
    silent.close()
