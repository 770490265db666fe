"""What `landscape serve` and the `landscape` command share: where the server's socket is, how a
message crosses it, which commands it runs, and what in a client's setting must match the
server's for it to run them.

Imported on every start of the command, before anything else: the standard library's light
modules only.
"""
import json
import os
import socket
import struct
import sys

# The commands that run over folders with a model: a server keeps the model open between them.
# The others (export, train, info...) open no model or run long enough not to care.
COMMANDS = frozenset({"generate", "translate", "inpaint", "upscale", "label"})

# Environment variables that change what a command does or where it keeps things. The server
# runs a client's command only where they read the same in both.
SHAPING = ("HOME", "XDG_CACHE_HOME", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
NOT_SHAPING = ("LANDSCAPE_SOCKET", "LANDSCAPE_NO_SERVER")

_LENGTH = struct.Struct(">I")


def supported() -> bool:
    """Unix sockets that carry file descriptors (Linux, macOS, the BSDs)."""
    return hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")


def socket_path(environ=os.environ) -> str:
    """$LANDSCAPE_SOCKET, else a folder of this user's in $XDG_RUNTIME_DIR or the temp folder."""
    if environ.get("LANDSCAPE_SOCKET"):
        return environ["LANDSCAPE_SOCKET"]
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "landscape", "serve.sock")
    return os.path.join(environ.get("TMPDIR") or "/tmp", f"landscape-{os.getuid()}", "serve.sock")


def setting(environ=os.environ) -> dict:
    """What a command's results depend on beyond its arguments and files: the code that runs
    it, the environment that shapes it, and the cores it may use."""
    import landscape

    shaping = {k: v for k, v in environ.items()
               if (k.startswith("LANDSCAPE_") and k not in NOT_SHAPING) or k in SHAPING}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"version": landscape.__version__, "package": os.path.dirname(landscape.__file__), "python": sys.prefix,
            "environment": shaping, "cores": cores}


def same_user(sock: socket.socket, path: str) -> bool:
    """Whether the other end of a connected Unix socket is this user's process: Linux tells
    (SO_PEERCRED); elsewhere the socket file's owner stands for it."""
    if hasattr(socket, "SO_PEERCRED"):
        _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    else:
        uid = os.stat(path).st_uid
    return uid == os.getuid()


def send(sock: socket.socket, message: dict, fds: "list[int] | None" = None) -> None:
    """`message`, with `fds` passed along its first bytes where given."""
    body = json.dumps(message).encode()
    head = _LENGTH.pack(len(body))
    if fds:
        socket.send_fds(sock, [head], fds)
        sock.sendall(body)
    else:
        sock.sendall(head + body)


def receive_with_fds(sock: socket.socket, count: int) -> "tuple[dict | None, list[int]]":
    """The next message and the `count` file descriptors sent along with it (any that came,
    to be closed by the caller, also where the message did not)."""
    first, fds, _, _ = socket.recv_fds(sock, _LENGTH.size, count)
    if not first:
        return None, fds
    return receive(sock, first), fds


def receive(sock: socket.socket, first: bytes = b"") -> "dict | None":
    """The next message, or None where the other side closed the connection first."""
    head = _exactly(sock, _LENGTH.size, first)
    if head is None:
        return None
    body = _exactly(sock, _LENGTH.unpack(head)[0])
    return None if body is None else json.loads(body)


def _exactly(sock: socket.socket, count: int, first: bytes = b"") -> "bytes | None":
    data = bytearray(first)
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
