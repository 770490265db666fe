"""Video clips through `upscale` and `inpaint` (and `generate --animation walk.mp4`): every frame's
timestamp kept (variable frame rates too), audio packets byte-identical, subtitles, chapters and
metadata kept, a rotated clip made upright, 10 bits kept, a killed run resumed to the clean run's
frames, and each bad clip one line with the others going on. The clips are made here with PyAV
(tests/video_fixtures.py)."""
from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="landscape[video] is not installed")

from landscape.errors import FatalError, ItemError, UsageError  # noqa: E402
from landscape.imaging import video  # noqa: E402
from tests.video_fixtures import make_clip, read_index  # noqa: E402

DOUBLE = staticmethod(lambda pixels, index: np.repeat(np.repeat(pixels, 2, 0), 2, 1))


def decoded(path: Path) -> list:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        return [bytes(p) for p in container.demux(streams) if p.size] if streams else []


def digests(path: Path) -> list[str]:
    return [hashlib.sha256(f.to_ndarray(format="rgb24").tobytes()).hexdigest() for f in decoded(path)]


def run(source: Path, target: Path, transform=None, encoding: video.Encoding = video.Encoding(), job=None, **kwargs):
    return video.process(source, target, transform or DOUBLE.__func__, encoding, job=job or {"test": 1},
                         check_size=kwargs.pop("check_size", lambda h, w: None), **kwargs)


@pytest.mark.parametrize("name,variable", [("clip.mkv", True), ("clip.mp4", False)])
def test_timing_sound_subtitles_chapters_and_metadata_are_kept(tmp_path, name, variable):
    source = tmp_path / name
    make_clip(source, frames=260 if variable else 40, vfr=variable)  # three segments for the VFR clip
    result = run(source, tmp_path / "out" / name)
    assert result.output == tmp_path / "out" / name and result.frames == (260 if variable else 40)
    made, given = decoded(result.output), decoded(source)
    assert [f.time for f in made] == [f.time for f in given]  # every timestamp, none rebuilt from a rate
    assert [read_index(f.to_ndarray(format="rgb24"), 2) for f in made] == [i % 256 for i in range(len(given))]
    assert made[0].width == 128 and made[0].height == 96
    assert packets(result.output, "audio") == packets(source, "audio") and packets(source, "audio")
    assert packets(result.output, "subtitle") == packets(source, "subtitle")
    with av.open(str(result.output)) as out, av.open(str(source)) as src:
        assert [c["metadata"] for c in out.chapters()] == [c["metadata"] for c in src.chapters()]
        assert out.metadata.get("title") == "landscape test clip"
        assert out.streams.video[0].codec_context.colorspace == 6  # 48 lines, untagged: BT.601, tagged so
    assert not video.work_folder(result.output).exists() and sorted(p.name for p in (tmp_path / "out").iterdir()) == [name]


def test_a_rotated_clip_comes_out_upright(tmp_path):
    source = tmp_path / "phone.mp4"
    make_clip(source, frames=6, rotate=90, subtitles=False)
    result = run(source, tmp_path / "out.mp4", encoding=video.Encoding(crf=0))
    made, given = decoded(result.output), decoded(source)
    assert given[0].rotation == 90 and made[0].rotation == 0
    assert (made[0].width, made[0].height) == (96, 128)
    upright = np.rot90(given[2].to_ndarray(format="rgb24"), 1)
    doubled = np.repeat(np.repeat(upright, 2, 0), 2, 1).astype(int)
    assert np.abs(made[2].to_ndarray(format="rgb24").astype(int) - doubled).mean() < 3


def test_ten_bits_stay_ten_bits(tmp_path):
    source = tmp_path / "deep.mkv"
    make_clip(source, frames=6, codec="libx265", pix_fmt="yuv420p10le", subtitles=False, audio=False)
    seen = []
    result = run(source, tmp_path / "out.mkv", transform=lambda px, i: seen.append(px.dtype) or DOUBLE.__func__(px, i))
    assert set(seen) == {np.dtype(np.uint16)}
    assert decoded(result.output)[0].format.name == "yuv420p10le"


def test_a_killed_run_goes_on_to_the_clean_runs_frames(tmp_path):
    source = tmp_path / "long.mkv"
    make_clip(source, frames=300, vfr=True)
    clean = run(source, tmp_path / "clean.mkv")

    def dying(pixels, index):
        if index == 170:
            raise KeyboardInterrupt
        return DOUBLE.__func__(pixels, index)

    target = tmp_path / "resumed.mkv"
    with pytest.raises(KeyboardInterrupt):
        run(source, target, transform=dying)
    assert not target.exists() and not list(tmp_path.glob(".resumed.mkv.landscape-tmp"))
    kept = sorted(p.name for p in video.work_folder(target).iterdir())
    assert kept == ["manifest.json", "seg-00000.mp4"]  # the whole first segment; the cut second gone
    redone = []
    resumed = run(source, target, transform=lambda px, i: redone.append(i) or DOUBLE.__func__(px, i))
    assert resumed.resumed_from == video.SEGMENT_FRAMES and redone[0] == video.SEGMENT_FRAMES
    assert digests(resumed.output) == digests(clean.output)
    assert packets(resumed.output, "audio") == packets(source, "audio")
    # Another job (or another input) does not take the first run's segments.
    with pytest.raises(KeyboardInterrupt):
        run(source, tmp_path / "again.mkv", transform=dying)
    again = []
    run(source, tmp_path / "again.mkv", transform=lambda px, i: again.append(i) or px, job={"test": 2})
    assert again[0] == 0


def test_encoder_choices_no_audio_and_a_container_that_cannot_hold_the_codec(tmp_path):
    source = tmp_path / "clip.webm"
    make_clip(source, frames=8, codec="libvpx-vp9", audio=False, subtitles=False, chapters=False)
    notes = []
    result = run(source, tmp_path / "out.webm", encoding=video.Encoding(codec="libx264"), note=notes.append)
    assert result.output == tmp_path / "out.mkv" and "cannot hold libx264" in notes[0]
    lossless = run(make_clip_path(tmp_path / "a.mkv"), tmp_path / "l.mkv", encoding=video.Encoding(codec="ffv1", audio=False))
    with av.open(str(lossless.output)) as out:
        assert out.streams.video[0].codec_context.name == "ffv1" and not out.streams.audio
    for bad in (video.Encoding(codec="nosuch"), video.Encoding(codec="aac"), video.Encoding(crf=99)):
        with pytest.raises(UsageError):
            bad.check()


def make_clip_path(path: Path, **kwargs) -> Path:
    make_clip(path, frames=kwargs.pop("frames", 8), **kwargs)
    return path


def test_bad_clips_get_one_reason_each(tmp_path):
    whole = make_clip_path(tmp_path / "whole.mp4", frames=20)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    sound = make_clip_path(tmp_path / "sound.mkv", video=False, subtitles=False)
    empty = make_clip_path(tmp_path / "empty.mkv", frames=0, subtitles=False)  # a video stream without a frame
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(4000))
    for source, reason in ((cut, "not a video this build can read"), (sound, "no video stream"), (empty, "no frames"),
                           (noise, "not a video this build can read")):
        with pytest.raises(ItemError, match=reason):
            run(source, tmp_path / "out" / source.name)
        assert not (tmp_path / "out" / source.name).exists() and not video.work_folder(tmp_path / "out" / source.name).exists()

    def refuse(h, w):
        raise ItemError(f"{w}x{h} is over the limit")

    calls = []
    with pytest.raises(ItemError, match="64x48 is over the limit"):
        run(whole, tmp_path / "big.mp4", transform=lambda px, i: calls.append(i), check_size=refuse)
    assert calls == []  # refused before any frame


def test_a_disk_that_fills_mid_encode_stops_with_one_line_and_keeps_what_resumes(tmp_path, monkeypatch):
    source = make_clip_path(tmp_path / "clip.mkv", frames=200)
    original = video._SegmentWriter.finish
    finished = []

    def full(self):
        if finished:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        finished.append(1)
        original(self)

    monkeypatch.setattr(video._SegmentWriter, "finish", full)
    with pytest.raises(FatalError, match="No space left on device"):
        run(source, tmp_path / "out.mkv")
    assert not (tmp_path / "out.mkv").exists()
    assert sorted(p.name for p in video.work_folder(tmp_path / "out.mkv").iterdir()) == ["manifest.json", "seg-00000.mp4"]


def test_the_cli_makes_clips_beside_pictures_and_a_bad_clip_does_not_stop_the_others(tmp_path, cli, models):
    folder = tmp_path / "in"
    make_clip_path(folder / "a.mkv", frames=12)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(200))
    from tests.conftest import random_image, write_png

    write_png(folder / "still.png", random_image(12, 16))
    res = cli("upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--crf", "20")
    assert res.exit_code == 1, res.output
    assert sorted(res.stdout.split()) == sorted([str(tmp_path / "out" / "a.mkv"), str(tmp_path / "out" / "still.png")])
    assert f"landscape: {folder / 'broken.mp4'}: not a video" in res.stderr
    assert len(decoded(tmp_path / "out" / "a.mkv")) == 12
    again = cli("upscale", folder / "a.mkv", "-o", tmp_path / "out", "--model", models["upscale"], "--json")
    assert again.exit_code == 0 and str(tmp_path / "out" / "a.mkv") in again.stdout and '"skipped"' in again.stdout
    plan = cli("upscale", folder / "a.mkv", "-o", tmp_path / "dry", "--model", models["upscale"], "--dry-run")
    assert plan.exit_code == 0 and "12 frames" in plan.stdout and "audio aac" in plan.stdout and not (tmp_path / "dry").exists()


def test_inpainting_a_clip_changes_only_the_masked_pixels(tmp_path, cli, models):
    from PIL import Image

    source = make_clip_path(tmp_path / "clip.mkv", frames=10, subtitles=False)
    mask = np.zeros((48, 64), np.uint8)
    mask[20:36, 24:48] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    res = cli("inpaint", source, "--masks", tmp_path / "mask.png", "-o", tmp_path / "out", "--model", models["inpaint"],
              "--codec", "ffv1", "--raw-fill")
    assert res.exit_code == 0, res.output
    made, given = decoded(tmp_path / "out" / "clip.mkv"), decoded(source)
    assert len(made) == len(given) == 10
    outside = np.ones((48, 64), bool)
    outside[16:40, 20:52] = False  # the hole and a ring where 4:2:0 chroma mixes across its edge
    for a, b in zip(made, given):
        diff = np.abs(a.to_ndarray(format="rgb24").astype(int) - b.to_ndarray(format="rgb24").astype(int))
        assert diff[outside].max() <= 3 and diff[~outside].max() > 3
    # A mask video: one mask per frame; a shorter one is a reason, not a crash.
    make_clip_path(tmp_path / "masks.mkv", frames=4, audio=False, subtitles=False, chapters=False)
    short = cli("inpaint", source, "--masks", tmp_path / "masks.mkv", "-o", tmp_path / "out2", "--model", models["inpaint"])
    assert short.exit_code == 1 and "ends before frame 4" in short.stderr and not (tmp_path / "out2" / "clip.mkv").exists()


def test_the_api_makes_clips_as_the_cli_does(tmp_path, models):
    import landscape

    source = make_clip_path(tmp_path / "clip.mkv", frames=6)
    frames = []
    result = landscape.Upscaler(models["upscale"]).video(source, tmp_path / "api.mkv", progress=frames.append)
    assert result["frames"] == 6 and sum(frames) == 6 and len(decoded(result["output"])) == 6
    filled = landscape.Inpainter(models["inpaint"]).video(source, tmp_path / "filled.mkv", np.ones((48, 64), bool))
    assert filled["frames"] == 6


def test_a_walk_is_written_as_a_video(tmp_path, cli, models):
    res = cli("generate", "--walk", "1,2", "--frames", "5", "-o", tmp_path / "walk", "--animation", tmp_path / "walk.mp4",
              "--model", models["generate"])
    assert res.exit_code == 0, res.output
    made = decoded(tmp_path / "walk.mp4")
    assert len(made) == 6 and [round(f.time * 12) for f in made] == list(range(6))


def test_ctrl_c_mid_clip_exits_130_and_leaves_nothing_under_the_name(tmp_path, models):
    source = make_clip_path(tmp_path / "clip.mkv", frames=400, width=128, height=96)
    env = {**os.environ, "LANDSCAPE_NO_SERVER": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "landscape", "upscale", str(source), "-o", str(tmp_path / "out"),
                             "--model", str(models["upscale"])], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    folder = video.work_folder(tmp_path / "out" / "clip.mkv")
    deadline = time.monotonic() + 120
    while not (folder / "manifest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "clip.mkv").exists() and (folder / "seg-00000.mp4").exists()


def test_without_pyav_a_clip_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(UsageError, match=r"landscape\[video\]"):
        video.av_module()
