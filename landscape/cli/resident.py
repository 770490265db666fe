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

# A command runs with its client's whole environment. These variables, though, are read once per
# process (thread pools, libraries loaded, tqdm's defaults, where OpenVINO keeps compiled models),
# so the server runs a client's command only where they read the same in both.
ONCE_PER_PROCESS = ("OMP_", "MKL_", "OPENBLAS_", "KMP_", "TBB_", "OV_", "ONEDNN_", "DNNL_", "CUDA_", "LD_",
                    "PYTHON", "TQDM_", "LANDSCAPE_CACHE", "HOME", "XDG_CACHE_HOME")

_LENGTH = struct.Struct(">I")
MAX_MESSAGE = 4 << 20  # bytes: a request is an argument list and an environment


class BadMessage(ValueError):
    """What came over the socket is not a message (too big, not JSON, nested past reason)."""


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
    """What a command's results depend on beyond its arguments, files and the environment it is
    given: the code that runs it, the variables read once per process, and the cores it may use."""
    import landscape

    shaping = {k: v for k, v in environ.items() if k.upper().startswith(ONCE_PER_PROCESS)}
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
    """The next message and the file descriptors sent along with it (any that came, up to
    `count`, to be closed by the caller, also where the message did not). Those that came with
    a message that cannot be read are closed here before the error goes on."""
    first, fds, _, _ = socket.recv_fds(sock, _LENGTH.size, count)
    if not first:
        return None, fds
    try:
        return receive(sock, first), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def receive(sock: socket.socket, first: bytes = b"") -> "dict | None":
    """The next message, or None where the other side closed the connection first; BadMessage
    for anything that is not one."""
    head = _exactly(sock, _LENGTH.size, first)
    if head is None:
        return None
    length = _LENGTH.unpack(head)[0]
    if length > MAX_MESSAGE:
        raise BadMessage(f"a message of {length} bytes (at most {MAX_MESSAGE})")
    body = _exactly(sock, length)
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise BadMessage(f"not JSON ({type(exc).__name__})") from None


def _exactly(sock: socket.socket, count: int, first: bytes = b"") -> "bytes | None":
    data = bytearray(first)
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
