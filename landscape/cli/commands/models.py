"""`landscape models`: the models this installation can run (bundled, pulled, and those the
registry can pull), what a model file is, and pulling and removing published models by name."""
import sys
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import options
from landscape.errors import UsageError

models_app = typer.Typer(
    name="models",
    help="The models: bundled, pulled and available to pull (`landscape models` lists them); "
    "`show` describes model files, `pull` fetches published ones by name, `rm` removes pulled ones.",
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Names = Annotated[Optional[list[str]], typer.Argument(help="Registry names (see `landscape models`).", show_default=False)]


@options.spec
class ListOptions:
    json_mode: options.Json = False


@options.command(ListOptions)
def list_models(opts: ListOptions) -> int:
    """List the bundled, pulled and pullable models: task, size, licence, where each file is.

    Example: landscape models list --json
    """
    import json

    from landscape.runtime import registry
    from landscape.runtime.sessions import bundled_dir, read_manifest

    rows = []
    for e in read_manifest():
        path = bundled_dir() / e["file"]
        rows.append({"name": Path(e["file"]).stem, "origin": "bundled", "task": e["task"], "license": e.get("license", "MIT"),
                     "size_mb": _mb(path), "file": str(path)})
    pulled = {name: (path, record) for name, path, record in registry.pulled()}
    for name, (path, record) in pulled.items():
        rows.append({"name": name, "origin": "pulled", "task": record.get("task"), "license": record.get("license"),
                     "size_mb": _mb(path), "file": str(path)})
    for e in registry.entries():
        if e.name not in pulled:
            rows.append({"name": e.name, "origin": "available", "task": e.task, "license": e.license,
                         "size_mb": round((e.size or 0) / 1e6, 1), "file": e.urls[0],
                         "pull": f"landscape models pull {e.name}" + ("" if e.permissive else " --accept-license")})
    if opts.json_mode:
        print(json.dumps({"models_dir": str(registry.models_dir()), "models": rows}, indent=2))
        return 0
    print(f"{'name':<26} {'origin':<10} {'task':<8} {'MB':>7}  {'licence':<14} file")
    for row in rows:
        size = "" if row["size_mb"] is None else f"{row['size_mb']:.1f}"
        print(f"{row['name']:<26} {row['origin']:<10} {row['task'] or '?':<8} {size:>7}  {row['license']:<14} {row['file']}")
    print(f"models folder: {registry.models_dir()} (LANDSCAPE_MODELS_DIR)", file=sys.stderr)
    return 0


def _mb(path: Path) -> Optional[float]:
    return round(path.stat().st_size / 1e6, 2) if path.is_file() else None


@options.spec
class ShowOptions:
    files: Annotated[Optional[list[str]], typer.Argument(help="ONNX files, or names of pulled models, to describe "
                                                        "(none: the bundled models).", show_default=False)] = None
    json_mode: options.Json = False


@options.command(ShowOptions)
def show(opts: ShowOptions) -> int:
    """Describe models: task, family, sizes, sha256, training data, parity.

    Example: landscape models show my_upscaler.onnx
    """
    import json

    from landscape.errors import ModelError
    from landscape.runtime import registry
    from landscape.runtime.sessions import bundled_dir, read_info, read_manifest, sha256_file

    # (path, origin, sha256 the manifest expects or None)
    entries = [(bundled_dir() / e["file"], "bundled", e["sha256"]) for e in read_manifest()] if not opts.files else []
    for given in opts.files or []:
        pulled = registry.pulled_path(given) if registry.NAME.match(given) and not Path(given).exists() else None
        entries.append((pulled or Path(given), "pulled" if pulled else "given", None))
    rows, failed = [], 0
    for path, origin, expected in entries:
        try:
            if not path.is_file():
                raise ModelError(f"{path}: no such model file")
            info = read_info(path)
            digest = sha256_file(path)
            if expected is not None and digest != expected:
                raise ModelError(f"{path}: sha256 {digest} does not match the manifest ({expected}): damaged installation")
        except ModelError as exc:
            print(f"landscape: {exc}", flush=True, file=sys.stderr)
            failed += 1
            continue
        raw = info.raw
        rows.append({
            "file": str(path), "origin": origin, "task": info.task, "family": info.family,
            "arch": raw.get("arch"), "precision": raw.get("precision"), "native_size": list(info.native_size),
            "size_multiple": info.size_multiple, "dynamic_hw": info.dynamic_hw, "size_mb": round(path.stat().st_size / 1e6, 2),
            "sha256": digest, "training": raw.get("training"), "parity": raw.get("parity"),
            **({"latent_dim": info.latent_dim} if info.latent_dim else {}),
            **({"scale": info.scale} if info.scale else {}),
            **({"classes": list(info.classes)} if info.classes else {}),
        })
    if opts.json_mode:
        print(json.dumps(rows, indent=2))
    else:
        if not entries:
            print("landscape: no bundled models in this installation; pass ONNX files to describe them", file=sys.stderr)
        for row in rows:
            size = "x".join(str(v) for v in row["native_size"])
            print(f"{row['file']} ({row['origin']})\n  task {row['task']}, family {row['family']} ({row['arch']}, "
                  f"{row['precision']}), native {size}, multiple {row['size_multiple']}, {row['size_mb']} MB\n"
                  f"  sha256 {row['sha256']}\n  trained: {row['training']}")
    return 1 if failed else 0


@options.spec
class PullOptions:
    names: Names = None
    all_models: Annotated[bool, typer.Option("--all", help="Every model of the registry (those of permissive licences, "
                                             "or all with --accept-license).")] = False
    accept_license: Annotated[bool, typer.Option("--accept-license", help="Pull models whose licence is not permissive "
                                                 "(non-commercial, research only): you say your use is allowed.")] = False
    url: Annotated[Optional[str], typer.Option("--url", help="A file of your own (a company mirror's) to pull under NAME, "
                                               "with --sha256.", show_default=False)] = None
    sha256: Annotated[Optional[str], typer.Option("--sha256", help="With --url: the file's sha256, checked before "
                                                  "anything is kept.", show_default=False)] = None
    quiet: options.Quiet = False


@options.command(PullOptions)
def pull(opts: PullOptions) -> int:
    """Download published models by name, check their hashes, import them (`landscape export`) into
    the models folder; then `--model NAME` runs them in every command. Prints each model's file.

    Example: landscape models pull lama && landscape inpaint photos/ --masks masks/ --model lama
    """
    from landscape.cli import pull as pulling
    from landscape.runtime import registry

    names = list(opts.names or [])
    if opts.url or opts.sha256:
        if not (opts.url and opts.sha256) or len(names) != 1 or opts.all_models:
            raise UsageError("--url and --sha256 go together, with one NAME to pull the file under")
        wanted = [registry.own_entry(names[0], opts.url, opts.sha256)]
        accept = True  # the user's own file: its terms are the user's to know
    else:
        if opts.all_models == bool(names):
            raise UsageError("name the models to pull, or --all (`landscape models` lists them)")
        wanted = [e for e in registry.entries() if opts.accept_license or e.permissive] if opts.all_models \
            else [registry.entry(n) for n in names]
        accept = opts.accept_license
    note = (lambda text: None) if opts.quiet else (lambda text: print(f"landscape: {text}", file=sys.stderr, flush=True))
    for e in wanted:
        print(pulling.pull(e, accept_license=accept, note=note, quiet=opts.quiet), flush=True)
    return 0


@options.spec
class RemoveOptions:
    names: Names = None


@options.command(RemoveOptions)
def rm(opts: RemoveOptions) -> int:
    """Remove pulled models (and any download of theirs waiting to be imported).

    Example: landscape models rm lama
    """
    from landscape.runtime import registry

    if not opts.names:
        raise UsageError("name the pulled models to remove (`landscape models` lists them)")
    folder = registry.models_dir()
    known = {e.name: e for e in registry.entries()}
    for name in opts.names:
        registry.check_name(name)
        files = [folder / f"{name}.onnx", folder / f"{name}.json"]
        if name in known:
            files.append(folder / "downloads" / known[name].file)
        present = [f for f in files if f.exists()]
        if not present:
            raise UsageError(f"{name}: not pulled (in {folder}); bundled models stay with the installation")
        for f in present:
            f.unlink()
        print(f"landscape: {name}: removed", file=sys.stderr, flush=True)
    return 0


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """The models: bundled, pulled and available to pull."""
    if ctx.invoked_subcommand is None:
        list_models(json_mode=False)


models_app.command("list")(list_models)
models_app.command()(show)
models_app.command()(pull)
models_app.command()(rm)
