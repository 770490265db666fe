"""`landscape serve`: a resident process that runs the model commands of this user's shell, so
that each `landscape` invocation costs an interpreter's start instead of imports and a model
compilation."""
import sys
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options
from landscape.errors import UsageError


@options.spec
class ServeOptions:
    socket: Annotated[Optional[str], typer.Option("--socket", help="Unix socket to listen on (default: $LANDSCAPE_SOCKET, else "
                                                  "landscape/serve.sock in $XDG_RUNTIME_DIR, else in /tmp/landscape-UID/).",
                                                  show_default=False)] = None
    idle: Annotated[float, typer.Option("--idle", help="Leave after this many seconds without a command; 0 = never.")] = 1800.0
    models: Annotated[int, typer.Option("--models", help="Models kept open (compiled) between commands; the one used "
                                        "longest ago is closed first.")] = 4


@options.command(ServeOptions)
def serve(opts: ServeOptions) -> int:
    """Keep models open for the commands run in this user's shells (generate, translate, inpaint,
    upscale, label): while it runs, `landscape` hands those commands to it and they start at
    once; results, output and exit codes are the same as without it. Leaves on SIGTERM, Ctrl-C
    or --idle; LANDSCAPE_NO_SERVER=1 makes a command run on its own.

    Example: landscape serve --idle 600 &
    """
    from landscape.cli import resident, server

    options.check_positive("--models", opts.models)
    if opts.idle < 0:
        raise UsageError(f"--idle must be >= 0, got {opts.idle:g}")
    server.serve(opts.socket or resident.socket_path(), opts.idle, opts.models,
                 lambda text: print(f"landscape serve: {text}", file=sys.stderr, flush=True))
    return 0
