"""SPAN: our inference-form network against spandrel's, the ncnn reader against ncnn itself (on
small SPAN graphs written here in the layout of the published files), its refusals, the export
of a .param through `landscape export`, and fine-tuning through `landscape train upscale`."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.errors import UsageError
from landscape.export.ncnn_span import FP16_TAG, read_span
from landscape.trainers.networks.span import SPANConfig, SPANNet, config_of_published, from_published


def random_span(channels: int = 8, scale: int = 4, seed: int = 0) -> SPANNet:
    net = SPANNet(config=SPANConfig(feature_channels=channels, scale=scale))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return net.eval()


def smooth_picture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 4 + 2, w // 4 + 2, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("scale", [4, 2])
def test_our_network_is_spandrels_on_the_same_weights(scale):
    from spandrel.architectures.SPAN import SPAN

    reference = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=scale)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    reference.eval()
    x = smooth_picture(13, 17)
    with torch.no_grad():
        expected = reference(x)  # eval mode merges its branches into eval_conv first
    state = reference.state_dict()
    ours = SPANNet(config=config_of_published(state))
    ours.load_state_dict(from_published(state), strict=True)
    with torch.no_grad():
        got = ours.eval()(x)
    assert got.shape == (1, 3, 13 * scale, 17 * scale)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


class NcnnGraph:
    """A SPAN graph written as ncnn's .param/.bin, in the layout of the published files: the
    layers PyTorch's export names, Split layers where a blob feeds several, fp16 weights."""

    def __init__(self, tag: int) -> None:
        self.layers: list[tuple[str, str, list[str], list[str], str]] = []
        self.weights = bytearray()
        self.tag = tag  # how convolution weights are stored: FP16_TAG, or another to test refusals

    def add(self, kind: str, name: str, inputs: list[str], output: str, params: str = "") -> str:
        self.layers.append((kind, name, inputs, [output], params))
        return output

    def conv(self, name: str, source: str, conv: torch.nn.Conv2d) -> str:
        w, b = conv.weight.detach(), conv.bias.detach()
        k = w.shape[-1]
        values = w.numpy().astype("<f2").tobytes() if self.tag == FP16_TAG else w.numpy().astype("<f4").tobytes()
        self.weights += struct.pack("<I", self.tag) + values + b"\0" * ((-len(values)) % 4) + b.numpy().astype("<f4").tobytes()
        return self.add("Convolution", name, [source], f"{name}_out", f"0={w.shape[0]} 1={k} 4={k // 2} 5=1 6={w.numel()}")

    def text(self) -> str:
        uses: dict[str, int] = {}
        for _, _, inputs, _, _ in self.layers:
            for blob in inputs:
                uses[blob] = uses.get(blob, 0) + 1
        lines, taken = [], {blob: 0 for blob in uses}
        for kind, name, inputs, outputs, params in self.layers:
            renamed = []
            for blob in inputs:
                renamed.append(f"{blob}_split{taken[blob]}" if uses[blob] > 1 else blob)
                taken[blob] += 1
            lines.append(f"{kind} {name} {len(inputs)} {len(outputs)} {' '.join(renamed + outputs)} {params}".rstrip())
            for blob in outputs:
                if uses.get(blob, 0) > 1:
                    copies = [f"{blob}_split{i}" for i in range(uses[blob])]
                    lines.append(f"Split split_{blob} 1 {len(copies)} {blob} {' '.join(copies)}")
        blobs = {b for line in lines for b in line.split()[4:] if "=" not in b}
        return f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n"


def write_ncnn(net: SPANNet, folder: Path, *, tag: int = FP16_TAG) -> Path:
    g = NcnnGraph(tag)
    g.layers.append(("Input", "input.1", [], ["data"], "0=0"))
    g.weights += np.array([0.4488, 0.4371, 0.4040], "<f4").tobytes()
    mean = g.add("MemoryData", "/Constant", [], "mean", "0=1 1=1 2=3")
    x = g.add("BinaryOp", "/Sub", ["data", mean], "sub", "0=1")
    x = g.add("BinaryOp", "/Mul", [x], "mul", "0=2 1=1 2=2.550000e+02")
    stem = out = g.conv("/conv_1/eval_conv/Conv", x, net.conv_1)
    block_outputs = []
    for i, block in enumerate(net.blocks, 1):
        p = f"/block_{i}"
        first = g.add("Swish", f"{p}/act1/Mul", [g.conv(f"{p}/c1_r/eval_conv/Conv", out, block.c1_r)], f"{p}_a1")
        second = g.add("Swish", f"{p}/act1_1/Mul", [g.conv(f"{p}/c2_r/eval_conv/Conv", first, block.c2_r)], f"{p}_a2")
        third = g.conv(f"{p}/c3_r/eval_conv/Conv", second, block.c3_r)
        attention = g.add("BinaryOp", f"{p}/Sub", [g.add("Sigmoid", f"{p}/Sigmoid", [third], f"{p}_sig")], f"{p}_att",
                          "0=1 1=1 2=5.000000e-01")
        out = g.add("BinaryOp", f"{p}/Mul", [g.add("BinaryOp", f"{p}/Add", [third, out], f"{p}_sum"), attention], f"{p}_out", "0=2")
        block_outputs.append(out)
    last = g.conv("/conv_2/eval_conv/Conv", out, net.conv_2)
    cat = g.add("Concat", "/Concat", [stem, last, block_outputs[0], first], "cat")
    up = g.conv("/upsampler/upsampler.0/Conv", g.conv("/conv_cat/Conv", cat, net.conv_cat), net.upsampler)
    g.add("PixelShuffle", "/upsampler/upsampler.1/DepthToSpace", [up], "output", f"0={net.config.scale}")
    param = folder / "span.param"
    param.write_text(g.text())
    param.with_suffix(".bin").write_bytes(bytes(g.weights))
    return param


def rounded(net: SPANNet) -> SPANNet:
    """The network with its convolution weights rounded to fp16, as the .bin stores them."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight"):
                p.copy_(p.half().float())
    return net


@pytest.mark.parametrize("scale", [4, 2])
def test_the_ncnn_reader_gives_the_network_the_files_hold(tmp_path, scale):
    net = rounded(random_span(scale=scale))
    param = write_ncnn(net, tmp_path)
    read, config = read_span(param)
    assert config == SPANConfig(feature_channels=8, scale=scale)
    x = smooth_picture(11, 14)
    with torch.no_grad():
        assert torch.equal(read(x), net(x))


def test_the_ncnn_reader_agrees_with_ncnn_itself(tmp_path):
    """ncnn runs the written files; our reading of them gives its output (float32 in ncnn)."""
    ncnn = pytest.importorskip("ncnn")
    param = write_ncnn(rounded(random_span()), tmp_path)
    read, _ = read_span(param)
    x = smooth_picture(12, 15)
    engine = ncnn.Net()
    for option in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_vulkan_compute"):
        setattr(engine.opt, option, False)
    assert engine.load_param(str(param)) == 0 and engine.load_model(str(param.with_suffix(".bin"))) == 0
    chw = np.ascontiguousarray(x[0].numpy())
    extractor = engine.create_extractor()
    extractor.input("data", ncnn.Mat(chw))
    status, out = extractor.extract("output")
    assert status == 0
    with torch.no_grad():
        ours = read(x)[0].numpy()
    assert np.abs(np.array(out) - ours).max() < 1e-4


def _recount(text: str, more: int) -> str:
    magic, counts, *rest = text.splitlines()
    layers, blobs = counts.split()
    return "\n".join([magic, f"{int(layers) + more} {blobs}", *rest]) + "\n"


def test_bad_ncnn_files_are_refused_with_the_reason(tmp_path):
    net = rounded(random_span())
    param = write_ncnn(net, tmp_path)
    good_bin = param.with_suffix(".bin").read_bytes()
    cases = {
        "truncated": (param.read_text(), good_bin[:-10], "ends at byte"),
        "extra bytes": (param.read_text(), good_bin + b"\0" * 8, "8 bytes past the weights"),
        "not ncnn": ("hello\n", good_bin, "not an ncnn .param file"),
        "other layers": (param.read_text().replace("Swish", "ReLU", 1), good_bin, "ReLU are not in a SPAN graph"),
        "other names": (param.read_text().replace("/conv_1/eval_conv/Conv", "/stem/Conv"), good_bin, "not a SPAN graph"),
        "layer count": (_recount(param.read_text(), +1), good_bin, "declares"),
    }
    for name, (text, data, reason) in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / "m.param").write_text(text)
        (folder / "m.bin").write_bytes(data)
        with pytest.raises(UsageError, match=reason):
            read_span(folder / "m.param")
    quantized = tmp_path / "q"
    quantized.mkdir()
    write_ncnn(net, quantized, tag=0x000D4B38)
    with pytest.raises(UsageError, match="quantized"):
        read_span(quantized / "span.param")
    (tmp_path / "alone.param").write_text(param.read_text())
    with pytest.raises(UsageError, match="alone.bin: no such file"):
        read_span(tmp_path / "alone.param")


def test_landscape_export_takes_an_ncnn_span_and_the_commands_run_it(tmp_path, cli):
    from PIL import Image

    param = write_ncnn(rounded(random_span(scale=2)), tmp_path)
    res = cli("export", param, "-o", tmp_path / "span.onnx")
    assert res.exit_code == 0, res.output
    info = json.loads(cli("models", "show", tmp_path / "span.onnx", "--json").stdout)
    row = next(r for r in info if r["origin"] == "given")
    assert row["family"] == "span" and row["scale"] == 2 and row["parity"]["fp32_max_abs_diff"] < 2e-3
    assert row["training"]["source_file"] == "span.param" and len(row["training"]["weights_sha256"]) == 64
    Image.fromarray(np.full((6, 9, 3), 90, np.uint8)).save(tmp_path / "pic.png")
    up = cli("upscale", tmp_path / "pic.png", "--model", tmp_path / "span.onnx", "--scale", 3, "-o", tmp_path / "out")
    assert up.exit_code == 0, up.output
    assert Image.open(tmp_path / "out" / "pic.png").size == (27, 18)  # x2 twice, then area to x3
    wrong = cli("export", param, "--task", "inpaint", "-o", tmp_path / "x.onnx")
    assert wrong.exit_code == 2 and "upscales" in wrong.stderr and not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_train_upscale_fine_tunes_span_from_a_checkpoint(tmp_path):
    """`landscape train upscale --arch span --init-from` starts from the given weights (its
    first evaluation equals theirs), trains, exports; a checkpoint of another family is refused."""
    from landscape.trainers import esrgan
    from landscape.trainers.checkpoint import load_checkpoint, module_state, prefixed, save_checkpoint
    from landscape.trainers.networks import config_to_dict
    from tests.train_helpers import make_photos

    photos = make_photos(tmp_path / "photos")
    start = random_span(channels=8, scale=2)
    init = save_checkpoint(tmp_path / "init.safetensors", prefixed("net", start.state_dict()),
                           {"family": "span", "network": config_to_dict(start.config), "weights": "net", "step": 0, "data": "test"})
    common = ["--data", str(photos), "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2", "--resolution", "8",
              "--eval-size", "32", "--feature-channels", "8", "--workers", "0", "--log-every", "1", "--eval-every", "0",
              "--sample-every", "0", "--device", "cpu", "--holdout", "0.3"]
    assert esrgan.main(["--arch", "span", "--scale", "2", "--init-from", str(init), "--pixel-loss", "mse", *common]) == 0
    tensors, config = load_checkpoint(sorted((tmp_path / "run" / "checkpoints").glob("*.safetensors"))[-1])
    assert config["family"] == "span" and config["network"]["scale"] == 2
    trained = module_state(tensors, config["weights"])
    assert not torch.equal(trained["conv_1.weight"], start.state_dict()["conv_1.weight"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("mse" in r for r in records if r["kind"] == "train")
    rrdb = save_checkpoint(tmp_path / "rrdb.safetensors", {"net.x": torch.zeros(1)},
                           {"family": "esrgan", "network": {}, "weights": "net"})
    assert esrgan.main(["--arch", "span", "--init-from", str(rrdb), *common[:3], str(tmp_path / "run2"), *common[4:]]) == 2
