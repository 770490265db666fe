"""Everything of the CUDA path that runs without a GPU: the provider options per task, IO
binding (with the CPU provider standing in), fixed-buffer calls, the on-device chain of
`generate --upscale`, and a machine without CUDA running quietly on the CPU."""
from __future__ import annotations

import numpy as np
from PIL import Image
import pytest

from landscape.runtime import sessions
from landscape.pipelines.generate import generate, generate_upscaled, latents, upscales_as_is
from landscape.pipelines.upscale import upscale_unit_batch

CUDA = sessions.Device("cuda", ("CUDAExecutionProvider", "CPUExecutionProvider"), 4)


@pytest.fixture(scope="module")
def cpu():
    """ONNX Runtime's CPU provider, standing in for its CUDA provider."""
    return sessions.choose_device("cpu", 2, "onnxruntime")


def test_cuda_options_search_convolutions_exhaustively_only_where_shapes_repeat():
    for task in ("generate", "upscale"):
        assert sessions.cuda_provider_options(task)["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    for task in ("translate", "label", "inpaint"):
        assert sessions.cuda_provider_options(task)["cudnn_conv_algo_search"] == "HEURISTIC"
    options = sessions.cuda_provider_options("generate")
    assert options["arena_extend_strategy"] == "kSameAsRequested" and "enable_cuda_graph" not in options
    assert sessions.cuda_provider_options("generate", graph=True)["enable_cuda_graph"] == "1"
    tuned = sessions.SessionTuning(prefer_nhwc=True, cuda_arena_same_as_requested=False, copy_in_default_stream=False)
    options = sessions.cuda_provider_options("label", tuned)
    assert options["prefer_nhwc"] == "1" and options["arena_extend_strategy"] == "kNextPowerOfTwo"
    assert options["do_copy_in_default_stream"] == "0"
    assert all(isinstance(v, str) for v in options.values())  # ONNX Runtime takes string values


def test_providers_carry_the_options_on_cuda_and_nothing_on_the_cpu(cpu):
    providers = sessions.providers_for(CUDA, "upscale")
    assert providers[0] == ("CUDAExecutionProvider", sessions.cuda_provider_options("upscale"))
    assert providers[1] == "CPUExecutionProvider"
    assert sessions.providers_for(cpu, "upscale") == ["CPUExecutionProvider"]


def test_a_machine_without_cuda_chooses_the_cpu_quietly(capfd, monkeypatch):
    monkeypatch.setattr(sessions, "_nvidia_driver_present", lambda: False)
    assert sessions.choose_device("auto").name == "cpu"
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_io_binding_gives_what_a_plain_run_gives_and_chains_outputs(models, cpu):
    upscaler = sessions.load_model("upscale", models["upscale"], cpu)
    x = np.random.default_rng(0).random((2, 3, 12, 16), np.float32)
    plain = upscaler.run(image=x)
    assert np.array_equal(upscaler.run_bound({"image": x}, keep_on_device=False), plain)
    kept = upscaler.run_bound({"image": x}, keep_on_device=True)
    assert kept.device_name() == "cpu" and kept.shape() == [2, 3, 48, 64]
    # An output bound on the device goes into the next call as it is (x16 = two passes).
    twice = upscaler.run_bound({"image": kept}, keep_on_device=False)
    assert np.allclose(twice, upscaler.run(image=plain), atol=1e-5)


def test_rescale_maps_one_range_to_another_and_clips(cpu):
    ort = sessions._ort()
    rescale = sessions.Rescale(cpu)
    x = np.array([-1.0, 0.0, 0.5, 1.0, 3.0], np.float32).reshape(1, 1, 1, 5)
    out = rescale.between(ort.OrtValue.ortvalue_from_numpy(x), (-1.0, 1.0), (0.0, 1.0)).numpy()
    assert np.allclose(out.ravel(), [0.0, 0.5, 0.75, 1.0, 1.0])


def test_generate_then_upscale_on_the_device_equals_the_host_chain(models, cpu):
    generator = sessions.load_model("generate", models["generate"], cpu)
    upscaler = sessions.load_model("upscale", models["upscale"], cpu)
    assert upscales_as_is(generator, upscaler)
    seeds = [0, 7, 42]
    host = upscale_unit_batch(upscaler, generate(generator, seeds))
    device = generate_upscaled(generator, upscaler, sessions.Rescale(cpu), latents(seeds, 8))
    assert device.shape == host.shape == (3, 64, 64, 3)
    assert np.abs(device - host).max() < 1e-5


def test_fixed_shape_calls_update_their_bound_buffers(models, cpu):
    generator = sessions.load_model("generate", models["generate"], cpu, graph=True)  # no graph on the CPU: plain binding
    call = sessions.FixedShapeCall(generator, {"z": (4, 8)}, (4, 3, 16, 16))
    for seed in (1, 2):
        z = np.random.default_rng(seed).standard_normal((4, 8)).astype(np.float32)
        assert np.allclose(call(z=z), generator.run(z=z), atol=1e-6)
    with pytest.raises(ValueError, match="bound for"):
        call(z=np.zeros((3, 8), np.float32))


def test_generate_upscale_cli_uses_the_device_chain_on_cuda(models, cli, tmp_path, monkeypatch):
    """With CUDA chosen (here: the CPU provider standing in), the command takes the IO-bound
    chain and writes what the host chain writes."""
    host = cli("generate", "--seeds", "3,4", "--upscale", "--model", models["generate"], "--upscale-model",
               models["upscale"], "-o", tmp_path / "host", "--device", "cpu", "--backend", "onnxruntime")
    assert host.exit_code == 0
    calls = []
    real = generate_upscaled

    def spy(*args):
        calls.append(len(args[-1]))
        return real(*args)

    monkeypatch.setattr("landscape.pipelines.generate.generate_upscaled", spy)
    monkeypatch.setattr(sessions, "_cuda_works", lambda: True)
    monkeypatch.setattr(sessions, "providers_for", lambda device, task, tuning=None, graph=False: ["CPUExecutionProvider"])
    chained = cli("generate", "--seeds", "3,4", "--upscale", "--model", models["generate"], "--upscale-model",
                  models["upscale"], "-o", tmp_path / "chain", "--device", "cuda")
    assert chained.exit_code == 0 and calls == [2]
    for name in ("seed000003.png", "seed000004.png"):  # the same pixels (their records name each device)
        host_pixels, chain_pixels = (np.asarray(Image.open(tmp_path / f / name)) for f in ("host", "chain"))
        assert np.array_equal(host_pixels, chain_pixels)
