"""The GPU plan (gpu/window.py): its runs fit the machine's limits, its slim states fit
their budget, and the whole window runs here on the CPU at tiny sizes."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the whole GPU window rehearsed on the CPU (about a minute)

from gpu import window

ROOT = Path(__file__).resolve().parents[2]

# The five states come back from the GPU in one call (64 MiB, at most 16 MiB a file) beside the run
# records; 44 MB leaves those 20 MB.
SLIM_BUDGET = 44_000_000


def plan_modules(t):
    """The networks of the plan's recipe for `t`, by the names the trainer tracks them under."""
    from landscape.trainers.networks.dcgan import DCGANDiscriminator, build_generator
    from landscape.trainers.networks.span import SPANNet
    from landscape.trainers.networks.glcic import CompletionNetwork
    from landscape.trainers.networks.pix2pix import PatchGAN, PatchGANConfig, UNetGenerator
    from landscape.trainers.networks.segmenter import UNetSegmenter

    c = window.recipe(t)
    if t.family == "dcgan":
        g = build_generator(c.generator())
        return {"g": g, "g_ema": g, "d": DCGANDiscriminator(config=c.discriminator())}
    if t.family == "span":
        g = SPANNet(config=c.generator())
        return {"g": g, "g_ema": g}
    if t.family == "pix2pix":
        return {"g": UNetGenerator(config=c.generator()), "d": PatchGAN(config=PatchGANConfig(width=c.d_width, layers=c.d_layers, scales=c.d_scales))}
    if t.family == "glcic":
        return {"g": CompletionNetwork(config=c.generator())}
    return {"net": UNetSegmenter(config=c.network())}


def test_the_five_slim_states_of_the_plan_fit_44_mb():
    from landscape.trainers.slim import SLIM_RULES

    sizes = {}
    for t in window.PLAN:
        modules = plan_modules(t)
        sizes[t.family] = sum(v.numel() * (2 if v.is_floating_point() else v.element_size())
                              for name in SLIM_RULES[t.family].keep for v in modules[name].state_dict().values())
    assert sum(sizes.values()) <= SLIM_BUDGET, sizes


def test_every_run_fits_the_machine():
    runs = window.window_runs(parts=4)
    assert [r.name for r in runs] == [f"run {k}" for k in range(1, 10)]
    assert all(r.timeout_s <= 600 for r in runs)
    assert all(len(r.carry) <= 8 and all(c.startswith(".device/") for c in r.carry) for r in runs)
    assert all(len(r.command) <= 2000 for r in runs)
    long = next(r for r in runs if " long " in r.command)
    assert long.carry == () and "--budget-s 470" in long.command and long.timeout_s == 530
    # Each part is carried once, in order, and the install comes with the last.
    parts = [c for r in runs for c in r.carry if "part-" in c]
    assert parts == [f".device/ort/part-{k:02d}" for k in range(4)]
    assert "install" in runs[3].command and ".device/whl" in runs[3].carry
    text = window.runs_text(runs)
    assert text.count("```") == 2 * len(runs)


def test_a_changed_recipe_starts_afresh_rather_than_failing(tmp_path):
    from tests.train_helpers import make_photos

    t = next(t for t in window.PLAN if t.family == "span")
    photos = make_photos(tmp_path / "photos", count=8)
    argv = window.trainer_argv(t, tmp_path, tmp_path / "run", slim=None, minutes=1, tiny=True, device="cpu")
    argv[argv.index("--data") + 1] = str(photos)
    argv[argv.index("--steps") + 1] = "2"
    from landscape.trainers.esrgan import main

    assert main(argv) == 0
    state = tmp_path / "run" / "slim.safetensors"
    assert window.slim_fits(t, state, tiny=True)
    assert not window.slim_fits(t, state, tiny=False)  # the full-size recipe is another network
    assert "--resume" not in window.trainer_argv(t, tmp_path, tmp_path / "r2", slim=state, minutes=1, tiny=False, device="cpu")


def test_the_window_rehearses_on_the_cpu():
    """Parts made and joined, the install, two long runs (the second resuming from the first's
    returned slim states), packing within the return limits, and no import the machine lacks."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gpu.window", "rehearse"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.rindex("\n{") + 1:])
    assert report["install"] and report["resumed"] and report["benchmark"] and report["imports"] == []
    assert seconds < 120, f"the rehearsal took {seconds:.0f} s"


@pytest.mark.parametrize("name", ["ceilings", "install", "long", "give-back", "unpack", "prepare"])
def test_every_step_has_help(name):
    done = subprocess.run([sys.executable, "-m", "gpu.window", name, "--help"], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0 and "usage" in done.stdout


@pytest.mark.skipif(not window.SHARED_DATA.is_dir(), reason="no shared data beside the checkout")
def test_the_compact_data_has_the_layout_the_plan_reads(tmp_path):
    dest = tmp_path / "data"
    window.compact_data(window.SHARED_DATA, dest, ROOT / "landscape" / "models" / "label.onnx", limit=6)
    landscapes = sorted((dest / "photos" / "landscapes").iterdir())
    from PIL import Image

    assert len(landscapes) == 6 and all(min(Image.open(p).size) <= 256 for p in landscapes)
    assert len(list((dest / "photos" / "stanford").iterdir())) == len(list((dest / "maps" / "stanford").iterdir())) == 6
    held = set((dest / "held_out_stems.txt").read_text().split())
    maps = {p.stem for p in (dest / "maps" / "landscapes").iterdir()}
    assert maps == {p.stem for p in landscapes} - held and len(held) == 73 + 83
    # Every trainer of the plan finds its data there (the option strings name real folders).
    for t in window.PLAN:
        for value in t.data[1::2]:
            assert Path(value.format(data=dest)).exists(), value


def test_every_committed_slim_state_is_one_the_window_continues():
    """A recipe changed in the plan without its state would start that run afresh, silently."""
    states = sorted((ROOT / "runs" / "slim").glob("*.safetensors"))
    assert {s.stem for s in states} >= {"glcic", "pix2pix", "segmenter"}
    for state in states:
        t = next(t for t in window.PLAN if t.family == state.stem)
        assert window.slim_fits(t, state, tiny=False), state.name
        assert "--resume" in window.trainer_argv(t, ROOT, ROOT / "r", slim=state, minutes=1, tiny=False, device="cpu")
