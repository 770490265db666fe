"""The `landscape` command: a Typer app with one module per command."""
import logging
import os
import signal
import sys
import warnings

import typer

from landscape import __version__
from landscape.errors import Terminated
from landscape.cli.commands.export import export
from landscape.cli.commands.generate import generate
from landscape.cli.commands.info import info
from landscape.cli.commands.inpaint import inpaint
from landscape.cli.commands.label import label
from landscape.cli.commands.models import models_app
from landscape.cli.commands.palette import palette
from landscape.cli.commands.serve import serve
from landscape.cli.commands.train import train_app
from landscape.cli.commands.translate import translate
from landscape.cli.commands.upscale import upscale

app = typer.Typer(
    name="landscape",
    help="Make and repair landscape pictures with GANs: generate, translate maps, inpaint and upscale, label photos "
    "into maps, over folders; "
    "train your own models and export them. "
    "Written paths go to stdout, everything else to stderr, so commands chain: "
    "landscape generate -n 8 | landscape upscale - -o big/",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's help renderer imports its Markdown stack, half of the start-up budget
    # (docs/PERFORMANCE.md, "Start-up").
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for command in (generate, translate, inpaint, upscale, label, palette, info, export, serve):
    app.command()(command)
app.add_typer(models_app)
app.add_typer(train_app)


def _version(value: bool) -> None:
    if value:
        print(f"landscape {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """Root options."""
    # Pillow warns and logs, in lines that name no picture, about damaged data it skips or
    # refuses ("Tag data larger than file"); the picture is read all the same, or refused
    # with an ItemError that names it. Our pixel limits stand in for its DecompressionBombWarning.
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    pil_log = logging.getLogger("PIL")
    if not pil_log.handlers:  # once, also where landscape serve runs many commands
        pil_log.addHandler(logging.NullHandler())


def run() -> None:
    for signum in TERMINATING:
        if signal.getsignal(signum) is signal.SIG_DFL:  # not where the caller chose to ignore it (nohup)
            signal.signal(signum, _terminate)
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
        raise


# SIGTERM and SIGHUP stop a command as a Ctrl-C does: temp files removed, what was written kept,
# one line, exit 143 or 129 (landscape.errors.Terminated).
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _terminate(signum, frame) -> None:
    raise Terminated(signum)


def _leave(code: object) -> None:
    """Exit with `code` at once when the run has left nothing behind: no thread but daemons
    (tqdm's monitor), no child process. The interpreter's teardown (freeing the models,
    OpenVINO unloading its plugins) took 0.13-0.15 s of a one-picture run, and by now every
    output is written, renamed into place and closed. Where anything still runs (the trainers'
    loader processes), the code is a message, or a profiler or tracer (coverage) waits to write
    its results, the normal exit."""
    import threading

    multiprocessing = sys.modules.get("multiprocessing")
    working = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if (not (code is None or isinstance(code, int)) or working or (multiprocessing and multiprocessing.active_children())
            or sys.getprofile() is not None or sys.gettrace() is not None):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        return  # Python's own exit deals with a closed stream as it always has
    os._exit(code or 0)
