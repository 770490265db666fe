"""The CLI end to end on tiny exported models: exit codes, stdout = written paths, partial
failure, inputs untouched, no temp files, resumable runs, models checked before images."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import random_image, tree_digest, write_png

REPO = Path(__file__).resolve().parents[1]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*") if p.is_file()]


@pytest.fixture()
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    write_png(folder / "a.png", random_image(20, 28, seed=1))
    write_png(folder / "b c#é.png", random_image(9, 13, seed=2))
    Image.fromarray(random_image(11, 17, seed=3)).save(folder / "d.jpg", quality=90)
    return folder


def test_generate_writes_seed_named_files_and_prints_exactly_them(tmp_path, cli, models):
    out = tmp_path / "gen"
    res = cli("generate", "-n", 5, "--seed", 10, "-o", out, "--model", models["generate"], "--batch-size", 2,
              "--grid", tmp_path / "grid.png")
    assert res.exit_code == 0, res.stderr
    expected = [str(out / f"seed{s:06d}.png") for s in range(10, 15)]
    assert lines(res.stdout) == expected
    assert sorted(str(p) for p in out.iterdir()) == expected
    assert Image.open(tmp_path / "grid.png").size == (48, 32)
    assert "device: cpu" in res.stderr
    # Same seed, same bytes, whatever the batch size.
    again = cli("generate", "--seeds", "12", "-o", tmp_path / "one", "--model", models["generate"], "--batch-size", 1)
    assert (tmp_path / "one" / "seed000012.png").read_bytes() == (out / "seed000012.png").read_bytes()
    assert again.exit_code == 0


def test_generate_upscale_chains_in_memory(tmp_path, cli, models):
    res = cli("generate", "--seeds", "0-1,7", "--upscale", "-o", tmp_path, "--model", models["generate"],
              "--upscale-model", models["upscale"])
    assert res.exit_code == 0, res.stderr
    assert [Path(p).name for p in lines(res.stdout)] == ["seed000000.png", "seed000001.png", "seed000007.png"]
    assert all(Image.open(p).size == (64, 64) for p in lines(res.stdout))
    x16 = cli("generate", "-n", 1, "--upscale", "--scale", 16, "-o", tmp_path / "x16", "--model", models["generate"],
              "--upscale-model", models["upscale"])
    assert Image.open(lines(x16.stdout)[0]).size == (256, 256)
    x3 = cli("generate", "-n", 1, "--upscale", "--scale", "2.5", "-o", tmp_path / "x2.5", "--model", models["generate"],
             "--upscale-model", models["upscale"])
    assert Image.open(lines(x3.stdout)[0]).size == (40, 40)  # the 16 px generator's pictures
    too_big = cli("generate", "-n", 2, "--upscale", "--scale", 16, "-o", tmp_path / "big", "--model", models["generate"],
                  "--upscale-model", models["upscale"], "--max-pixels", 60000)
    assert too_big.exit_code == 2 and not (tmp_path / "big").exists()
    assert too_big.stderr.strip() == ("landscape: --scale 16: x16 of 16x16 makes 256x256 = 65,536 pixels, over the limit "
                                      "of 60,000 (raise it with --max-pixels)")


def test_a_factor_past_max_pixels_refuses_that_picture_before_any_work(tmp_path, cli, models):
    folder = tmp_path / "in"
    write_png(folder / "big.png", random_image(40, 30))
    write_png(folder / "small.png", random_image(8, 6))
    res = cli("upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--scale", 3, "--max-pixels", 5000)
    assert res.exit_code == 1
    assert f"landscape: {folder / 'big.png'}: x3 of 30x40 makes 120x160 = 19,200 pixels in its x4 pass, over the limit " \
           "of 5,000 (raise it with --max-pixels)" in res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]
    assert Image.open(tmp_path / "out" / "small.png").size == (18, 24)


def test_rerun_skips_existing_and_overwrite_redoes(tmp_path, cli, models):
    args = ("generate", "-n", 3, "-o", tmp_path, "--model", models["generate"])
    assert len(lines(cli(*args).stdout)) == 3
    (tmp_path / "seed000001.png").unlink()
    res = cli(*args)
    assert lines(res.stdout) == [str(tmp_path / "seed000001.png")] and "2 skipped" in res.stderr
    assert len(lines(cli(*args, "--overwrite").stdout)) == 3


def test_upscale_folder_with_a_corrupt_file(tmp_path, cli, models, photos):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    before = tree_digest(photos)
    out = tmp_path / "big"
    res = cli("upscale", photos, "-o", out, "--model", models["upscale"])
    assert res.exit_code == 1
    assert sorted(Path(p).name for p in lines(res.stdout)) == ["a.png", "b c#é.png", "d.jpg"]
    errors = [l for l in lines(res.stderr) if "broken.png" in l]
    assert len(errors) == 1 and errors[0].startswith(f"landscape: {photos / 'broken.png'}: ")
    assert "Traceback" not in res.stderr
    assert Image.open(out / "a.png").size == (112, 80)
    assert tree_digest(photos) == before
    assert no_temp_files(out)


def test_upscale_keeps_modes(tmp_path, cli, models):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_image(6, 5, 1)[:, :, 0], "L").save(folder / "gray.png")
    Image.fromarray(random_image(6, 5, 4), "RGBA").save(folder / "rgba.png")
    import cv2

    cv2.imwrite(str(folder / "deep.png"), random_image(6, 5, 3, dtype=np.uint16))
    res = cli("upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--tile", 4, "--tile-pad", 2)
    assert res.exit_code == 0, res.stderr
    assert Image.open(tmp_path / "out" / "gray.png").mode == "L"
    assert Image.open(tmp_path / "out" / "rgba.png").mode == "RGBA"
    deep = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (24, 20, 3)


def test_pipe_generate_into_upscale(tmp_path, models):
    """A real shell pipe between two processes: stdout carries paths and nothing else."""
    cmd = (f"{sys.executable} -m landscape generate -n 3 -q -o {tmp_path}/gen --model {models['generate']} | "
           f"{sys.executable} -m landscape upscale - -o {tmp_path}/big --model {models['upscale']}")
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    assert lines(res.stdout) == [f"{tmp_path}/big/seed{s:06d}.png" for s in range(3)]


def test_null_separated_paths(tmp_path, cli, models):
    weird = write_png(tmp_path / "in" / "new\nline.png", random_image(4, 4))
    res = cli("upscale", "-", "-0", "-o", tmp_path / "out", "--model", models["upscale"], input=f"{weird}\0")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == f"{tmp_path / 'out' / 'new'}\nline.png\0"


def test_translate_maps_colour_and_index(tmp_path, cli, models):
    res = cli("translate", REPO / "samples" / "maps", "-o", tmp_path, "--model", models["translate"])
    assert res.exit_code == 0, res.stderr
    names = sorted(Path(p).name for p in lines(res.stdout))
    assert names == ["forest_field.png", "lake.png", "lake_index.png", "valley_road.png"]
    assert Image.open(tmp_path / "lake.png").size == (320, 240)
    noise = write_png(tmp_path / "noise" / "n.png", random_image(16, 16))
    bad = cli("translate", noise, "-o", tmp_path / "o2", "--model", models["translate"])
    assert bad.exit_code == 1 and "far from every palette colour" in bad.stderr


def test_translate_upscale(tmp_path, cli, models):
    res = cli("translate", REPO / "samples" / "maps" / "lake.png", "--upscale", "-o", tmp_path,
              "--model", models["translate"], "--upscale-model", models["upscale"])
    assert res.exit_code == 0, res.stderr
    assert Image.open(lines(res.stdout)[0]).size == (1280, 960)


def test_inpaint_samples_and_mask_errors(tmp_path, cli, models):
    samples = REPO / "samples"
    res = cli("inpaint", samples / "photos", "--masks", samples / "masks", "-o", tmp_path / "out", "--model", models["inpaint"])
    assert res.exit_code == 0, res.stderr
    for path in map(Path, lines(res.stdout)):
        original = np.asarray(Image.open(samples / "photos" / path.name))
        filled = np.asarray(Image.open(path))
        hole = np.asarray(Image.open(samples / "masks" / path.name)) >= 128
        assert np.array_equal(filled[~hole], original[~hole])
    folder = tmp_path / "in"
    write_png(folder / "ok.png", random_image(16, 16))
    write_png(folder / "ok_mask.png", np.pad(np.full((4, 4), 255, np.uint8), 6))
    write_png(folder / "wrong.png", random_image(16, 16))
    write_png(folder / "wrong_mask.png", np.zeros((8, 8), np.uint8))
    write_png(folder / "nomask.png", random_image(16, 16))
    write_png(folder / "empty.png", random_image(16, 16))
    write_png(folder / "empty_mask.png", np.zeros((16, 16), np.uint8))
    Image.fromarray(random_image(16, 16, 4)).save(folder / "alpha.png")
    res = cli("inpaint", folder, "-o", tmp_path / "o2", "--model", models["inpaint"])
    assert res.exit_code == 1
    assert sorted(Path(p).name for p in lines(res.stdout)) == ["alpha.png", "empty.png", "ok.png"]
    assert "wrong.png: mask" in res.stderr and "never resized" in res.stderr
    assert "nomask.png: no mask" in res.stderr
    assert "mask is empty: image copied unchanged" in res.stderr
    assert Image.open(tmp_path / "o2" / "alpha.png").mode == "RGB"


def test_dry_run_writes_nothing(tmp_path, cli, models, photos):
    out = tmp_path / "never"
    res = cli("upscale", photos, "-o", out, "--model", models["upscale"], "--dry-run")
    assert res.exit_code == 0 and not out.exists()
    assert len(lines(res.stdout)) == 3 and all("\twrite" in l for l in lines(res.stdout))
    gen = cli("generate", "-n", 2, "-o", out, "--model", models["generate"], "--dry-run", "--json")
    assert [row["action"] for row in json.loads(gen.stdout)["plan"]] == ["write", "write"] and not out.exists()


def test_json_summary(tmp_path, cli, models, photos):
    (photos / "zero.png").write_bytes(b"")
    res = cli("upscale", photos, "-o", tmp_path / "o", "--model", models["upscale"], "--json")
    summary = json.loads(res.stdout)
    assert res.exit_code == 1 and len(summary["written"]) == 3
    assert summary["failed"] == [{"input": str(photos / "zero.png"), "reason": "empty file"}]


def test_models_are_checked_before_any_image(tmp_path, cli, models, photos, monkeypatch):
    out = tmp_path / "o"
    wrong = cli("upscale", photos, "-o", out, "--model", models["generate"])
    assert wrong.exit_code == 2 and "a 'generate' model cannot be used for 'upscale'" in wrong.stderr
    import onnx

    plain = onnx.load(str(models["upscale"]))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    bare = cli("upscale", photos, "-o", out, "--model", tmp_path / "plain.onnx")
    assert bare.exit_code == 2 and "schema_version" in bare.stderr
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    junk = cli("upscale", photos, "-o", out, "--model", tmp_path / "junk.onnx")
    assert junk.exit_code == 2 and len(lines(junk.stderr)) == 1
    # A bundle without a translate model: without --model the command says so before reading a map.
    from landscape.runtime import sessions

    empty = tmp_path / "bundle"
    empty.mkdir()
    (empty / "manifest.json").write_text('{"schema_version": 1, "models": []}')
    monkeypatch.setattr(sessions, "bundled_dir", lambda: empty)
    nothing = cli("translate", photos, "-o", out)
    assert nothing.exit_code == 2 and "no bundled model for 'translate'" in nothing.stderr and "--model" in nothing.stderr
    assert not out.exists()


def test_usage_errors_exit_2(tmp_path, cli, models):
    assert cli("generate", "--scale", 16, "--model", models["generate"]).exit_code == 2
    assert cli("generate", "--seeds", "9-3", "--model", models["generate"]).exit_code == 2
    assert cli("upscale", "x.png", "--scale", 17, "--model", models["upscale"]).exit_code == 2
    assert cli("upscale", "x.png", "--format", "gif", "--model", models["upscale"]).exit_code == 2
    assert cli("upscale", "x.png", "--device", "tpu", "--model", models["upscale"]).exit_code == 2
    blocked = tmp_path / "file"
    blocked.write_text("")
    res = cli("generate", "-n", 1, "-o", blocked / "sub", "--model", models["generate"])
    assert res.exit_code == 2 and "cannot be written" in res.stderr


def test_same_output_name_and_in_place_writes_are_refused(tmp_path, cli, models):
    folder = tmp_path / "in"
    write_png(folder / "a.png", random_image(4, 4))
    Image.fromarray(random_image(4, 4)).save(folder / "a.jpg")
    res = cli("upscale", folder, "-o", tmp_path / "o", "--format", "png", "--model", models["upscale"])
    assert res.exit_code == 1 and "as " in res.stderr and len(lines(res.stdout)) == 1
    inplace = cli("upscale", folder / "a.png", "-o", folder, "--model", models["upscale"])
    assert inplace.exit_code == 1 and "is the input itself" in inplace.stderr


def test_palette_models_info(tmp_path, cli, models):
    res = cli("palette", "--model", models["translate"], "-o", tmp_path / "legend.png")
    assert res.exit_code == 0 and lines(res.stdout)[0].split("\t")[:2] == ["0", "sky"]
    assert Image.open(tmp_path / "legend.png").size[1] == 8 * 40
    assert cli("palette", "--model", models["upscale"]).exit_code == 2
    described = [r for r in json.loads(cli("models", "show", models["upscale"], "--json").stdout) if r["origin"] == "given"]
    assert described[0]["task"] == "upscale" and described[0]["scale"] == 4 and len(described[0]["sha256"]) == 64
    info = json.loads(cli("info", "--json").stdout)
    assert "CPUExecutionProvider" in info["providers"] and info["device"].startswith(("cpu", "cuda"))


def test_no_input_found_is_not_an_error(tmp_path, cli, models):
    (tmp_path / "empty").mkdir()
    res = cli("upscale", tmp_path / "empty", "-o", tmp_path / "o", "--model", models["upscale"])
    assert res.exit_code == 0 and "no input found" in res.stderr


def test_help_and_inference_modules_start_without_torch(tmp_path):
    """torch blocked at import: --help works, and neither torch nor onnxruntime is loaded."""
    script = (
        "import sys; sys.modules['torch'] = None; sys.argv = ['landscape', '--help']\n"
        "import landscape.cli.main as m\n"
        "try:\n    m.app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "heavy = [n for n in ('torch', 'onnxruntime', 'numpy', 'cv2') if sys.modules.get(n) is not None]\n"
        "print('HEAVY', heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "generate" in res.stdout and "HEAVY []" in res.stdout


@pytest.mark.parametrize("argv", [["export", "x.safetensors", "-o", "x.onnx"], ["train", "dcgan", "--data", "x"]])
def test_torch_commands_without_torch_print_an_install_hint(tmp_path, argv):
    script = ("import sys; sys.modules['torch'] = None\n"
              f"sys.argv = ['landscape', *{argv!r}]\n"
              "import landscape.cli.main as m; m.run()\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 1 and "pip install 'landscape[train]'" in res.stderr and "Traceback" not in res.stderr


def test_ctrl_c_exits_130_and_leaves_no_temp_files(tmp_path, models):
    import signal

    folder = tmp_path / "in"
    for i in range(150):
        write_png(folder / f"{i:03d}.png", random_image(96, 96, seed=i))
    out = tmp_path / "out"
    # A suite started in the background (`cmd &`) inherits an ignored SIGINT, which Python keeps:
    # the child gets the default back, as from an interactive shell.
    proc = subprocess.Popen([sys.executable, "-m", "landscape", "upscale", str(folder), "-o", str(out),
                             "--model", str(models["upscale"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = proc.stdout.readline()
    assert first.startswith(str(out))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert no_temp_files(out)
    written = sorted(out.iterdir())
    assert 1 <= len(written) < 150
    # A re-run finishes the rest and leaves the first ones as they were.
    before = {p.name: p.read_bytes() for p in written}
    rerun = subprocess.run([sys.executable, "-m", "landscape", "upscale", str(folder), "-o", str(out),
                            "--model", str(models["upscale"]), "-q"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert rerun.returncode == 0 and len(list(out.iterdir())) == 150
    assert all((out / name).read_bytes() == data for name, data in before.items())


def test_closed_stdout_is_a_quiet_exit(tmp_path, models):
    cmd = f"{sys.executable} -m landscape generate -n 30 -b 1 -o {tmp_path} --model {models['generate']} | head -1"
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.stdout.strip() == f"{tmp_path}/seed000000.png"
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr
