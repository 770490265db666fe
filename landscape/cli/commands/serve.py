"""`landscape serve`: a resident process that runs the model commands of this user's shell, so
that each `landscape` invocation costs an interpreter's start instead of imports and a model
compilation."""
import sys
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options
from landscape.errors import UsageError


Socket = Annotated[Optional[str], typer.Option("--socket", help="Unix socket to listen on (default: $LANDSCAPE_SOCKET, else "
                                              "landscape/serve.sock in $XDG_RUNTIME_DIR, else in /tmp/landscape-UID/).",
                                              show_default=False)]
Idle = Annotated[float, typer.Option("--idle", help="Leave after this many seconds without a command; 0 = never.")]
Models = Annotated[int, typer.Option("--models", help="Models kept open (compiled) between commands; the one used longest "
                                     "ago is closed first.")]


# Not an options.command: the body needs the running app (Typer's context), to run the commands
# it is handed with it.
def serve(ctx: typer.Context, socket: Socket = None, idle: Idle = 1800.0, models: Models = 4) -> None:
    """Keep models open for the commands run in this user's shells (generate, translate, inpaint,
    upscale, label): while it runs, `landscape` hands those commands to it and they start at
    once; results, output and exit codes are the same as without it. Leaves on SIGTERM, Ctrl-C
    or --idle; LANDSCAPE_NO_SERVER=1 makes a command run on its own.

    Example: landscape serve --idle 600 &
    """
    from landscape.cli import resident, server
    from landscape.cli.reporting import execute

    def body() -> int:
        options.check_positive("--models", models)
        if idle < 0:
            raise UsageError(f"--idle must be >= 0, got {idle:g}")
        app = ctx.find_root().command
        server.serve(socket or resident.socket_path(), idle, models, lambda argv: app.main(args=argv, prog_name="landscape"),
                     lambda text: print(f"landscape serve: {text}", file=sys.stderr, flush=True))
        return 0

    execute(body)
