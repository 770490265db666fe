"""`landscape train FAMILY [OPTIONS]`: the trainers' own command lines, reached from the CLI.

Each family's options are defined once, by its trainer's config dataclass; this module only
forwards the arguments (so `landscape train dcgan --help` lists them) and maps the exit code.
"""
from __future__ import annotations

import importlib
import sys

import typer

INSTALL_HINT = "landscape train needs PyTorch: pip install 'landscape[train]'"

train_app = typer.Typer(
    name="train",
    help="Train a model on your images (needs the train extras). Each family's --help lists its options; "
    "runs write checkpoints that `landscape export` turns into ONNX.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, as the root app: see main.py
    context_settings={"help_option_names": ["-h", "--help"]},
)

FAMILIES = {
    "dcgan": ("dcgan", "Unconditional generator (DCGAN / ResUp, DiffAugment, WGAN variants, EMA). "
              "Example: landscape train dcgan --data photos/ --resolution 128"),
    "pix2pix": ("pix2pix", "Segmentation map -> photo (U-Net + PatchGAN). "
                "Example: landscape train pix2pix --data photos/ --maps maps/"),
    "glcic": ("glcic", "Masked inpainting (GLCIC: global + local discriminators, three phases). "
              "Example: landscape train glcic --data photos/"),
    "inpaint": ("glcic", "Same as glcic (the inpainting task's name). Example: landscape train inpaint --data photos/"),
    "esrgan": ("esrgan", "4x super-resolution (RRDB; L1 then optional GAN phase). "
               "Example: landscape train esrgan --data photos/ --steps 100000"),
    "upscale": ("esrgan", "Super-resolution (the upscale task): RRDB (x4) or SPAN (--arch span, x2 or x4, fine-tuned "
                "from the published weights). Example: landscape train upscale --arch span --init-from span_x4.safetensors --data photos/"),
    "segmenter": ("segmenter", "Photo -> segmentation map (U-Net with a class head; `landscape label`). "
                  "Example: landscape train segmenter --data images/ --maps labels/ --class-map stanford"),
}


def _forwarder(name: str, module: str, summary: str):
    def command(ctx: typer.Context) -> None:
        try:
            trainer = importlib.import_module(f"landscape.trainers.{module}")
        except ImportError as exc:
            print(f"landscape: {INSTALL_HINT} ({exc})", file=sys.stderr, flush=True)
            raise typer.Exit(1) from None
        raise typer.Exit(trainer.main(list(ctx.args), prog=f"landscape train {name}"))

    command.__doc__ = summary
    command.__name__ = f"train_{name}"
    return command


for _name, (_module, _summary) in FAMILIES.items():
    train_app.command(
        _name,
        add_help_option=False,  # --help goes to the trainer, which knows the options
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    )(_forwarder(_name, _module, _summary))
