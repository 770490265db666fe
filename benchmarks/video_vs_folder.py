"""A clip against the same frames as a folder of PNGs: `landscape upscale clip.mkv` and
`landscape upscale frames/`, start to exit, alternating, with the child's peak RSS; and the clip
at three times the length, for memory that must not grow with it. Issue 47's target: the clip
at most 1.25x the folder's time (decoding and encoding overlap the model).

    python -m benchmarks.video_vs_folder                  # 120 frames of 160x120, 3 rounds
    python -m benchmarks.video_vs_folder --frames 240 --json docs/video_vs_folder.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import REPO, timed_cli

TARGET = 1.25


def frames_and_clip(folder: Path, count: int, width: int, height: int) -> tuple[Path, Path]:
    """A clip of `count` frames (a ramp with the frame's index drawn in it, sound beside it) and the same frames as PNGs,
    decoded from the clip so that both sides upscale the very same pixels."""
    import av
    from PIL import Image

    from tests.video_fixtures import make_clip  # the tests' clips: run from the checkout's root

    clip = folder / "clip.mkv"
    make_clip(clip, frames=count, width=width, height=height, subtitles=False, chapters=False)
    pngs = folder / "frames"
    pngs.mkdir()
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            Image.fromarray(frame.to_ndarray(format="rgb24")).save(pngs / f"{i:05d}.png")
    return clip, pngs


def timed(args: list[str], out: Path) -> tuple[float, float]:
    return timed_cli([*args, "-o", str(out), "-q", "--overwrite"], env={**os.environ, "LANDSCAPE_NO_SERVER": "1"}, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    from landscape.runtime.cpu import facts

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clip, pngs = frames_and_clip(Path(tmp), args.frames, args.width, args.height)
        longer = Path(tmp) / "long"
        longer.mkdir()
        long_clip, _ = frames_and_clip(longer, 3 * args.frames, args.width, args.height)
        runs: dict[str, list[tuple[float, float]]] = {"clip": [], "folder": [], "clip x3": []}
        timed(["upscale", str(clip)], Path(tmp) / "warm")  # compiles the model once, for both sides
        for _ in range(args.rounds):
            runs["clip"].append(timed(["upscale", str(clip)], Path(tmp) / "out-clip"))
            runs["folder"].append(timed(["upscale", str(pngs)], Path(tmp) / "out-folder"))
        runs["clip x3"].append(timed(["upscale", str(long_clip)], Path(tmp) / "out-long"))
    seconds = {k: statistics.median(t for t, _ in v) for k, v in runs.items()}
    peak = {k: max(m for _, m in v) for k, v in runs.items()}
    ratio = seconds["clip"] / seconds["folder"]
    print(f"CPU: {facts().describe()}, {os.cpu_count()} threads; {args.frames} frames of {args.width}x{args.height} "
          f"upscaled x4 (bundled model, defaults); median of {args.rounds} alternating rounds, start to exit")
    print(f"clip (mkv, libx264 crf 18, audio copied)  {seconds['clip']:7.2f} s  {peak['clip']:6.0f} MB")
    print(f"the same frames as PNGs                   {seconds['folder']:7.2f} s  {peak['folder']:6.0f} MB")
    print(f"clip / folder: {ratio:.2f} (target <= {TARGET})   "
          f"the clip 3x as long: {seconds['clip x3']:.2f} s, {peak['clip x3']:.0f} MB peak (memory flat: "
          f"{peak['clip x3'] / peak['clip']:.2f}x)")
    print("reproduce: python -m benchmarks.video_vs_folder " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"cpu": facts().describe(), "frames": args.frames, "size": [args.width, args.height],
                                         "seconds": seconds, "peak_rss_mb": peak, "clip_over_folder": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
