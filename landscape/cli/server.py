"""`landscape serve`'s loop: one process that keeps the commands' code imported and their models
compiled, and runs the commands that `landscape` hands it (landscape.cli.client), one at a time,
each in its client's working folder, umask and standard streams.

A command's result does not depend on where it ran: the client's own stdin, stdout and stderr
are the command's (terminal checks, progress bars and pipes behave as in the client), and so are
its environment, working folder and umask while it runs; its exit code is the client's; a
Ctrl-C, SIGTERM or hang-up of the client stops it here as it would there (a real signal to the
main thread, which also breaks a blocking read), and a SIGTERM or hang-up of the server stops
the command as it would stop it alone (exit 143 or 129) and then the server. A client whose
setting (the code, the interpreter, the variables read once per process, the cores) differs
from the server's is declined and runs its command itself. So is every client once any of
landscape's source files has changed on disk since the server started; the server then stops.
"""
import io
import os
import select
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from landscape.cli import resident
from landscape.errors import Terminated, UsageError, interrupted_code, interruption


REQUEST_SECONDS = 10.0


@dataclass
class Server:
    path: str
    idle: float  # seconds without a client before the server leaves; 0: never
    log: Callable[[str], None]
    run: Callable[[list[str]], None]  # the app: runs one command line and exits with its code
    setting: dict = field(default_factory=resident.setting)
    code_root: Path = field(default_factory=lambda: Path(__file__).resolve().parents[1])  # the landscape package
    code_files: dict = field(default_factory=dict)  # its source files -> mtime at the start
    stopping: str = ""  # why the loop ends after the current client

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(self.idle or None)
        self.log(f"serving on {self.path}: `landscape {'|'.join(sorted(resident.COMMANDS))}` run here "
                 "(LANDSCAPE_NO_SERVER=1 runs a command on its own)")
        try:
            while not self.stopping:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    self.log(f"no command for {self.idle:g} s: leaving")
                    return
                with conn:
                    conn.settimeout(REQUEST_SECONDS)  # a client that connects and says nothing must not hold the server
                    self.take(conn)
        except Terminated as exc:  # between commands: nothing to stop but the server
            self.stopping = f"{exc}: leaving"
        self.log(self.stopping)

    def take(self, conn: socket.socket) -> None:
        if not resident.same_user(conn, self.path):
            return
        fds: list[int] = []
        try:
            request, fds = resident.receive_with_fds(conn, 3)
            if not _well_formed(request) or len(fds) != 3:
                self.log("a connection that sent no command: closed")
                return
            conn.settimeout(None)  # from here the command takes what it takes
            why = self.declines(request)
            resident.send(conn, {"accepted": not why, "why": why})
            if why:
                self.log(f"declined `{' '.join(request['argv'][:1])}`: {why}")
                return
            start = time.perf_counter()
            code, by_client = run_command(self.run, request, fds, conn)
            if code > 128 and not by_client:  # the server's own Ctrl-C, SIGTERM or hang-up
                self.stopping = f"{_SIGNALLED[-1] if _SIGNALLED else 'interrupted'}: leaving"
            resident.send(conn, {"code": code})
            self.log(f"`{request['argv'][0]}` exit {code} in {time.perf_counter() - start:.2f} s")
        except (OSError, ValueError):
            pass  # the client is gone (its command was interrupted by the watch), or spoke garbage
        finally:
            for fd in fds:
                os.close(fd)

    def declines(self, request: dict) -> str:
        """Why this server must not run the request's command; '' where it may."""
        if self.code_changed():
            self.stopping = "landscape's code changed on disk: leaving"
            return "landscape's code changed on disk since the server started"
        if request["argv"][0] not in resident.COMMANDS:
            return f"`{request['argv'][0]}` is run by the command itself, not by a server"
        theirs = request.get("setting", {})
        for key, what in (("version", "landscape version"), ("package", "landscape package"), ("python", "Python environment"),
                          ("cores", "cores allowed")):
            if theirs.get(key) != self.setting[key]:
                return f"another {what} than the server's"
        ours, their_env = self.setting["environment"], theirs.get("environment")
        if their_env != ours:
            names = sorted(k for k in set(ours) | set(their_env if isinstance(their_env, dict) else {})
                           if not isinstance(their_env, dict) or their_env.get(k) != ours.get(k))
            return f"another {', '.join(names[:3]) or 'environment'} than the server's (read once per process)"
        return ""

    def remember_code(self) -> None:
        self.code_files = _source_files(self.code_root)

    def code_changed(self) -> bool:
        """Whether any of landscape's source files, imported yet or not, changed, came or went."""
        return _source_files(self.code_root) != self.code_files


def _source_files(root: Path) -> dict:
    """Every .py file under `root` -> its mtime (the package's 150 files: a millisecond)."""
    files = {}
    for path in root.rglob("*.py"):
        try:
            files[str(path)] = path.stat().st_mtime_ns
        except OSError:
            pass
    return files


def serve(path: str, idle: float, models: int, run: Callable[[list[str]], None], log: Callable[[str], None]) -> None:
    """Run the command lines that clients send with `run` (the app), listening on `path` until
    `idle` seconds pass without a client, SIGTERM, or a Ctrl-C."""
    if not resident.supported():
        raise UsageError("landscape serve needs Unix sockets that pass file descriptors (Linux or macOS)")
    started_in = resident.setting()  # before the imports: libraries set variables of their own as they load
    _warm_up(models)
    server = Server(path, idle, log, run, setting=started_in)
    server.remember_code()
    handlers = [(signum, _stop) for signum in STOPPING] + [(INTERRUPT, _interrupt)]
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers}
    try:
        with _listening(path) as listener:
            server.serve(listener)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# A client's Ctrl-C, SIGTERM or hang-up reaches its command through a signal of the server's
# own, sent to the main thread (a real signal, so that a read blocked on the client's stdin
# returns to raise it): SIGINT may be ignored here (a server started with `&` from a script
# inherits that). What the client asked for is in _PENDING.
INTERRUPT = getattr(signal, "SIGUSR1", signal.SIGINT)
STOPPING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_PENDING: list[int] = []
_SIGNALLED: list[str] = []  # the server's own SIGTERM or SIGHUP, by name


def _interrupt(signum, frame) -> None:
    asked = _PENDING.pop() if _PENDING else signal.SIGINT
    if asked == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(asked)


def _stop(signum, frame) -> None:
    """The server's own SIGTERM or hang-up: a command running stops as it would alone (exit 143
    or 129), then the server; between commands, the server."""
    _SIGNALLED.append(signal.Signals(signum).name)
    raise Terminated(signum)


def _warm_up(models: int) -> None:
    """Import what the commands import, so that the first client does not wait for it, and keep
    up to `models` models open between commands."""
    import importlib

    from landscape.runtime import openvino_backend, sessions

    for name in ("landscape.api", "landscape.imaging.codec", "landscape.imaging.outputs",
                 "landscape.cli.stages", "landscape.cli.provenance"):
        importlib.import_module(name)
    if openvino_backend.available():
        openvino_backend.openvino()
    sessions.keep_models_open(models)


@contextmanager
def _listening(path: str) -> Iterator[socket.socket]:
    folder = os.path.dirname(path) or "."
    _private_folder(folder)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with probe:
        try:
            probe.connect(path)
            raise UsageError(f"{path}: a server is already listening there")
        except (FileNotFoundError, ConnectionRefusedError):
            pass
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise UsageError(f"{path}: exists and is not a socket")
        os.unlink(path)  # a server that died without removing it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = None
    try:
        listener.bind(path)
        os.chmod(path, 0o600)
        bound = os.stat(path).st_ino
        listener.listen(16)
        yield listener
    finally:
        listener.close()
        try:
            if bound is not None and os.stat(path).st_ino == bound:  # not a newer server's
                os.unlink(path)
        except OSError:
            pass


def _private_folder(folder: str) -> None:
    """The socket's folder: made for this user alone, or refused where others could enter it."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot make the socket's folder ({exc.strerror})") from None
    info = os.stat(folder)
    if info.st_uid != os.getuid() or (info.st_mode & 0o077 and not info.st_mode & stat.S_ISVTX):
        raise UsageError(f"{folder}: the socket's folder must belong to you and be closed to others "
                         "(chmod 700), or be a sticky folder like /tmp")


def _well_formed(request: object) -> bool:
    environ = request.get("environ") if isinstance(request, dict) else None
    return (isinstance(request, dict) and isinstance(request.get("argv"), list) and len(request["argv"]) > 0
            and all(isinstance(a, str) for a in request["argv"]) and isinstance(request.get("cwd"), str)
            and isinstance(request.get("umask"), int) and 0 <= request["umask"] <= 0o777
            and isinstance(environ, dict) and all(isinstance(k, str) and isinstance(v, str) and k and "=" not in k
                                                  and "\0" not in k + v for k, v in environ.items())
            and isinstance(request.get("setting"), dict)
            and isinstance(request.get("streams"), list) and len(request["streams"]) == 3
            and all(c is None or (isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c))
                    for c in request["streams"]))


def run_command(run: Callable[[list[str]], None], request: dict, fds: list[int], conn: socket.socket) -> tuple[int, bool]:
    """The exit code of the request's command, run with the client's streams on fds 0-2, in its
    environment, folder and umask (the server's own are back afterwards), and whether the
    client interrupted it."""
    from landscape.imaging import outputs

    saved_fds = [os.dup(n) for n in (0, 1, 2)]
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_environ = dict(os.environ)
    saved_cwd, saved_umask = os.getcwd(), os.umask(request["umask"])
    outputs.umask_set(request["umask"])
    try:
        _environ_as(request["environ"])
        for n, fd in enumerate(fds):
            os.dup2(fd, n)
        sys.stdin, sys.stdout, sys.stderr = (_stream(n, request["streams"][n]) for n in (0, 1, 2))
        try:
            os.chdir(request["cwd"])
        except OSError as exc:
            print(f"landscape: {request['cwd']}: cannot work in this folder ({exc.strerror})", file=sys.stderr)
            return 2, False
        with _watched(conn) as watch:
            code = _exit_code(run, request["argv"])
        return code, watch.interrupted
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for n, fd in enumerate(saved_fds):
            os.dup2(fd, n)
            os.close(fd)
        os.chdir(saved_cwd)
        os.umask(saved_umask)
        outputs.umask_set(saved_umask)
        _environ_as(saved_environ)


def _environ_as(environ: dict) -> None:
    """os.environ (and the C library's, which putenv keeps in step) made `environ`; the temp
    folder Python remembers is read again from it (TMPDIR)."""
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    os.environ.update(environ)
    tempfile.tempdir = None


def _exit_code(run: Callable[[list[str]], None], argv: list[str]) -> int:
    try:
        run(argv)
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # one that reached here before the command's own handling
        print(f"landscape: {interruption(exc)}", file=sys.stderr)
        return interrupted_code(exc)
    except Exception:  # a bug: the client gets the traceback a command run alone would print
        traceback.print_exc()
        return 1


def _stream(fd: int, coding: Optional[list]) -> io.TextIOWrapper:
    """A text stream on `fd` as Python makes sys.stdin/out/err: the client's encoding and error
    handler, line-buffered on a terminal (and always for stderr)."""
    encoding, errors = coding or ("utf-8", "strict")
    if fd == 0:
        return io.TextIOWrapper(io.BufferedReader(io.FileIO(fd, "r", closefd=False)), encoding, errors)
    return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding, errors,
                            line_buffering=fd == 2 or os.isatty(fd))


class _Watch:
    """Interrupts the running command when its client sends a Ctrl-C or goes away."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.wake_r, self.wake_w = os.pipe()
        self.lock = threading.Lock()
        self.done = False
        self.interrupted = False
        self.thread = threading.Thread(target=self._watch, name="landscape-serve-watch", daemon=True)

    def _watch(self) -> None:
        readable, _, _ = select.select([self.conn, self.wake_r], [], [])
        if self.wake_r in readable:
            return
        try:
            said = self.conn.recv(1)
        except OSError:
            said = b""
        # The signal the client got, or a hang-up where it went away without a word.
        asked = said[0] if said and said[0] in (signal.SIGINT, *STOPPING) else getattr(signal, "SIGHUP", signal.SIGINT)
        with self.lock:
            if not self.done:
                self.interrupted = True
                _PENDING[:] = [asked]
                signal.pthread_kill(threading.main_thread().ident, INTERRUPT)

    def finish(self) -> None:
        """No interrupt after this; one asked for before it is raised here at the latest."""
        with self.lock:
            self.done = True

    def close(self) -> None:
        os.write(self.wake_w, b"x")
        self.thread.join()
        os.close(self.wake_r)
        os.close(self.wake_w)


@contextmanager
def _watched(conn: socket.socket) -> Iterator[_Watch]:
    watch = _Watch(conn)
    watch.thread.start()
    try:
        yield watch
    finally:
        try:
            watch.finish()
        except KeyboardInterrupt:  # asked for as the command ended: nothing left to interrupt
            pass
        watch.close()
