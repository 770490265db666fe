"""The two CPU backends: ONNX Runtime and OpenVINO give the same pictures (fp32 within a level,
bf16 within the tasks' parity), fall back in one note, and the precision options fail as usage
errors where the CPU cannot run them."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landscape.runtime import bf16_check, cpu, openvino_backend, sessions
from landscape.errors import OpenVinoRefusal, UsageError
from tests.conftest import random_image, write_png

REPO = Path(__file__).resolve().parents[1]
needs_openvino = pytest.mark.skipif(not openvino_backend.available(), reason="openvino is not installed here")
needs_bf16 = pytest.mark.skipif(not cpu.facts().has_bf16,
                                reason=f"this CPU ({cpu.facts().model}) has no bf16 units (AMX or AVX512-BF16)")
NO_BF16 = cpu.CpuFacts("AMD EPYC (test)", ("AVX2",))


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)).astype(np.float64) for p in sorted(folder.iterdir())}


def _psnr(a: np.ndarray, b: np.ndarray, top: float) -> float:
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(top**2 / mse)


def _inputs(root: Path) -> dict[str, list[str]]:
    """One folder per command, with the awkward cases each must carry: alpha, 16-bit, sizes
    that are not multiples of anything and pictures big enough to tile."""
    photos = root / "photos"
    write_png(photos / "rgb.png", random_image(40, 52, 3, seed=1))
    write_png(photos / "rgba16.png", random_image(36, 44, 4, seed=2, dtype=np.uint16))
    write_png(photos / "gray.png", random_image(33, 30, 1, seed=3)[:, :, 0])
    masks = root / "masks"
    for name, (h, w) in (("rgb.png", (40, 52)), ("rgba16.png", (36, 44)), ("gray.png", (33, 30))):
        mask = np.zeros((h, w), np.uint8)
        mask[8:20, 10:30] = 255
        write_png(masks / name, mask)
    return {
        "generate": ["generate", "--seeds", "0-3", "--upscale"],
        "upscale": ["upscale", str(photos), "--tile", "16", "--tile-pad", "4"],
        "inpaint": ["inpaint", str(photos), "--masks", str(masks)],
        "translate": ["translate", str(REPO / "samples" / "maps")],
        "label": ["label", str(photos), "--index", "--min-region", "0"],
    }


def _model_args(command: str, models: dict[str, Path]) -> list[str]:
    if command == "generate":
        return ["--model", str(models["generate"]), "--upscale-model", str(models["upscale"])]
    return ["--model", str(models[command])]


@needs_openvino
@pytest.mark.parametrize("command", ["generate", "upscale", "inpaint", "translate", "label"])
def test_openvino_fp32_equals_onnxruntime(tmp_path, cli, models, command):
    """Same models, same inputs: the pictures differ by at most one level (fp32 both ways;
    the order of the sums differs), for the chain, tiling, alpha, 16-bit and gray."""
    args = _inputs(tmp_path / "in")[command] + _model_args(command, models)
    outs = {}
    for backend in ("onnxruntime", "openvino"):
        res = cli(*args, "-o", tmp_path / backend, "--backend", backend, "--precision", "fp32")
        assert res.exit_code == 0, res.output
        assert f"{command if command != 'generate' else 'upscale'} {backend}" in res.stderr
        outs[backend] = _pixels(tmp_path / backend)
    assert outs["onnxruntime"].keys() == outs["openvino"].keys() and outs["openvino"]
    for name, ort in outs["onnxruntime"].items():
        top = 65535 if name == "rgba16.png" and command in ("upscale", "inpaint") else 255
        assert outs["openvino"][name].shape == ort.shape
        assert np.abs(outs["openvino"][name] - ort).max() <= (1 if command != "label" else 0) * top / 255 + (top > 255)


@needs_bf16
@needs_openvino
@pytest.mark.parametrize("command,floor", [("generate", 40.0), ("upscale", 40.0), ("inpaint", 40.0), ("translate", 40.0)])
def test_bundled_models_in_bf16_stay_within_parity(tmp_path, cli, command, floor):
    """The bundled models (which passed their bf16 check) in bf16 against ONNX Runtime fp32:
    pictures at least 40 dB apart, 16-bit and alpha included."""
    args = _inputs(tmp_path / "in")[command]
    for setting in ("onnxruntime fp32", "openvino bf16"):
        backend, precision = setting.split()
        res = cli(*args, "-o", tmp_path / backend, "--backend", backend, "--precision", precision)
        assert res.exit_code == 0, res.output
    ort, ov = _pixels(tmp_path / "onnxruntime"), _pixels(tmp_path / "openvino")
    for name, reference in ort.items():
        top = 65535.0 if reference.max() > 255 else 255.0
        assert _psnr(ov[name], reference, top) >= floor, name


@needs_bf16
@needs_openvino
def test_bundled_labeller_in_bf16_agrees_on_maps(tmp_path, cli):
    args = ["label", str(REPO / "samples" / "photos"), "--index", "--min-region", "0"]
    for backend, precision in (("onnxruntime", "fp32"), ("openvino", "bf16")):
        assert cli(*args, "-o", tmp_path / backend, "--backend", backend, "--precision", precision).exit_code == 0
    ort, ov = _pixels(tmp_path / "onnxruntime"), _pixels(tmp_path / "openvino")
    agreement = np.mean([np.mean(ort[name] == ov[name]) for name in ort])
    assert agreement >= 0.995


@needs_openvino
def test_a_model_openvino_refuses_runs_in_onnxruntime_with_one_note(tmp_path, cli, models, monkeypatch):
    def refuse(path, model, precision, threads, sizes_vary):
        raise OpenVinoRefusal(path, "unsupported operation Foo")

    monkeypatch.setattr(openvino_backend, "compile_model", refuse)
    write_png(tmp_path / "in" / "a.png", random_image(20, 20))
    res = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", "--model", models["upscale"])
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if "OpenVINO" in line]
    assert len(notes) == 1 and "running it with ONNX Runtime" in notes[0] and "unsupported operation Foo" in notes[0]
    assert "upscale onnxruntime" in res.stderr
    assert (tmp_path / "out" / "a.png").exists()


def test_a_file_neither_backend_reads_gets_one_error(tmp_path, cli):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    write_png(tmp_path / "in" / "a.png", random_image(20, 20))
    res = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", "--model", bad)
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1 and re.search("not a (usable|readable) ONNX model", res.stderr)


def test_bf16_without_the_units_is_a_usage_error(monkeypatch, tmp_path, cli, models):
    monkeypatch.setattr(cpu, "facts", lambda: NO_BF16)
    with pytest.raises(UsageError, match="no bf16 units"):
        sessions.choose_device("cpu", 1, "auto", "bf16")
    write_png(tmp_path / "in" / "a.png", random_image(20, 20))
    res = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", "--precision", "bf16", "--model", models["upscale"])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "no bf16 units" in res.stderr
    assert not (tmp_path / "out").exists()


@needs_openvino
def test_auto_is_fp32_without_the_units(monkeypatch, models):
    monkeypatch.setattr(cpu, "facts", lambda: NO_BF16)
    model = sessions.load_model("upscale", models["upscale"], sessions.choose_device("cpu", 1))
    assert (model.backend, model.precision) == ("openvino", "fp32") and "no bf16 units" in model.why


@needs_bf16
@needs_openvino
def test_auto_follows_the_bf16_check(monkeypatch, models):
    """bf16 where the model's check passed; fp32, saying why, where it failed."""
    device = sessions.choose_device("cpu", 1)
    passed = sessions.load_model("upscale", None, device)  # int8 or bf16, whichever measures faster
    assert passed.precision in ("bf16", "int8") and "bf16 57.6 dB from fp32, >=" in passed.why
    failing = {"metric": "psnr_db", "value": 12.0, "floor": 40.0, "passed": False}
    monkeypatch.setattr(bf16_check, "recorded", lambda info: failing)
    failed = sessions.load_model("upscale", models["upscale"], device)
    assert failed.precision == "fp32" and "12.0 dB" in failed.why


def test_impossible_combinations_are_usage_errors():
    with pytest.raises(UsageError, match="--backend must be"):
        sessions.choose_device("cpu", 1, "tensorrt")
    with pytest.raises(UsageError, match="--precision must be"):
        sessions.choose_device("cpu", 1, "auto", "int4")
    with pytest.raises(UsageError, match="ONNX Runtime's CPU kernels have no bf16"):
        sessions.choose_device("cpu", 1, "onnxruntime", "bf16")
    with pytest.raises(UsageError, match="runs on the CPU"):
        sessions.choose_device("cuda", 1, "openvino")


def test_environment_variables_choose_the_backend(tmp_path, cli, models, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_BACKEND", "onnxruntime")
    write_png(tmp_path / "in" / "a.png", random_image(20, 20))
    res = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", "--model", models["upscale"])
    assert res.exit_code == 0 and "upscale onnxruntime" in res.stderr
    monkeypatch.setenv("LANDSCAPE_PRECISION", "bf17")
    assert cli("upscale", tmp_path / "in", "-o", tmp_path / "o2", "--model", models["upscale"]).exit_code == 2


def test_info_names_the_units_and_each_models_backend(cli):
    res = cli("info")
    assert res.exit_code == 0, res.output
    assert f"cpu: {cpu.facts().describe()}" in res.stdout
    for task in ("generate", "upscale", "translate", "inpaint", "label"):
        assert f"  {task}: " in res.stdout
    assert "cuda: " in res.stdout


@pytest.mark.parametrize("text,units,bf16", [
    ("model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx avx2 fma\n", ("AVX2",), False),
    ("model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 "
     "amx_int8 amx_tile\n", ("AVX2", "AVX-512", "VNNI", "AVX512-BF16", "AMX-BF16", "AMX-INT8"), True),
    ("model name\t: AMD EPYC 9654\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n",
     ("AVX2", "AVX-512", "VNNI", "AVX512-BF16"), True),
])
def test_cpu_units_from_cpuinfo(text, units, bf16):
    facts = cpu.parse_cpuinfo(text)
    assert facts.units == units and facts.has_bf16 == bf16


def test_bf16_verdicts():
    from landscape.runtime.model_contract import ModelInfo, TensorSpec

    label = ModelInfo("label", "segmenter", (TensorSpec("image", ()),), (TensorSpec("logits", ()),), (64, 64), 8, True)
    logits = np.random.default_rng(0).random((1, 8, 32, 32))
    assert bf16_check.compare(label, logits, logits)["passed"]
    flipped = logits.copy()
    flipped[:, :, :4] = -flipped[:, :, :4]  # an eighth of the map changes class
    assert not bf16_check.compare(label, logits, flipped)["passed"]
    image = ModelInfo("upscale", "esrgan", (TensorSpec("image", (), (0.0, 1.0)),),
                      (TensorSpec("image_out", (), (0.0, 1.0)),), (64, 64), 1, True)
    pictures = np.random.default_rng(0).random((1, 3, 32, 32))
    assert bf16_check.compare(image, pictures, pictures + 0.002)["passed"]
    assert not bf16_check.compare(image, pictures, np.full_like(pictures, 0.5))["passed"]  # grey output
    assert not bf16_check.compare(image, pictures, pictures * np.nan)["passed"]
    # An inpainter that passes its input through outside the holes is judged inside them: a
    # fill 34 dB off must fail, however well the copied rest scores.
    holes = np.zeros((1, 1, 32, 32), bool)
    holes[..., 8:16, 8:16] = True
    off_fill = np.where(holes, pictures + 0.02, pictures)
    assert bf16_check.compare(image, pictures, off_fill)["passed"]  # the whole picture hides it
    assert not bf16_check.compare(image, pictures, off_fill, holes)["passed"]
    assert bf16_check.compare(image, pictures, np.where(holes, pictures + 0.002, pictures), holes)["passed"]


@needs_openvino
def test_export_records_the_bf16_check(models):
    info = sessions.read_info(models["upscale"])
    record = info.raw[bf16_check.METADATA_KEY]
    if cpu.facts().has_bf16:
        assert record["metric"] == "psnr_db" and isinstance(record["passed"], bool)
    else:
        assert record == {"measured": False, "reason": f"the exporting CPU ({cpu.facts().model}) has no bf16 units"}


@needs_openvino
def test_repeated_shapes_get_fixed_compilations_unless_sizes_vary(models):
    x = np.random.default_rng(0).random((1, 3, 16, 24), np.float32)
    model = sessions.load_model("upscale", models["upscale"], sessions.choose_device("cpu", 1, "openvino", "fp32"))
    first, second, third = (model.run(image=x) for _ in range(3))
    assert len(model.compiled.fixed) == 1 and model.compiled.dynamic is None  # the any-shape one let go
    assert np.array_equal(first.shape, second.shape) and np.abs(first - third).max() < 1e-5
    assert model.run(image=x[..., :16]).shape[-2:] == (64, 64) and model.compiled.dynamic is not None
    varying = openvino_backend.Compiled(model.compiled.model, "fp32", 1, sizes_vary=True)
    for _ in range(3):
        varying.run({"image": x})
    assert not varying.fixed
    # int8 kernels kept per size hold their own weights: none kept where sizes vary
    assert openvino_backend.compile_config("int8", 1, sizes_vary=True)["CPU_RUNTIME_CACHE_CAPACITY"] == 0
    assert "CPU_RUNTIME_CACHE_CAPACITY" not in openvino_backend.compile_config("int8", 1)


@needs_openvino
def test_openvino_is_imported_without_its_model_converter():
    """Its converter (openvino.tools.ovc, telemetry, http) is most of openvino's import time and
    landscape never converts; `openvino.convert_model` still imports it when called."""
    script = ("import sys; from landscape.runtime import openvino_backend as ob; assert ob.available(); import openvino\n"
              "print('openvino.tools.ovc' in sys.modules, callable(openvino.convert_model))\n"
              "import openvino.tools.ovc; print('openvino.tools.ovc' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True", "True"]


@needs_openvino
def test_a_users_model_is_compiled_from_an_ir_copy_named_by_its_content(models, tmp_path, monkeypatch):
    """The first load writes the ONNX file into the cache as an IR (with its metadata and inputs
    beside it); later loads compile that IR from its path without parsing the ONNX file, and
    run as the parsed model does. A cache that cannot be written costs the copy, not the run."""
    import shutil

    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    model_path = Path(shutil.copy(models["upscale"], tmp_path / "up.onnx"))
    device = sessions.choose_device("cpu", 1, "openvino", "fp32")
    x = np.random.default_rng(0).random((1, 3, 16, 24), np.float32)
    first = sessions.load_model("upscale", model_path, device)
    copy = first.compiled.source
    assert isinstance(copy, Path) and copy.parent.name == "openvino-ir"
    assert copy.name.startswith(sessions.file_sha256(model_path)) and copy.with_suffix(".bin").exists()

    def parse(path):
        raise AssertionError(f"{path} parsed again")

    with monkeypatch.context() as patched:
        patched.setattr(openvino_backend, "read", parse)
        again = sessions.load_model("upscale", model_path, device)
    assert again.compiled.source == copy and again.info == first.info
    parsed = openvino_backend.Compiled(openvino_backend.read(model_path)[0], "fp32", 1)
    assert np.abs(again.run(image=x) - again.from_output_range(parsed.run({"image": again.to_input_range(x, "image")}))).max() < 1e-6

    # Another file (other bytes) gets its own copy; an unwritable cache gives the parsed model.
    import onnx

    graph = onnx.load(str(model_path))
    graph.doc_string = "the same graph, other bytes"
    other = tmp_path / "other.onnx"
    onnx.save(graph, str(other))
    monkeypatch.setattr(openvino_backend, "save_ir", lambda model, xml: (_ for _ in ()).throw(OSError("read-only")))
    model = sessions.load_model("upscale", other, device)
    assert not isinstance(model.compiled.source, Path) and np.array_equal(model.run(image=x), again.run(image=x))
