"""Training options: one frozen dataclass per family is the single source of truth for the
command line, `config.json` and validation. Fields carry their help text; `parse` builds
argparse from them, so an option cannot exist in one place and be missing in another."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

# Options that may change when a run is resumed; anything else would make the resumed run a
# different experiment from the one its checkpoints came from.
RESUMABLE = ("steps", "max_minutes", "workers", "device", "checkpoint_every", "sample_every", "eval_every", "log_every",
             "keep_last", "warmup_steps")
# A slim state continues on another machine, in a new run folder: the data's place, the batch
# that fills that machine and its precision settings may differ too.
SLIM_RESUMABLE = RESUMABLE + ("data", "maps", "holdout_list", "batch_size", "amp", "memory_format", "compile",
                              "device_data", "d_rewarm_steps", "init_from")


class OptionError(ValueError):
    """An invalid option or combination of options (a usage error, exit 2)."""


def opt(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser(config_type: type, prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    hints = typing.get_type_hints(config_type)
    for field in dataclasses.fields(config_type):
        kind, meta = hints[field.name], field.metadata
        shown = "required" if field.default == "" and field.name == "data" else f"default: {field.default!r}"
        help_text = f"{meta.get('help', '')} ({shown})"
        kwargs: dict[str, Any] = {"help": help_text, "dest": field.name}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is tuple:
            kwargs.update(nargs="+", type=typing.get_args(kind)[0], metavar="V")
        else:
            kwargs["type"] = kind
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
        parser.add_argument(_flag(field.name), **kwargs)
    parser.add_argument("--out", type=Path, help="new run folder (must not exist; default runs/<family>-<time>)")
    parser.add_argument("--resume", type=Path, metavar="RUN|STATE",
                        help=f"continue the run in this folder from its newest loadable checkpoint (only "
                        f"{', '.join(_flag(n) for n in RESUMABLE)} may be changed), or continue a slim state "
                        f"(a run's slim.safetensors, runs/slim/FAMILY.safetensors) in a new run folder (--out), "
                        f"where {', '.join(_flag(n) for n in SLIM_RESUMABLE[len(RESUMABLE):])} may change too")
    parser.add_argument("--dry-run", action="store_true", help="validate everything, print the resolved config and the plan, train nothing")
    return parser


def make(config_type: type, values: dict[str, Any]) -> Any:
    """A validated config from JSON-like values; unknown keys and bad values raise OptionError."""
    names = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise OptionError(f"unknown option(s): {', '.join(unknown)}")
    hints = typing.get_type_hints(config_type)
    coerced = {k: tuple(v) if typing.get_origin(hints[k]) is tuple else v for k, v in values.items()}
    try:
        return config_type(**coerced)
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc)) from None


def to_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def parse(config_type: type, argv: list[str], prog: str, description: str) -> tuple[Any, argparse.Namespace]:
    """(config, run_args) where run_args holds out / resume / dry_run. On --resume the config
    comes from the run's config.json with the resumable options given here applied."""
    parser = build_parser(config_type, prog, description)
    given = vars(parser.parse_args(argv))
    run_args = argparse.Namespace(out=given.pop("out", None), resume=given.pop("resume", None),
                                  dry_run=given.pop("dry_run", False))
    if run_args.resume is not None:
        slim = run_args.resume.is_file()
        # Each family's trainer module defines its config: landscape.trainers.esrgan.ESRGANConfig is esrgan's
        # (under `python -m landscape.trainers.esrgan` the module is __main__, its spec still names it).
        module = sys.modules[config_type.__module__]
        family = (module.__spec__.name if module.__spec__ else module.__name__).rsplit(".", 1)[-1]
        # A trainer of several families (esrgan's: RRDB and SPAN) names them in TRAINS.
        families = getattr(module, "TRAINS", (family,))
        saved = _slim_train_config(run_args.resume, families) if slim else _folder_train_config(run_args, run_args.resume)
        allowed = SLIM_RESUMABLE if slim else RESUMABLE
        changed = sorted(k for k, v in given.items() if k not in allowed and saved.get(k) != _jsonable(v))
        if changed:
            raise OptionError(f"cannot change {', '.join(_flag(k) for k in changed)} when resuming; start a new run instead")
        return make(config_type, {**saved, **given}), run_args
    return make(config_type, given), run_args


def _folder_train_config(run_args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    if run_args.out is not None:
        raise OptionError("--resume RUN continues its own folder; --out cannot be given with it")
    path = folder / "config.json"
    try:
        return json.loads(path.read_text())["train"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise OptionError(f"{path}: not a run folder's config ({exc})") from None


def _slim_train_config(path: Path, families: tuple[str, ...]) -> dict[str, Any]:
    from landscape.trainers.checkpoint import CheckpointError, read_config

    try:
        config = read_config(path)
    except CheckpointError as exc:
        raise OptionError(f"--resume {exc}") from None
    if "slim" not in config:
        raise OptionError(f"--resume {path}: a full checkpoint, not a slim state; resume its run folder instead")
    if config["family"] not in families:
        raise OptionError(f"--resume {path}: a slim state of {config['family']}, not of {' or '.join(families)}")
    return config["train"]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))
