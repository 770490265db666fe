"""Which of spandrel's architectures `landscape export` turns into verified ONNX: each is built
with spandrel's own class at a small width and random weights, saved as a BasicSR-style .pth,
exported (fp32, the same checks as for any file), run once through `landscape upscale` with
tiles, and reported as one row of the README's table.

    python -m scripts.import_survey                    # every architecture below
    python -m scripts.import_survey SwinIR HAT         # some
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def builders() -> dict:
    """Architecture id -> a small instance of spandrel's class (widths cut, depths 1)."""
    from spandrel.architectures.ATD import ATD
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DAT import DAT
    from spandrel.architectures.DCTLSA import DCTLSA
    from spandrel.architectures.DRCT import DRCT
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.HAT import HAT
    from spandrel.architectures.LaMa import LaMa
    from spandrel.architectures.MoSR import MoSR
    from spandrel.architectures.NAFNet import NAFNet
    from spandrel.architectures.OmniSR import OmniSR
    from spandrel.architectures.PLKSR import PLKSR
    from spandrel.architectures.RCAN import RCAN
    from spandrel.architectures.RealCUGAN import UpCunet2x
    from spandrel.architectures.RGT import RGT
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SCUNet import SCUNet
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwiftSRGAN import SwiftSRGAN
    from spandrel.architectures.Swin2SR import Swin2SR
    from spandrel.architectures.SwinIR import SwinIR

    attention = {"img_size": 16, "embed_dim": 12, "depths": [1], "num_heads": [2], "upscale": 4}
    return {
        "ESRGAN": lambda: ESRGAN(num_filters=8, num_blocks=1, scale=4),
        "ESRGAN (Real-ESRGAN x2, pixel unshuffle)": lambda: ESRGAN(num_filters=8, num_blocks=1, scale=2, shuffle_factor=2),
        "Compact": lambda: Compact(num_feat=8, num_conv=2, upscale=4),
        "SPAN": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=4),
        "SwiftSRGAN": lambda: SwiftSRGAN(num_channels=8, num_blocks=1, upscale_factor=4),
        "OmniSR": lambda: OmniSR(num_feat=16, block_num=1, window_size=4, up_scale=4),
        "SAFMN": lambda: SAFMN(dim=8, n_blocks=1, upscaling_factor=4),
        "PLKSR": lambda: PLKSR(dim=8, n_blocks=1, kernel_size=5, upscaling_factor=4),
        "RCAN": lambda: RCAN(n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4, scale=4),
        "DCTLSA": lambda: DCTLSA(nf=20, num_modules=2, num_head=5, upscale=4),
        "MoSR": lambda: MoSR(n_block=1, dim=8, upscale=4),
        "RealCUGAN": lambda: UpCunet2x(in_channels=3, out_channels=3),
        "SwinIR": lambda: SwinIR(window_size=4, upsampler="pixelshuffle", **attention),
        "Swin2SR": lambda: Swin2SR(window_size=4, upsampler="pixelshuffle", **attention),
        "HAT": lambda: HAT(window_size=4, compress_ratio=3, squeeze_factor=3, upsampler="pixelshuffle",
                           img_size=16, embed_dim=12, depths=(1,), num_heads=(2,), upscale=4),
        "DAT": lambda: DAT(img_size=16, embed_dim=24, depth=[1], num_heads=[2], split_size=[2, 4], upscale=4),
        "RGT": lambda: RGT(img_size=16, embed_dim=12, depth=[1], num_heads=[2], upscale=4),
        "ATD": lambda: ATD(img_size=16, embed_dim=12, depths=(1,), num_heads=(2,), window_size=4, upscale=4,
                           upsampler="pixelshuffle"),
        "DRCT": lambda: DRCT(img_size=16, embed_dim=12, depths=(1,), num_heads=(2,), window_size=4, upscale=4,
                             upsampler="pixelshuffle"),
        "SCUNet": lambda: SCUNet(config=[1] * 7, dim=32),
        "NAFNet": lambda: NAFNet(width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1),
        "LaMa": lambda: LaMa(in_nc=4),
    }


def survey(name: str, build, folder: Path) -> dict:
    from landscape.export.imported import export_published
    from landscape.runtime.sessions import read_info

    row = {"architecture": name}
    try:
        torch.manual_seed(0)
        net = build()
    except Exception as exc:
        return {**row, "result": f"not built here ({str(exc).splitlines()[0][:80]})"}
    weights = folder / f"{name.split()[0]}.pth"
    torch.save({"params_ema": net.state_dict()}, weights)
    start = time.perf_counter()
    try:
        report = export_published(weights, folder / "model.onnx")
    except Exception as exc:
        return {**row, "result": "does not export", "why": str(exc).split("(", 1)[-1][:160]}
    info = read_info(report.path)
    row.update({"result": "exports", "task": info.task, "scale": info.scale, "multiple": info.size_multiple,
                "exporter": info.raw["parity"]["exporter"], "opset": info.raw["opset"],
                "parity": info.raw["parity"]["fp32_max_abs_diff"], "seconds": round(time.perf_counter() - start, 1)})
    if info.task == "upscale":
        src = folder / "in.png"
        import cv2

        cv2.imwrite(str(src), np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8))
        done = subprocess.run([sys.executable, "-m", "landscape", "upscale", str(src), "--model", str(report.path),
                               "-o", str(folder / "out"), "--tile", str(16 * info.size_multiple // np.gcd(16, info.size_multiple)),
                               "--overwrite", "-q"], capture_output=True, text=True, cwd=ROOT)
        row["cli"] = "ok" if done.returncode == 0 else done.stderr.strip().splitlines()[-1][:120]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    table = builders()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in table.items():
            if args.names and not any(name.startswith(n) for n in args.names):
                continue
            rows.append(survey(name, build, Path(tmp)))
            print(rows[-1], file=sys.stderr, flush=True)
    print("| architecture | result | task, scale | size multiple | exporter, opset | max abs diff |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["result"] != "exports":
            print(f"| {r['architecture']} | {r['result']}: {r.get('why', '')} | | | | |")
            continue
        print(f"| {r['architecture']} | exports{'' if r.get('cli', 'ok') == 'ok' else ', CLI: ' + r['cli']} | {r['task']} "
              f"x{r['scale'] or 1} | {r['multiple']} | {r['exporter']}, {r['opset']} | {r['parity']:.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
