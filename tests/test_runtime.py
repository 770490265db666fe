"""Runtime: device choice, the bundled-model manifest, and the metadata contract."""
import json
import shutil

import pytest

from landscape.runtime import model_contract, sessions
from landscape.errors import ModelError, UsageError


@pytest.fixture()
def bundle(tmp_path, monkeypatch, models):
    folder = tmp_path / "bundle"
    folder.mkdir()
    shutil.copy(models["upscale"], folder / "upscale.onnx")
    monkeypatch.setattr(sessions, "bundled_dir", lambda: folder)

    def manifest(sha):
        (folder / "manifest.json").write_text(json.dumps(
            {"schema_version": 1, "models": [{"task": "upscale", "file": "upscale.onnx", "sha256": sha}]}))
    return folder, manifest


def test_bundled_model_is_found_and_checked_against_its_manifest(bundle):
    folder, manifest = bundle
    manifest(sessions.sha256_file(folder / "upscale.onnx"))
    assert sessions.bundled_model("upscale") == folder / "upscale.onnx"
    model = sessions.load_model("upscale", None, sessions.choose_device("cpu"))
    assert model.info.scale == 4
    with pytest.raises(ModelError, match="no bundled model for 'generate'.*--model"):
        sessions.bundled_model("generate")


def test_bundled_model_with_another_hash_is_refused(bundle, cli, tmp_path):
    _, manifest = bundle
    manifest("0" * 64)
    with pytest.raises(ModelError, match="does not match its sha256"):
        sessions.bundled_model("upscale")
    res = cli("upscale", tmp_path, "-o", tmp_path / "o")
    assert res.exit_code == 2 and "sha256" in res.stderr
    assert cli("models", "show").exit_code == 1


def test_device_choice(monkeypatch):
    assert sessions.choose_device("cpu", 3).threads == 3
    assert sessions.choose_device("auto").name == ("cuda" if sessions._cuda_works() else "cpu")
    with pytest.raises(UsageError):
        sessions.choose_device("gpu")
    with pytest.raises(UsageError):
        sessions.choose_device("cpu", -1)
    monkeypatch.setattr(sessions, "_cuda_works", lambda: False)
    assert sessions.choose_device("auto").name == "cpu"
    with pytest.raises(UsageError, match="CUDA is not usable"):
        sessions.choose_device("cuda")
    monkeypatch.setattr(sessions, "_cuda_works", lambda: True)
    cuda = sessions.choose_device("auto")
    assert (cuda.name, cuda.backend, cuda.providers[0]) == ("cuda", "onnxruntime", "CUDAExecutionProvider")
    assert sessions.choose_device("cuda").name == "cuda" and sessions.choose_device("cpu").name == "cpu"
    from landscape.runtime import openvino_backend

    if openvino_backend.available():
        # OpenVINO or int8 asked for means the CPU, even where CUDA works.
        assert sessions.choose_device("auto", backend="openvino").name == "cpu"
        assert sessions.choose_device("auto", precision="int8").name == "cpu"


def test_no_nvidia_driver_means_cpu_without_loading_cuda(monkeypatch):
    """Without the driver's device nodes the CUDA libraries are never loaded (they cost 0.3 s
    and 200 MB of RSS per run on a CPU machine)."""
    ort = sessions._ort()
    monkeypatch.setattr(sessions.sys, "platform", "linux")
    monkeypatch.setattr(sessions.os.path, "exists", lambda path: False)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: pytest.fail("the CUDA probe ran"))
    assert sessions.choose_device("auto").name == "cpu"
    with pytest.raises(UsageError, match="CUDA is not usable"):
        sessions.choose_device("cuda")


def _props(**changes):
    base = {
        "schema_version": 1, "task": "upscale", "family": "esrgan", "scale": 4,
        "inputs": [{"name": "image", "shape": ["batch", 3, "height", "width"], "range": [0, 1]}],
        "outputs": [{"name": "image_out", "shape": ["batch", 3, "h", "w"], "range": [0, 1]}],
        "native_size": [64, 64], "size_multiple": 1, "dynamic_hw": True, "training": {}, "package_version": "0",
        "parity": {},
    }
    base.update(changes)
    return model_contract.encode({k: v for k, v in base.items() if v is not None})


def test_metadata_contract_names_what_is_wrong():
    assert model_contract.parse(_props(), "m.onnx").scale == 4
    with pytest.raises(ModelError, match="missing the key 'scale'"):
        model_contract.parse(_props(scale=None), "m.onnx")
    with pytest.raises(ModelError, match="schema_version 9"):
        model_contract.parse(_props(schema_version=9), "m.onnx")
    with pytest.raises(ModelError, match="'task' is 'paint'"):
        model_contract.parse(_props(task="paint"), "m.onnx")
    with pytest.raises(ModelError, match="not a landscape model"):
        model_contract.parse({}, "m.onnx")
    with pytest.raises(ModelError, match="classes"):
        model_contract.parse(_props(task="translate"), "m.onnx")


def test_session_settings_follow_the_task():
    device = sessions.choose_device("cpu", 2)
    options = {task: sessions.session_options(device, task=task) for task in ("generate", "upscale", "translate", "label")}
    spins = {task: o.get_session_config_entry("session.intra_op.allow_spinning") for task, o in options.items()}
    assert spins == {"generate": "1", "upscale": "1", "translate": "0", "label": "0"}
    assert options["generate"].enable_cpu_mem_arena and not options["upscale"].enable_cpu_mem_arena
    # The upscaler keeps the arena on pictures of a tile or less, where it saves an allocation per call.
    assert sessions.session_options(device, task="upscale", largest_input=128 * 128).enable_cpu_mem_arena
    assert not sessions.session_options(device, task="upscale", largest_input=1000 * 1000).enable_cpu_mem_arena
    assert all(o.intra_op_num_threads == 2 and o.inter_op_num_threads == 1 for o in options.values())
