"""The benchmark harness measures what it claims: the model-only figures replay exactly the
arrays the CLI feeds its models, and the steady-state rate is separated from start-up."""

import numpy as np
import pytest

from benchmarks import harness


def test_recorded_calls_are_the_cli_calls(tmp_path, models):
    calls = harness.record_calls("upscale", tmp_path, models={"upscale": models["upscale"]})
    assert calls.pictures == 1 and len(calls.calls) == 1
    task, feeds = calls.calls[0]
    side = harness.INPUT_SIDE["upscale"]  # one window: no context beyond what the size multiple needs
    assert task == "upscale" and feeds["image"].shape == (1, 3, side, side) and feeds["image"].dtype == np.float32

    chain = harness.record_calls("generate --upscale", tmp_path, models={"generate": models["generate"], "upscale": models["upscale"]})
    assert chain.pictures == 8
    assert [task for task, _ in chain.calls] == ["generate", "upscale"]
    assert next(iter(chain.calls[1][1].values())).shape[0] == 8  # the batch goes through the chain whole


def test_steady_state_separates_start_up(tmp_path, models):
    steady = harness.steady_state("generate", tmp_path, 2, threads=1, models={"generate": models["generate"]})
    assert steady.rate > 0 and steady.start > 0 and steady.rss_mb > 0
    assert sorted(p.name for p in tmp_path.glob("out-*/*.png")) == sorted(
        [f"seed{s:06d}.png" for s in range(2)] + [f"seed{s:06d}.png" for s in range(6)])


def test_a_failing_cli_run_stops_the_benchmark(tmp_path):
    with pytest.raises(SystemExit, match="CLI failed"):
        harness.run_once(["upscale", str(tmp_path / "missing"), "-o", str(tmp_path / "o")], threads=1, jobs="0")


def test_end_to_end_reads_the_rate_from_the_written_paths(tmp_path):
    from benchmarks import end_to_end

    rate = end_to_end.cli_rate("generate", tmp_path / "unused", tmp_path / "out", 16, 8, threads=1, jobs="0")
    assert rate > 0 and len(list((tmp_path / "out").glob("*.png"))) == 16
    with pytest.raises(SystemExit, match="CLI failed"):
        end_to_end.cli_rate("upscale", tmp_path / "missing", tmp_path / "o", 2, 1, threads=1, jobs="0")


@pytest.mark.slow
def test_the_cpu_training_breakdown_counts_per_image_and_measures_every_row(tmp_path):
    pytest.importorskip("torch")
    import torch
    from benchmarks import train_cpu
    from torch.utils.flop_counter import FlopCounterMode

    data = train_cpu.synthetic(tmp_path, 8)[0]
    fam = train_cpu.Family("glcic", train_cpu.TINY["glcic"], data)
    _, flops = fam.step(None, fresh_batches=False)
    with FlopCounterMode(display=False) as one, torch.no_grad():
        fam.net.eval()(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    assert flops == pytest.approx(one.get_total_flops())  # per image, whatever the batch
    out = tmp_path / "train_cpu.json"
    assert train_cpu.main(["--tiny", "--seconds", "0.2", "--families", "esrgan", "--data", str(data), "--json", str(out)]) == 0
    result = __import__("json").loads(out.read_text())
    rows = result["families"]["esrgan"]["images_per_s"]
    assert result["conv_ceiling_gflops"] > 0 and rows["generator step"] > 0 and rows["+ batch making"] > 0
    assert result["families"]["esrgan"]["top_ops"]
