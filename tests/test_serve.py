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
    # Without LD_LIBRARY_PATH: OpenCV's import adds its own folder to this process's, once the
    # tests have imported it, and a server started before that would decline the clients after.
    env = {k: v for k, v in os.environ.items() if k not in ("LANDSCAPE_NO_SERVER", "LD_LIBRARY_PATH")}
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
                    client_env(server, OMP_NUM_THREADS="1"))
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3
    assert "declined `upscale`: another OMP_NUM_THREADS than the server's (read once per process)" in server_log(server)


def test_a_served_command_runs_in_its_clients_environment(server, photos, models):
    """The client's variables hold while its command runs (LANDSCAPE_PRECISION, a Slurm array
    task's --shard auto) and the server's are back afterwards."""
    work = photos.parent
    env = client_env(server, LANDSCAPE_PRECISION="fp32", SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    args = ["upscale", "in", "--model", models["upscale"], "--shard", "auto"]
    served = landscape(args + ["-o", "served"], work, env)
    alone = landscape(args + ["-o", "alone"], work, {**env, "LANDSCAPE_NO_SERVER": "1"})
    assert served.returncode == alone.returncode == 0, served.stderr
    assert served.stdout.replace("served/", "alone/") == alone.stdout and 0 < len(alone.stdout.splitlines()) < 3
    assert "fp32" in served.stderr and _steady(served.stderr) == _steady(alone.stderr)
    assert server_log(server).count("`upscale` exit 0") >= 1
    plain = landscape(["upscale", "in", "--model", models["upscale"], "--shard", "auto", "-o", "x"], work, client_env(server))
    assert plain.returncode == 2 and "no scheduler variables" in plain.stderr  # the server's own environment is back


def _steady(stderr: str) -> str:
    """stderr without the run's time (`... written in 0.4s`)."""
    import re

    return re.sub(r" in [0-9.]+s$", "", stderr, flags=re.M)


def test_a_served_output_has_the_mode_its_clients_umask_gives(server, photos, models, tmp_path):
    work = photos.parent
    for mask, mode in ((0o077, 0o600), (0o022, 0o644), (0o002, 0o664)):
        for where, env in (("served", client_env(server)), ("alone", {**client_env(server), "LANDSCAPE_NO_SERVER": "1"})):
            out = work / f"{where}-{mask:o}"
            res = subprocess.run(f"umask {mask:03o} && {sys.executable} -m landscape upscale in/p0.png -q -o {out} "
                                 f"--model {models['upscale']}", shell=True, cwd=work, env=env, capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            assert (out / "p0.png").stat().st_mode & 0o777 == mode, (where, oct(mask))


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
    """Any source file of the package counts, imported by the server or not, and one that comes."""
    from landscape.cli.server import Server

    (tmp_path / "sub").mkdir()
    source = tmp_path / "sub" / "module.py"
    source.write_text("x = 1\n")
    request = {"argv": ["upscale"], "setting": resident.setting()}
    for change in (lambda: os.utime(source, ns=(0, 0)), lambda: (tmp_path / "new.py").write_text("")):
        server = Server(str(tmp_path / "s.sock"), 0, lambda text: None, lambda argv: None, code_root=tmp_path)
        server.remember_code()
        assert server.declines(request) == "" and not server.stopping
        assert "another Python environment" in server.declines({**request, "setting": {**request["setting"], "python": "/x"}})
        change()
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
                   "environ": client_env(server), "streams": [None, None, None]}
        resident.send(sock, request, [0, 1, 2])
        assert resident.receive(sock) == {"accepted": False, "why": "`serve` is run by the command itself, not by a server"}
    res = landscape(["upscale", "in", "-o", "after", "--model", models["upscale"], "-q"], photos.parent, client_env(server))
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3
    assert "a connection that sent no command: closed" in server_log(server)
    silent.close()


def _open_fds(pid: int) -> int:
    time.sleep(0.5)  # the server closes a connection after answering its client
    return len(os.listdir(f"/proc/{pid}/fd"))


def _server_pid(sock: Path) -> int:
    out = subprocess.run(["fuser", str(sock)], capture_output=True, text=True)
    if out.stdout.strip():
        return int(out.stdout.split()[0])
    for pid in os.listdir("/proc"):  # no fuser: the process whose command line names the socket
        if pid.isdigit():
            try:
                if str(sock) in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "):
                    return int(pid)
            except OSError:
                pass
    raise AssertionError(f"no process serves {sock}")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_the_server_keeps_no_descriptor_of_its_clients(server, photos, models):
    pid = _server_pid(server)
    args = f"{sys.executable} -m landscape upscale in -o piped --overwrite --model {models['upscale']}"
    landscape(["upscale", "in", "-o", "warm", "--model", models["upscale"], "-q"], photos.parent, client_env(server))
    before = _open_fds(pid)
    for _ in range(5):
        assert landscape(["upscale", "in", "-o", "plain", "--overwrite", "--model", models["upscale"], "-q"], photos.parent,
                         client_env(server)).returncode == 0
        subprocess.run(f"{args} | head -1", shell=True, cwd=photos.parent, env=client_env(server), capture_output=True)
    for message in (b"\x00\x00\x00\x05hello", b"\x7f\xff\xff\xff", b"\x00\x00\x10\x00" + b"\xff" * 100):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # garbage, too big, cut short: with descriptors
            sock.connect(str(server))
            socket.send_fds(sock, [message[:4]], [0, 1, 2])
            sock.sendall(message[4:])
            sock.shutdown(socket.SHUT_WR)
            sock.recv(10)
    assert landscape(["upscale", "in", "-o", "after", "--model", models["upscale"], "-q"], photos.parent,
                     client_env(server)).returncode == 0
    assert _open_fds(pid) == before


def test_a_request_nested_thousands_deep_is_dropped_and_the_server_goes_on(server, photos, models):
    deep = b"[" * 100_000 + b"]" * 100_000
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(server))
        socket.send_fds(sock, [len(deep).to_bytes(4, "big")], [0, 1, 2])
        sock.sendall(deep)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(10) == b""
    res = landscape(["upscale", "in", "-o", "after-deep", "--model", models["upscale"], "-q"], photos.parent, client_env(server))
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3


def test_ctrl_c_reaches_a_served_command_blocked_on_its_stdin(server, tmp_path, models):
    """`landscape upscale -` waiting for paths that never come: the client's Ctrl-C ends it at once."""
    proc = subprocess.Popen([sys.executable, "-m", "landscape", "upscale", "-", "-o", "out", "--model", str(models["upscale"])],
                            cwd=tmp_path, env=client_env(server), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)  # the client has handed the command over; it waits for paths on its stdin
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    code = proc.wait(timeout=30)  # stdin stays open: no end of input to end it
    err = proc.stderr.read()
    assert code == 130 and time.monotonic() - started < 3, err
    assert "interrupted" in err and "Traceback" not in err
    proc.stdin.close()
    res = landscape(["upscale", "-", "-o", "then", "--model", models["upscale"], "-q"], tmp_path, client_env(server), stdin="")
    assert res.returncode == 0  # the server goes on, its stdin its own again


def test_sigterm_to_the_server_ends_the_command_as_it_would_end_alone(tmp_path, models):
    """Mid-command: the client exits 143 with one line, no temp file is left, the files written
    are whole, the server leaves; the same command alone ends the same way."""
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    sock = folder / "s.sock"
    for i in range(200):
        write_png(tmp_path / "in" / f"{i:03d}.png", random_image(96, 96, seed=i))
    server = start_server(sock)
    results = {}
    for where in ("served", "alone"):
        env = client_env(sock) if where == "served" else {**client_env(sock), "LANDSCAPE_NO_SERVER": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "landscape", "upscale", "in", "-o", where, "--model", str(models["upscale"])],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3):
            assert proc.stdout.readline().startswith(f"{where}/")
        (server if where == "served" else proc).send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        results[where] = (proc.returncode, err)
        written = sorted((tmp_path / where).iterdir())
        assert 3 <= len(written) < 200 and not [p for p in written if p.name.startswith(".")], where
        from PIL import Image

        for path in written:
            assert Image.open(path).size == (384, 384)
    assert results["served"][0] == results["alone"][0] == 143, results
    for code, err in results.values():
        assert "landscape: terminated (SIGTERM)" in err and "Traceback" not in err
    assert server.wait(timeout=30) == 0 and not sock.exists()
    assert "SIGTERM: leaving" in server_log(sock)


def test_served_notes_and_json_equal_alone_when_a_kept_model_opens_again(server, photos, models):
    """A model kept open says again what it says as it opens (here: its int8 check failed, so it
    runs in the next precision), as every run alone says it."""
    work = photos.parent
    args = ["generate", "-n", "2", "--precision", "int8", "--json"]
    env = client_env(server)
    for _ in range(2):
        served = landscape(args + ["-o", "served", "--overwrite"], work, env)
    alone = landscape(args + ["-o", "alone", "--overwrite"], work, {**env, "LANDSCAPE_NO_SERVER": "1"})
    assert served.returncode == alone.returncode == 0, served.stderr
    assert "running it in" in served.stderr
    assert _steady(served.stderr) == _steady(alone.stderr)
    import json

    def steady(text: str) -> dict:
        record = json.loads(text.replace("served/", "alone/"))
        record.pop("seconds", None)
        return record

    assert steady(served.stdout) == steady(alone.stdout)
