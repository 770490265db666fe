"""The CPU backends side by side in one run: ONNX Runtime fp32, OpenVINO f32, OpenVINO bf16
(where the CPU has AMX or AVX512-BF16), OpenVINO int8 and the defaults (`auto`), on the bundled
models and on a published architecture against ncnn.

1. Model only: each pipeline's recorded CLI calls (the exact shapes, padding and batching the
   CLI uses) replayed through the runtime's own Model for each backend and precision: images/s.
2. The CLI end to end, per pipeline and setting: steady-state images/s and start-up
   (benchmarks/harness.py: runs of n and 3n pictures).
3. The main job, `landscape generate -n 100 --upscale`, from process start to exit, and a folder
   upscale of 12 photos of 612x408: the defaults against `--backend onnxruntime --precision fp32`.
4. A peer on the same weights: an ESRGAN x4 RRDBNet (64 features, 23 blocks, 16.7 M parameters,
   spandrel's class, seeded default initialisation) saved as a .pth, imported with
   `landscape export` and run with `landscape upscale`; the same weights converted by pnnx and
   run in ncnn (pip `ncnn`, `pnnx`: the `bench` extra), same threads, on 4 pictures of 128x96.

    python -m benchmarks.cpu_backends --json docs/cpu_backends.json       # about 10 minutes on 2 cores
    python -m benchmarks.cpu_backends --quick                            # fewer pictures, no peer
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from benchmarks.harness import (COMMANDS, TASKS, best_of, per_second, write_photos, record_calls, run_once,
                                 steady_state)
from landscape.runtime.cpu import facts
from landscape.runtime.sessions import choose_device, load_model

PARTS = {"model", "cli", "jobs", "peer"}
PEER_SIDE = (96, 128)  # height, width of the peer's inputs
PHOTO_SIZE = (408, 612)  # the landscape photos' usual size


def settings() -> list[tuple[str, str]]:
    """(backend, precision) pairs this CPU can run, and the defaults (auto, auto). int8 is what
    `--precision int8` runs: a model whose int8 check fails runs in the next precision (the
    report's `ran` rows say which)."""
    rows = [("onnxruntime", "fp32"), ("openvino", "fp32")]
    return rows + ([("openvino", "bf16")] if facts().has_bf16 else []) + [("openvino", "int8"), ("auto", "auto")]


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("onnxruntime-gpu", "onnxruntime", "openvino", "ncnn", "pnnx", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def model_only(workdir: Path, threads: int, seconds: float) -> dict:
    """images/s of each pipeline's recorded calls, per backend and precision."""
    table, ran = {}, {}
    for pipeline in COMMANDS:
        calls = record_calls(pipeline, workdir)
        row = {}
        for backend, precision in settings():
            device = choose_device("cpu", threads, backend, precision)
            models = {task: load_model(task, None, device) for task in TASKS[pipeline]}
            ran[f"{pipeline}, {backend} {precision}"] = {task: f"{m.backend} {m.precision}" for task, m in models.items()}

            def replay() -> None:
                for task, feeds in calls.calls:
                    models[task].run(**feeds)

            row[f"{backend} {precision}"] = round(per_second(replay, calls.pictures, seconds), 3)
        table[pipeline] = row
        print(f"model only  {pipeline:20s} " + "  ".join(f"{k}: {v:7.2f}/s" for k, v in row.items()), flush=True)
    table["ran"] = ran
    return table


def cli_steady(workdir: Path, threads: int, quick: bool) -> dict:
    """The CLI's steady-state images/s and start-up seconds, per pipeline and setting."""
    table = {}
    for pipeline in COMMANDS:
        row = {}
        for backend, precision in settings():
            images = 4 if quick or pipeline == "generate --upscale" and backend == "onnxruntime" else 8
            if pipeline == "generate":
                images *= 4
            steady = steady_state(pipeline, workdir, images, threads=threads,
                                  extra=("--backend", backend, "--precision", precision))
            row[f"{backend} {precision}"] = {"rate": round(steady.rate, 3), "start_s": round(steady.start, 3),
                                             "rss_mb": round(steady.rss_mb)}
        table[pipeline] = row
        print(f"CLI         {pipeline:20s} " + "  ".join(f"{k}: {v['rate']:7.2f}/s (start {v['start_s']:.2f} s)"
                                                         for k, v in row.items()), flush=True)
    return table


def whole_jobs(workdir: Path, threads: int, quick: bool) -> dict:
    """Seconds from start to exit: the main job and a folder upscale, defaults against ORT fp32."""
    photos = workdir / "photos"
    write_photos(photos, 4 if quick else 12, PHOTO_SIZE[1], PHOTO_SIZE[0], newest=True)
    jobs = {"generate -n 100 --upscale": ["generate", "-n", "20" if quick else "100", "--upscale"],
            "upscale of a folder": ["upscale", str(photos)]}
    table = {}
    for name, args in jobs.items():
        row = {}
        # bf16 on OpenVINO: the default before int8 on CPUs with bf16 units (fp32 on the others).
        before = ["--backend", "openvino", "--precision", "bf16" if facts().has_bf16 else "fp32"]
        for label, extra in (("onnxruntime fp32", ["--backend", "onnxruntime", "--precision", "fp32"]),
                             ("openvino bf16/fp32", before), ("defaults", [])):
            out = workdir / f"job-{time.monotonic_ns()}"
            run = run_once([*args, "-o", str(out), *extra], threads=threads, jobs="auto", backend=None)
            row[label] = {"seconds": round(run.seconds, 2), "rss_mb": round(run.rss_mb)}
        row["speed-up"] = round(row["onnxruntime fp32"]["seconds"] / row["defaults"]["seconds"], 2)
        row["speed-up over openvino bf16/fp32"] = round(row["openvino bf16/fp32"]["seconds"] / row["defaults"]["seconds"], 2)
        table[name] = row
        print(f"whole job   {name:26s} ORT fp32 {row['onnxruntime fp32']['seconds']:.1f} s, OpenVINO bf16/fp32 "
              f"{row['openvino bf16/fp32']['seconds']:.1f} s, defaults {row['defaults']['seconds']:.1f} s "
              f"({row['defaults']['rss_mb']} MB): {row['speed-up']:.2f}x ORT, "
              f"{row['speed-up over openvino bf16/fp32']:.2f}x OpenVINO bf16/fp32", flush=True)
    return table


def peer_files(workdir: Path) -> tuple[Path, Path, Path]:
    """The RRDB x4 weights (.pth), our ONNX import of them, and ncnn's conversion (made once
    per workdir: pnnx takes minutes)."""
    import subprocess

    pth, onnx_file, param = workdir / "rrdb_x4.pth", workdir / "rrdb_x4.onnx", workdir / "rrdb_x4.ncnn.param"
    if not pth.exists():
        import torch
        from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

        torch.manual_seed(0)
        net = RRDBNet(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4).eval()
        torch.save(net.state_dict(), pth)
    if not onnx_file.exists():
        done = subprocess.run([sys.executable, "-m", "landscape", "export", str(pth), "-o", str(onnx_file)],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"landscape export failed: {done.stderr[-1500:]}")
    if not param.exists():
        import torch
        from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

        net = RRDBNet(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4).eval()
        net.load_state_dict(torch.load(pth, weights_only=True))
        traced = workdir / "rrdb_x4.pt"
        torch.jit.trace(net, torch.rand(1, 3, *PEER_SIDE)).save(str(traced))
        # ncnn's weights in fp32. pnnx runs in a process of its own, in the folder, on names
        # inside it: called from this process (which has loaded OpenVINO and ONNX Runtime) it
        # wrote no ncnn files.
        convert = ("import pnnx; pnnx.convert('rrdb_x4.pt', input_shapes=[[1, 3, %d, %d]], input_types=['f32'], "
                   "ncnnparam='rrdb_x4.ncnn.param', ncnnbin='rrdb_x4.ncnn.bin', ncnnpy='rrdb_x4_ncnn.py', fp16=False)"
                   % PEER_SIDE)
        subprocess.run([sys.executable, "-c", convert], cwd=workdir, capture_output=True, check=True)
        if not param.exists():
            raise SystemExit(f"pnnx wrote no {param}")
    return pth, onnx_file, param


def peer(workdir: Path, threads: int) -> dict:
    """ncnn against landscape on the same weights and pictures."""
    import ncnn
    from PIL import Image

    pth, onnx_file, param = peer_files(workdir)
    pictures = np.random.default_rng(1).random((4, 3, *PEER_SIDE), dtype=np.float32)
    src = workdir / "peer-in"
    src.mkdir(exist_ok=True)
    for i, picture in enumerate(pictures):
        Image.fromarray((picture.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(src / f"{i}.png")
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_vulkan_compute = False
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))

    def ncnn_run(x: np.ndarray) -> np.ndarray:
        extractor = net.create_extractor()
        extractor.input("in0", ncnn.Mat(np.ascontiguousarray(x)))
        return np.array(extractor.extract("out0")[1])

    ncnn_run(pictures[0])  # warm-up
    start = time.perf_counter()
    ncnn_out = [ncnn_run(x) for x in pictures]
    ncnn_s = time.perf_counter() - start
    model = load_model("upscale", onnx_file, choose_device("cpu", threads))
    ours_out = [model.run(image=x[None])[0] for x in pictures[:1]]
    model_s = best_of(2, lambda: [model.run(image=x[None]) for x in pictures])
    cli = run_once(["upscale", str(src), "--model", str(onnx_file), "-o", str(workdir / f"peer-{time.monotonic_ns()}")],
                   threads=threads, jobs="auto", backend=None)
    agreement = float(10 * np.log10(1 / np.mean((np.clip(ncnn_out[0], 0, 1) - np.clip(ours_out[0], 0, 1)) ** 2)))
    row = {"weights": "ESRGAN x4 RRDBNet 64/23 (16.7 M), spandrel, seeded init", "pictures": len(pictures),
           "size": list(PEER_SIDE), "ncnn_s": round(ncnn_s, 2), "landscape_model_s": round(model_s, 2),
           "landscape_backend": f"{model.backend} {model.precision} ({model.why})", "landscape_s": round(cli.seconds, 2),
           "ratio_model": round(ncnn_s / model_s, 2), "ratio_cli": round(ncnn_s / cli.seconds, 2),
           "psnr_ncnn_vs_landscape_db": round(agreement, 1)}
    print(f"peer        ncnn {ncnn_s:.2f} s, landscape model {model_s:.2f} s ({row['ratio_model']:.2f}x), "
          f"landscape upscale CLI from start to exit {cli.seconds:.2f} s ({row['ratio_cli']:.2f}x); "
          f"{model.backend} {model.precision}; outputs {agreement:.1f} dB apart", flush=True)
    return row


def markdown(report: dict) -> str:
    """The report's tables, as docs/PERFORMANCE.md shows them."""
    settings_ = [k for k in next(iter(report["model_only"].values()))]
    head = "| pipeline | " + " | ".join(settings_) + " | defaults / ORT fp32 |\n|---|" + "---|" * (len(settings_) + 1)
    lines = [f"CPU: {report['cpu']} [{', '.join(report['units'])}], {report['threads']} threads; "
             + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), "", "Model only, images/s:", "", head]
    for pipeline, row in report["model_only"].items():
        if pipeline == "ran":
            continue
        ratio = row["auto auto"] / row["onnxruntime fp32"]
        lines.append(f"| {pipeline} | " + " | ".join(f"{row[k]:.2f}" for k in settings_) + f" | {ratio:.2f}x |")
    if "cli" in report:
        lines += ["", "The CLI end to end, steady-state images/s (start-up in seconds):", "", head]
    for pipeline, row in report.get("cli", {}).items():
        ratio = row["auto auto"]["rate"] / row["onnxruntime fp32"]["rate"]
        lines.append(f"| {pipeline} | " + " | ".join(f"{row[k]['rate']:.2f} ({row[k]['start_s']:.2f} s)" for k in settings_)
                     + f" | {ratio:.2f}x |")
    lines += ["", "| whole job, start to exit (peak RSS) | ONNX Runtime fp32 | OpenVINO bf16 (fp32 without the units) | "
              "defaults | defaults / ORT | defaults / OpenVINO bf16 |", "|---|---|---|---|---|---|"]
    for name, row in report["whole_jobs"].items():
        cells = [f"{row[k]['seconds']:.1f} s ({row[k]['rss_mb']} MB)" for k in ("onnxruntime fp32", "openvino bf16/fp32", "defaults")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['speed-up']:.2f}x | {row['speed-up over openvino bf16/fp32']:.2f}x |")
    if "peer" in report:
        peer_ = report["peer"]
        lines += ["", f"Peer ({peer_['weights']}, {peer_['pictures']} pictures of {peer_['size'][1]}x{peer_['size'][0]}): "
                  f"ncnn {peer_['ncnn_s']:.2f} s; landscape model only {peer_['landscape_model_s']:.2f} s "
                  f"({peer_['ratio_model']:.2f}x), `landscape upscale` from start to exit {peer_['landscape_s']:.2f} s "
                  f"({peer_['ratio_cli']:.2f}x); {peer_['landscape_backend']}; the outputs "
                  f"{peer_['psnr_ncnn_vs_landscape_db']:.1f} dB apart."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seconds", type=float, default=3.0, help="model-only time per measurement")
    parser.add_argument("--workdir", type=Path, help="keep inputs and the peer's converted files here (default: a temp folder)")
    parser.add_argument("--quick", action="store_true", help="fewer pictures, no peer")
    parser.add_argument("--parts", default="model,cli,jobs,peer", help="which measurements: model, cli, jobs, peer "
                        "(with --json, the others are kept from the file)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--table", type=Path, help="print the tables of this JSON report and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return 0
    print(f"cpu: {facts().describe()}, {args.threads} threads; {platform.platform()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        parts = set(args.parts.split(","))
        report = json.loads(args.json.read_text()) if args.json and args.json.exists() and parts != PARTS else {}
        report.update({"cpu": facts().model, "units": list(facts().units), "threads": args.threads, "versions": versions()})
        report.pop("int8", None)
        if "model" in parts:
            report["model_only"] = model_only(workdir, args.threads, args.seconds)
        if "cli" in parts:
            report["cli"] = cli_steady(workdir, args.threads, args.quick)
        if "jobs" in parts:
            report["whole_jobs"] = whole_jobs(workdir, args.threads, args.quick)
        if "peer" in parts and not args.quick:
            report["peer"] = peer(workdir, args.threads)
    print("reproduce: python -m benchmarks.cpu_backends " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
