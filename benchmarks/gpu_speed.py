"""GPU speed of every pipeline, PyTorch and ONNX Runtime side by side in one run: PyTorch fp32,
PyTorch fp16 channels-last (eager and replayed as a CUDA graph), ONNX Runtime CUDA fp32 and fp16
through IO binding (and fp16 replayed as a CUDA graph), images/s and the share of the bf16
matrix-product rate measured in the same run; then the CLI over a folder against its models
alone, and the main job, `landscape generate -n 2000 --upscale`, from start to exit.

    python -m benchmarks.gpu_speed --out runs/logs/gpu-DATE/bench [--budget-s 150]
    python -m benchmarks.gpu_speed --out /tmp/bench --cpu        # the rehearsal: tiny networks, CPU

The networks are the GPU plan's (gpu/window.py) with random weights (speed does not
depend on their values), exported by the project's exporter on the machine itself. Model-only
figures have their inputs and outputs on the device (IO binding; CUDA events for PyTorch);
the CLI pays its copies, decoding and encoding. Results are written after every pipeline, so
a run cut short keeps what it measured.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

from benchmarks.harness import COMMANDS, flops, record_calls, steady_state
from landscape.export.specs import SPECS
from gpu.window import matmul_rate, network_config
from landscape.trainers.networks import build_network

FAMILY = {"generate": "dcgan", "upscale": "span", "translate": "pix2pix", "inpaint": "glcic", "label": "segmenter"}
# Input height and width per task: the CLI's small-folder upscale, translate/label/inpaint at
# the landscape photos' training scale (3:2).
SHAPE = {"upscale": (128, 128), "translate": (256, 384), "inpaint": (256, 384), "label": (256, 384)}
BATCHES = {"generate": (16, 64, 256), "upscale": (1, 4, 16, 32), "translate": (1, 4, 16), "inpaint": (1, 4, 16),
           "label": (1, 4, 16, 32)}
VARIANTS = ("torch_fp32", "torch_fp16", "torch_fp16_graph", "ort_fp32", "ort_fp16", "ort_fp16_graph")


class Clock:
    def __init__(self, budget_s: float) -> None:
        self.end = time.monotonic() + budget_s

    def left(self) -> float:
        return self.end - time.monotonic()


def rate(fn, images: int, seconds: float, cuda: bool) -> float:
    """Images/s of fn (which makes `images` images), after warm-up, over at least `seconds`."""
    for _ in range(3):
        fn()
    if cuda:
        torch.cuda.synchronize()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return calls * images / elapsed


def torch_graph(fn):
    """`fn` captured once as a CUDA graph; returns the replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


class Models:
    """Each task's network (random weights, seeded) in PyTorch and as exported fp32/fp16 ONNX."""

    def __init__(self, folder: Path, tiny: bool) -> None:
        from landscape.export.exporter import export_checkpoint
        from landscape.trainers.checkpoint import prefixed, save_checkpoint
        from landscape.trainers.networks import config_to_dict

        self.tiny, self.nets, self.configs, self.files = tiny, {}, {}, {}
        folder.mkdir(parents=True, exist_ok=True)
        for task, family in FAMILY.items():
            torch.manual_seed(0)
            config = network_config(family, tiny)
            net = build_network(family, config).eval()
            self.nets[task], self.configs[task] = net, config
            checkpoint = folder / f"{task}.safetensors"
            save_checkpoint(checkpoint, prefixed("net", net.state_dict()),
                            {"family": family, "network": config_to_dict(config), "weights": "net", "step": 0, "data": "random"})
            for precision in ("fp32", "fp16"):
                path = folder / f"{task}-{precision}.onnx"
                if not path.exists():
                    export_checkpoint(checkpoint, path, fp16=precision == "fp16")
                self.files[task, precision] = path

    def batches(self, task: str) -> tuple[int, ...]:
        return (1, 2) if self.tiny else BATCHES[task]

    def inputs(self, task: str, batch: int) -> list[torch.Tensor]:
        h, w = SHAPE.get(task, (0, 0))
        if self.tiny:  # the rehearsal's networks are tiny; so are their pictures
            h, w = h // 4, w // 4
        return list(SPECS[FAMILY[task]].examples(self.configs[task], (batch, h, w), torch.Generator().manual_seed(1)))


def measure_pipeline(task: str, models: Models, dev: torch.device, seconds: float, clock: Clock) -> dict:
    from landscape.runtime import sessions

    cuda = dev.type == "cuda"
    device = sessions.choose_device("cuda" if cuda else "cpu", 0, "onnxruntime")
    net32 = models.nets[task].to(dev)
    row: dict = {"pipeline": task, "variants": {}, "batch_sweep": {}}
    inputs_cpu = models.inputs(task, 1)
    row["gflop_per_image"] = flops(lambda: net32(*[x.to(dev)[:1] for x in inputs_cpu])) / 1e9

    def ort_bound(path: Path, batch: int, graph: bool):
        model = sessions.load_model(task, path, device, graph=graph)
        feeds = {spec.name: x.numpy() for spec, x in zip(model.info.inputs, models.inputs(task, batch))}
        out_shape = model.run(**feeds).shape
        call = sessions.FixedShapeCall(model, {k: v.shape for k, v in feeds.items()}, out_shape)
        call(**feeds)  # the inputs now sit in the bound buffers; only the graph runs below
        return lambda: (model.session.run_with_iobinding(call.binding), call.binding.synchronize_outputs())

    batch = models.batches(task)[len(models.batches(task)) // 2]
    row["batch"] = batch
    inputs32 = [x.to(dev) for x in models.inputs(task, batch)]
    with torch.no_grad():
        row["variants"]["torch_fp32"] = rate(lambda: net32(*inputs32), batch, seconds, cuda)
        if cuda:
            net16 = build_network(FAMILY[task], models.configs[task]).eval().to(dev)
            net16.load_state_dict(net32.state_dict())
            net16 = net16.half().to(memory_format=torch.channels_last)
            inputs16 = [x.half().contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x.half() for x in inputs32]
            row["variants"]["torch_fp16"] = rate(lambda: net16(*inputs16), batch, seconds, cuda)
            row["variants"]["torch_fp16_graph"] = rate(torch_graph(lambda: net16(*inputs16)), batch, seconds, cuda)
    for precision, graph, name in (("fp32", False, "ort_fp32"), ("fp16", False, "ort_fp16"), ("fp16", True, "ort_fp16_graph")):
        if graph and not cuda:
            continue  # no CUDA graphs on the CPU
        if clock.left() < 5:
            row["variants"][name] = None
            continue
        row["variants"][name] = rate(ort_bound(models.files[task, precision], batch, graph), batch, seconds, cuda)
    for b in models.batches(task):
        if clock.left() < 5:
            break
        row["batch_sweep"][b] = rate(ort_bound(models.files[task, "fp16"], b, False), b, seconds / 2, cuda)
    return row


def measure_chain(models: Models, dev: torch.device, seconds: float) -> dict:
    """generate --upscale: the generator's pictures into the upscaler without leaving the device."""
    from landscape.runtime import sessions
    from landscape.pipelines.generate import generate_upscaled, latents

    cuda = dev.type == "cuda"
    batch = models.batches("generate")[1]
    g, u = models.nets["generate"].to(dev), models.nets["upscale"].to(dev)
    z = models.inputs("generate", batch)[0].to(dev)
    row = {"pipeline": "generate --upscale", "batch": batch, "variants": {}}
    with torch.no_grad():
        picture = g(z[:1]).add(1).div(2)
    row["gflop_per_image"] = (flops(lambda: g(z[:1])) + flops(lambda: u(picture[:1]))) / 1e9
    with torch.no_grad():
        row["variants"]["torch_fp32"] = rate(lambda: u(g(z).add(1).div(2)), batch, seconds, cuda)
        if cuda:
            g16 = build_network("dcgan", models.configs["generate"]).eval().to(dev)
            g16.load_state_dict(g.state_dict())
            u16 = build_network(FAMILY["upscale"], models.configs["upscale"]).eval().to(dev)
            u16.load_state_dict(u.state_dict())
            g16, u16 = g16.half().to(memory_format=torch.channels_last), u16.half().to(memory_format=torch.channels_last)
            z16 = z.half()
            row["variants"]["torch_fp16"] = rate(lambda: u16(g16(z16).add(1).div(2)), batch, seconds, cuda)
            row["variants"]["torch_fp16_graph"] = rate(torch_graph(lambda: u16(g16(z16).add(1).div(2))), batch, seconds, cuda)
    device = sessions.choose_device("cuda" if cuda else "cpu", 0, "onnxruntime")
    seeds = list(range(batch))
    for precision in ("fp32", "fp16"):
        gen = sessions.load_model("generate", models.files["generate", precision], device)
        up = sessions.load_model("upscale", models.files["upscale", precision], device)
        rescale = sessions.Rescale(device)
        # Latents in, upscaled pictures out: the chain as the CLI runs it on a GPU.
        z = latents(seeds, gen.info.latent_dim)
        row["variants"][f"ort_{precision}"] = rate(lambda: generate_upscaled(gen, up, rescale, z), batch, seconds, cuda)
    return row


def cli_against_models(pipeline: str, models: Models, cuda: bool, workdir: Path, images: int) -> dict:
    """The CLI's steady rate over a folder against the same calls replayed on its models alone."""
    import onnxruntime as ort

    from benchmarks.harness import ort_runner, per_second
    from landscape.runtime import sessions

    tasks = ("generate", "upscale") if pipeline == "generate --upscale" else (pipeline,)
    files = {t: models.files[t, "fp16"] for t in tasks}
    steady = steady_state(pipeline, workdir, images, threads=0, models=files, device="cuda" if cuda else "cpu")
    calls = record_calls(pipeline, workdir, models=files)
    device = sessions.choose_device("cuda" if cuda else "cpu", 0, "onnxruntime")
    sessions = {t: ort.InferenceSession(str(files[t]), sessions.session_options(device, task=t),
                                        providers=sessions.providers_for(device, t)) for t in tasks}
    model_rate = per_second(ort_runner(sessions, calls), calls.pictures, 2.0)
    return {"pipeline": pipeline, "cli_img_s": steady.rate, "model_img_s": model_rate, "cli_over_model": steady.rate / model_rate,
            "cli_start_s": steady.start}


def main_job(models: Models, cuda: bool, workdir: Path, count: int) -> dict:
    out = workdir / "main-job"
    cmd = [sys.executable, "-m", "landscape", "generate", "-n", str(count), "--upscale", "-o", str(out), "-q",
           "--model", str(models.files["generate", "fp16"]), "--upscale-model", str(models.files["upscale", "fp16"]),
           "--device", "cuda" if cuda else "cpu", "--backend", "onnxruntime", "--batch-size", str(BATCHES["generate"][1])]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    written = len(done.stdout.splitlines())
    return {"command": "landscape generate -n %d --upscale" % count, "returncode": done.returncode, "written": written,
            "wall_s": seconds, "img_s": written / seconds, "stderr": done.stderr[-300:]}


def table(result: dict) -> str:
    peak = result["peak_flops"]
    lines = [f"Measured on {result['device']}; {result['peak_name']} {peak / 1e12:.0f} TFLOP/s.", "",
             "| pipeline | batch | GFLOP/img | " + " | ".join(VARIANTS) + " | best ORT / best PyTorch | best, % of peak |",
             "|---|---|---|" + "---|" * (len(VARIANTS) + 2)]
    for row in result["pipelines"]:
        v = row["variants"]
        cells = [f"{v[k]:.0f}" if v.get(k) else "-" for k in VARIANTS]
        best_ort = max((v[k] for k in VARIANTS if k.startswith("ort") and v.get(k)), default=0)
        best_torch = max((v[k] for k in VARIANTS if k.startswith("torch") and v.get(k)), default=0)
        best = max(best_ort, best_torch)
        share = best * row["gflop_per_image"] * 1e9 / peak
        lines.append(f"| {row['pipeline']} | {row['batch']} | {row['gflop_per_image']:.2f} | " + " | ".join(cells)
                     + f" | {best_ort / max(best_torch, 1e-9):.2f} | {100 * share:.1f} % |")
    if result.get("cli"):
        lines += ["", "| command | CLI img/s | model-only img/s | CLI / model | start-up s |", "|---|---|---|---|---|"]
        for r in result["cli"]:
            lines.append(f"| {r['pipeline']} | {r['cli_img_s']:.1f} | {r['model_img_s']:.1f} | {r['cli_over_model']:.2f} | {r['cli_start_s']:.1f} |")
    if result.get("main_job"):
        m = result["main_job"]
        lines += ["", f"Main job: `{m['command']}` wrote {m['written']} pictures in {m['wall_s']:.1f} s "
                      f"({m['img_s']:.0f} images/s, start to exit)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_speed.json, gpu_speed.md and the models")
    parser.add_argument("--budget-s", type=float, default=150)
    parser.add_argument("--seconds", type=float, default=0.5, help="least timing per figure")
    parser.add_argument("--cpu", action="store_true", help="rehearsal: tiny networks on the CPU")
    parser.add_argument("--main-job", type=int, default=2000, help="pictures of the main job")
    args = parser.parse_args(argv)
    clock = Clock(args.budget_s)
    cuda = not args.cpu
    if cuda and not torch.cuda.is_available():
        print("gpu_speed.py: no CUDA device (use --cpu for the rehearsal)", file=sys.stderr)
        return 2
    dev = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
                    "peak_name": "bf16 8192^3 matmul" if cuda else "fp32 512^3 matmul",
                    "peak_flops": matmul_rate(dev, torch.bfloat16 if cuda else torch.float32, 8192 if cuda else 512),
                    "pipelines": [], "cli": [], "skipped": []}
    import onnxruntime

    result["onnxruntime"] = onnxruntime.__version__

    def save() -> None:
        (args.out / "gpu_speed.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "gpu_speed.md").write_text(table(result))

    models = Models(args.out / "models", tiny=args.cpu)
    seconds = args.seconds if cuda else 0.05
    for task in FAMILY:
        if clock.left() < 15:
            result["skipped"].append(task)
            continue
        result["pipelines"].append(measure_pipeline(task, models, dev, seconds, clock))
        save()
    if clock.left() > 10:
        result["pipelines"].append(measure_chain(models, dev, seconds))
        save()
    with tempfile.TemporaryDirectory() as tmp:
        if clock.left() > 20:
            result["main_job"] = main_job(models, cuda, Path(tmp), args.main_job if cuda else 8)
            save()
        for pipeline in COMMANDS:
            if clock.left() < 20:
                result["skipped"].append(f"cli {pipeline}")
                continue
            # Enough pictures that the 3n run outlasts the n run by seconds, not milliseconds.
            images = (512 if pipeline == "generate" else 256 if pipeline.startswith("generate") else 64) if cuda else 2
            result["cli"].append(cli_against_models(pipeline, models, cuda, Path(tmp), images))
            save()
    save()
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
