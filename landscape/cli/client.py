"""The `landscape` command's entry point: a command that a running `landscape serve` can run is
handed to it (arguments, working folder, umask, and the process's own stdin, stdout and stderr,
passed as file descriptors), and this process waits for its exit code; otherwise, or where no
server answers or it declines, the command runs here as always.

A shell loop over files (`for f in *.jpg; do landscape upscale "$f"; done`) then pays for an
interpreter and this module (tens of milliseconds), not for numpy, OpenCV, OpenVINO and a model
compilation at every file (docs/PERFORMANCE.md, "A resident server").
"""
import os
import select
import signal
import socket
import sys

from landscape.cli import resident

BUSY_NOTE_AFTER = 1.0  # seconds without the server's answer before saying that it is busy


def run() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in resident.COMMANDS and resident.supported() and not os.environ.get("LANDSCAPE_NO_SERVER"):
        code = forward(argv)
        if code is not None:
            sys.stdout.flush()
            os._exit(code)
    from landscape.cli.main import run as run_here

    run_here()


def forward(argv: list[str]) -> "int | None":
    """The exit code of `argv` run by the server; None where no server took it (nothing ran)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        path = resident.socket_path()
        try:
            sock.connect(path)
            if not resident.same_user(sock, path):  # another user's server must not get our streams
                return None
            request = {"argv": argv, "cwd": os.getcwd(), "umask": _umask(), "setting": resident.setting(),
                       "environ": dict(os.environ),
                       "streams": [[stream.encoding, stream.errors] if stream else None
                                   for stream in (sys.stdin, sys.stdout, sys.stderr)]}
        except OSError:  # no server; or the working folder is gone, which the command says itself
            return None
        fds, opened = _standard_fds()
        try:
            resident.send(sock, request, fds)
            if not select.select([sock], [], [], BUSY_NOTE_AFTER)[0] and not {"-q", "--quiet"} & set(argv):
                print("landscape: waiting for the server, which runs one command at a time "
                      "(LANDSCAPE_NO_SERVER=1 runs a command on its own)", file=sys.stderr, flush=True)
            answer = resident.receive(sock)
        except OSError:
            return None
        except KeyboardInterrupt:  # before the server took the command: nothing ran
            print("landscape: interrupted", file=sys.stderr)
            return 130
        finally:
            for fd in opened:
                os.close(fd)
        if not answer or not answer.get("accepted"):
            return None
        return _wait(sock, path)


def _wait(sock: socket.socket, path: str) -> int:
    """The server runs the command: pass a Ctrl-C, SIGTERM or hang-up on to it once, as the
    signal's number in one byte (it stops the command as that signal would here, removing temp
    files, and answers 130, 143 or 129); a second one leaves at once."""
    asked = []

    def interrupt(signum, frame):
        if asked:
            os._exit(128 + signum)
        asked.append(signum)
        try:
            sock.sendall(bytes([signum]))
        except OSError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        done = resident.receive(sock)
    except OSError:
        done = None
    if done is None:
        print(f"landscape: the server at {path} ended before the command did", file=sys.stderr)
        return 1
    return int(done["code"])


def _standard_fds() -> tuple[list[int], list[int]]:
    """This process's fds 0, 1 and 2 (/dev/null for any that is closed), and those opened here."""
    fds, opened = [], []
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            opened.append(os.open(os.devnull, mode))
            fds.append(opened[-1])
    return fds, opened


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
