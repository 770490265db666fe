"""int8: quantized once into the cache with the first and last layers and resampling in float,
checked against fp32, a failed check falling back with one note; `auto` choosing from measured
rates; the bundled int8 versions shipped, verified and within 40 dB of fp32."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landscape.errors import ModelError, UsageError
from landscape.runtime import bf16_check, int8, openvino_backend, precision_rates, sessions
from landscape.runtime.cpu import facts
from tests.conftest import random_image, write_png

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not openvino_backend.available(), reason="openvino is not installed here")
FAILING = {"metric": "psnr_db", "value": 12.0, "floor": 40.0, "passed": False, "calls": 8}


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _photos(folder: Path) -> Path:
    for i in range(2):
        write_png(folder / f"{i}.png", random_image(24, 30, seed=i))
    return folder


def test_int8_is_made_once_with_float_ends_and_cached(fresh_cache, models, monkeypatch):
    """The first load quantizes (one note), the second finds the IR and its verdict in the
    cache; the IR's first and last convolutions and its resampling read float inputs. The
    floor is lowered so that the tiny untrained model's int8 version runs whatever its check
    measured: the check's own floors are tested apart."""
    monkeypatch.setattr(int8, "PSNR_FLOOR_DB", 0.0)
    device = sessions.choose_device("cpu", 1, "auto", "int8")
    notes: list[str] = []
    first = sessions.load_model("upscale", models["upscale"], device, note=notes.append)
    assert len([n for n in notes if "quantizing to int8" in n]) == 1
    sha = sessions.model_sha256(models["upscale"])
    xml = fresh_cache / "int8" / f"{sha}-openvino-{openvino_backend.version()}.xml"
    verdict = json.loads(xml.with_suffix(".json").read_text())
    assert xml.with_suffix(".bin").exists() and verdict["metric"] == "psnr_db" and verdict["calls"] >= 4
    assert verdict["passed"] and verdict["kind"] == facts().kind
    assert first.precision == "int8" and np.isfinite(first.run(image=np.full((1, 3, 8, 8), 0.5, np.float32))).all()
    again: list[str] = []
    second = sessions.load_model("upscale", models["upscale"], device, note=again.append)
    assert not [n for n in again if "quantizing" in n] and second.precision == "int8"

    ir, _ = openvino_backend.read(xml)
    ops = ir.get_ordered_ops()
    quantized_inputs = {op.get_friendly_name(): [i.get_source_output().get_node().get_type_name() == "FakeQuantize"
                                                 for i in op.inputs()] for op in ops}
    convs = [op.get_friendly_name() for op in ops if op.get_type_name() == "Convolution"]
    assert sum(any(v) for v in quantized_inputs.values()) > 0, "nothing was quantized"
    assert not quantized_inputs[convs[0]][0] and not quantized_inputs[convs[-1]][0]
    for op in ops:
        if op.get_type_name() in int8.FLOAT_TYPES:
            assert not quantized_inputs[op.get_friendly_name()][0], op.get_friendly_name()


def test_a_model_that_fails_its_int8_check_runs_in_the_next_precision_with_one_note(fresh_cache, models, monkeypatch, cli, tmp_path):
    monkeypatch.setattr(int8, "check", lambda *args, **kwargs: dict(FAILING))
    res = cli("upscale", _photos(tmp_path / "in"), "-o", tmp_path / "out", "--model", models["upscale"], "--precision", "int8")
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if "12.0 dB" in line]
    assert len(notes) == 1 and "int8 12.0 dB from fp32, < 40.0 dB; running it in" in notes[0]
    assert "upscale openvino int8" not in res.stderr and len(list((tmp_path / "out").iterdir())) == 2


def test_int8_without_nncf_is_one_line_with_the_install_hint(fresh_cache, models, monkeypatch, cli, tmp_path):
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf raises ImportError
    res = cli("upscale", _photos(tmp_path / "in"), "-o", tmp_path / "out", "--model", models["upscale"], "--precision", "int8")
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "pip install nncf" in res.stderr
    assert not (tmp_path / "out").exists()


def test_int8_is_an_openvino_cpu_precision():
    with pytest.raises(UsageError, match="int8 runs on OpenVINO"):
        sessions.choose_device("cpu", 1, "onnxruntime", "int8")
    with pytest.raises(UsageError, match="int8 runs on OpenVINO"):
        sessions.choose_device("cuda", 1, "auto", "int8")


def test_auto_takes_a_less_precise_precision_only_when_it_is_clearly_faster():
    assert precision_rates.choose({"fp32": 100, "bf16": 60, "int8": 30}) == "int8"
    assert precision_rates.choose({"fp32": 100, "bf16": 60, "int8": 55}) == "bf16"
    assert precision_rates.choose({"fp32": 100, "bf16": 85}) == "fp32"
    assert precision_rates.choose({"fp32": 100, "int8": 50}) == "int8"
    assert precision_rates.choose({"fp32": 30, "bf16": 60, "int8": 80}) == "fp32"


def test_auto_measures_once_and_follows_the_rates(fresh_cache, monkeypatch):
    """The bundled inpainter (its int8 version shipped) on a CPU kind it was not measured on
    before shipping: its int8 IR is checked here and its rates measured, once (both cached under
    this kind), int8 taken when the measurement says it is fastest, and named in `why`."""
    calls, checks = [], []

    def measure(graphs, info, threads):
        calls.append(sorted(graphs))
        return {p: {"fp32": 300.0, "bf16": 170.0, "int8": 100.0}[p] for p in graphs}

    monkeypatch.setattr(precision_rates, "measure", measure)
    monkeypatch.setattr(sessions, "shipped_kind", lambda path: None)
    monkeypatch.setattr(int8, "check", lambda *args, **kwargs: checks.append(1) or
                        {"metric": "psnr_db", "value": 47.5, "floor": 40.0, "passed": True, "calls": 8, "kind": facts().kind})
    device = sessions.choose_device("cpu", 1)
    model = sessions.load_model("inpaint", None, device)
    assert model.precision == "int8" and "int8 100 ms" in model.why and "int8 47.5 dB from fp32" in model.why
    assert "measured here" in model.why
    assert sessions.load_model("inpaint", None, device).precision == "int8"
    assert len(calls) == 1 and "int8" in calls[0] and len(checks) == 1
    cached = list((fresh_cache / "int8").glob(f"*-{facts().kind_slug}-openvino-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["passed"]


def test_a_kind_recorded_before_shipping_is_neither_checked_nor_measured(fresh_cache, monkeypatch):
    """On a CPU of a kind recorded in the manifest, the first run takes the shipped verdicts and
    rates: nothing is checked or measured, so it costs what later runs do."""
    monkeypatch.setattr(precision_rates, "measure", lambda *a: pytest.fail("measured"))
    monkeypatch.setattr(int8, "check", lambda *a, **k: pytest.fail("checked"))
    monkeypatch.setattr(bf16_check, "measure", lambda *a: pytest.fail("bf16 measured"))
    kind = {"openvino": openvino_backend.release(), "int8": {"metric": "psnr_db", "value": 47.9, "floor": 40.0, "passed": True},
            "bf16": {"metric": "psnr_db", "value": 45.0, "floor": 40.0, "passed": True},
            "ms": {"fp32": 500.0, "int8": 250.0, "bf16": 400.0}}
    manifest = [dict(e, kinds={facts().kind: {**kind, "ms": {p: v for p, v in kind["ms"].items() if p != "bf16" or facts().has_bf16}}})
                if e["file"] == "inpaint.onnx" else e for e in sessions.read_manifest()]
    monkeypatch.setattr(sessions, "read_manifest", lambda: manifest)
    model = sessions.load_model("inpaint", None, sessions.choose_device("cpu", 1))
    assert model.precision == "int8" and "before shipping" in model.why and "int8 250 ms" in model.why
    other_release = [dict(e, kinds={facts().kind: dict(kind, openvino="1999.1")}) if e["file"] == "inpaint.onnx" else e
                     for e in manifest]
    monkeypatch.setattr(sessions, "read_manifest", lambda: other_release)
    assert sessions.shipped_kind(sessions.bundled_model("inpaint")) is None  # another OpenVINO release: measured here


def test_a_model_met_at_new_sizes_is_measured_at_new_sizes(monkeypatch):
    """An inpainter whose windows follow the holes (as LaMa's do) meets nearly every call at a
    size OpenVINO has not prepared kernels for: its rates are of such calls, the same new sizes
    for each precision; a model that repeats its sizes is measured at one."""
    import dataclasses

    from landscape.runtime import model_contract

    path = sessions.bundled_model("inpaint")
    graph, props = openvino_backend.read(path)
    native = model_contract.parse(props, str(path))
    sizes = []
    original = openvino_backend.Compiled.run
    monkeypatch.setattr(openvino_backend.Compiled, "run", lambda self, feeds: sizes.append(feeds["mask"].shape) or original(self, feeds))
    for info, distinct in ((dataclasses.replace(native, window_sides=(64, 512)), 1 + precision_rates.NEW_SIZES), (native, 1)):
        sizes.clear()
        ms = precision_rates.measure({"fp32": graph, "int8": graph}, info, 1)
        assert set(ms) == {"fp32", "int8"} and len(set(sizes)) == distinct
        assert sizes[2:4] == [sizes[2]] * 2  # each size met by both precisions, side by side
    assert "a call at a new size" in precision_rates.describe(ms, dataclasses.replace(native, window_sides=(64, 512)))


def test_a_shipped_int8_model_compiles_from_its_path_and_is_read_for_a_fixed_shape():
    model = sessions.load_model("inpaint", None, sessions.choose_device("cpu", 1, "openvino", "int8"))
    compiled = model.compiled
    assert model.precision == "int8" and isinstance(compiled.source, Path) and compiled._model is None
    x = np.random.default_rng(0).random((1, 3, 32, 48), np.float32)
    mask = np.zeros((1, 1, 32, 48), np.float32)
    mask[:, :, 8:20, 10:30] = 1
    first, second = model.run(image=x, mask=mask), model.run(image=x, mask=mask)
    assert list(compiled.fixed) == [(("image", x.shape), ("mask", mask.shape))] and compiled._model is not None
    # The two compilations pick different int8 kernels, which round differently: as close as the
    # int8 check asks of int8 against fp32 (outputs span 2 units).
    assert 10 * np.log10(4 / np.mean((first - second) ** 2)) >= int8.PSNR_FLOOR_DB


def test_a_damaged_shipped_int8_model_is_refused(monkeypatch):
    manifest = sessions.read_manifest()
    damaged = [dict(e, int8=dict(e["int8"], bin_sha256="0" * 64)) if "int8" in e else e for e in manifest]
    monkeypatch.setattr(sessions, "read_manifest", lambda: damaged)
    with pytest.raises(ModelError, match="inpaint.int8.bin .*does not match its sha256"):
        sessions.shipped_int8(sessions.bundled_dir() / "inpaint.onnx")


def test_the_shipped_int8_verdicts_passed_on_held_out_photos():
    shipped = {e["task"]: e["int8"] for e in sessions.read_manifest() if "file" in e.get("int8", {})}
    assert {"inpaint"} <= set(shipped)
    for record in shipped.values():
        check = record["check"]
        assert check["passed"] and check["value"] >= int8.PSNR_FLOOR_DB and "held-out" in check["calibration"]
    for entry in sessions.read_manifest():  # each recorded kind's verdict was on held-out photos too
        for kind, record in entry.get("kinds", {}).items():
            assert "held-out" in record["int8"]["calibration"] and record["int8"]["kind"] == kind, (entry["file"], kind)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("command", ["inpaint"])
def test_bundled_int8_pictures_stay_within_40_db_of_fp32(tmp_path, cli, command):
    """The sample photos (the project's own, not the calibration set) through the shipped int8
    versions against ONNX Runtime's run of the ONNX file."""
    args = [command, str(REPO / "samples" / "photos")] + (["--masks", str(REPO / "samples" / "masks")] if command == "inpaint" else [])
    for backend, precision in (("onnxruntime", "fp32"), ("openvino", "int8")):
        res = cli(*args, "-o", tmp_path / precision, "--backend", backend, "--precision", precision)
        assert res.exit_code == 0, res.output
        assert f"{command} {backend} " in res.stderr  # ONNX Runtime runs a file in its own precision (fp16 inpainter)
    for path in sorted((tmp_path / "fp32").iterdir()):
        reference = np.asarray(Image.open(path))
        assert _psnr(np.asarray(Image.open(tmp_path / "int8" / path.name)), reference) >= 40.0, path.name


def test_calibration_feeds_fit_each_task(models):
    from landscape.runtime import calibration
    from landscape.runtime.sessions import read_info

    calibrating, held_out = calibration.shipped_pictures()
    assert len(calibrating) == calibration.CALIBRATION_COUNT and len(held_out) >= 4
    for task in ("generate", "translate", "inpaint", "upscale", "label"):
        info = read_info(models[task])
        calls = calibration.feeds(info, held_out[:2], seed=3)
        assert len(calls) == 2
        for call in calls:
            assert set(call) == {spec.name for spec in info.inputs}
            for spec in info.inputs:
                value = call[spec.name]
                assert value.dtype == np.float32 and np.isfinite(value).all()
                if task not in ("generate",) and value.ndim == 4:
                    assert value.shape[-1] % info.size_multiple == 0
        if task == "translate":
            one_hot = calls[0][info.inputs[0].name]
            assert np.allclose(one_hot.sum(1), 1) and len(np.unique(one_hot.argmax(1))) > 1


def test_a_bundled_model_that_failed_on_photos_is_not_quantized_again(fresh_cache, cli):
    """The generator's int8 check on held-out photos failed (recorded in the manifest): int8
    asked for runs it in the next precision with one note, and nothing is quantized."""
    record = next(e for e in sessions.read_manifest() if e["task"] == "generate")["int8"]
    assert not record["check"]["passed"] and "file" not in record
    device = sessions.choose_device("cpu", 1, "auto", "int8")
    notes: list[str] = []
    model = sessions.load_model("generate", None, device, note=notes.append)
    assert len(notes) == 1 and "running it in" in notes[0]
    fallback = notes[0].rsplit(" ", 1)[-1]
    assert model.precision == fallback and (fallback == "fp32" or facts().has_bf16)
    assert not any("quantizing" in n for n in notes) and not list(fresh_cache.glob("int8/*"))


def test_int8_without_a_writable_cache_runs_from_memory_and_leaves_nothing(tmp_path, models, monkeypatch):
    import tempfile

    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("LANDSCAPE_CACHE", str(blocked / "cache"))  # under a file: cannot be made
    monkeypatch.setattr(int8, "PSNR_FLOOR_DB", 0.0)  # the tiny model's int8 runs whatever its check says
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    model = sessions.load_model("upscale", models["upscale"], sessions.choose_device("cpu", 1, "auto", "int8"))
    assert model.precision == "int8" and not isinstance(model.compiled.source, Path)
    assert np.isfinite(model.run(image=np.full((1, 3, 8, 8), 0.5, np.float32))).all()
    assert list((tmp_path / "tmp").iterdir()) == [] and not (blocked.parent / "cache").exists()


def test_two_threads_saving_the_same_ir_at_once_both_land_it_whole(tmp_path, models):
    import threading

    model, _ = openvino_backend.read(models["upscale"])
    xml = tmp_path / "m.xml"
    errors = []

    def save():
        try:
            for _ in range(5):
                openvino_backend.save_ir(model, xml)
        except Exception as exc:  # noqa: BLE001 - any failure of either thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]
    assert openvino_backend.read(xml)[0].get_ordered_ops()
