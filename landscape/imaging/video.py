"""Video files in and out, frame by frame, with what video users lose elsewhere kept.

A clip goes through a per-frame function (a model's) in two phases:

1. **Segments.** Frames are decoded (a thread), passed through the function (the caller's
   thread), encoded (a thread) into segments of SEGMENT_FRAMES frames in a work folder beside
   the output (`.NAME.landscape-work/`). Each segment is its own closed group of pictures, written
   whole under a temporary name then renamed, and listed in the folder's manifest with the
   input (size, time, hash of its head) and the job (what makes the frames) it belongs to. A run
   killed and run again continues after the last complete segment (the input is sought there);
   a run of another input or job starts over. No frame ever sits on disk, and the queues between
   the threads are short: memory does not grow with the clip.
2. **Mux.** The segments' packets and the input's other streams (audio, subtitles, attachments,
   copied packet for packet: no re-encoding), chapters and metadata are written into the output
   under a temporary name, renamed into place at the end; the work folder then goes.

Timing: each frame keeps its source timestamp (variable frame rates stay as they are; nothing
is rebuilt from a frame rate or a frame count). Colour: frames are decoded to RGB with the
stream's own matrix and range (untagged: BT.709 from 720 lines up, BT.601 below; limited range)
and encoded back with the same, tagged so. Rotation: a display matrix (phones) is applied to the
pixels; the output is upright and untagged. 10-bit sources are decoded to 16-bit RGB and encoded
in 10 bits where the codec takes them.
"""
from __future__ import annotations

import fractions
import hashlib
import json
import os
import queue
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from landscape.errors import FatalError, ItemError, UsageError, first_line

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".m4v", ".avi")
INSTALL_HINT = "pip install 'landscape[video]' (PyAV)"
SEGMENT_FRAMES = 120
QUEUE_FRAMES = 4
HEAD_BYTES = 1 << 20
# Containers for whole files by extension. Segments go in the first of SEGMENT_FORMATS that holds
# the codec: MP4 and MOV keep every presentation timestamp exactly (their time scale follows the
# stream's, and an edit list carries the encoder's delay); Matroska rounds to milliseconds.
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
SEGMENT_FORMATS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv"}
TEN_BIT = "yuv420p10le"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def av_module() -> Any:
    try:
        import av
    except ImportError:
        raise UsageError(f"videos need PyAV: {INSTALL_HINT}") from None
    return av


@dataclass(frozen=True)
class Encoding:
    """How the frames are encoded."""

    codec: str = "libx264"
    crf: int = 18
    preset: Optional[str] = None
    audio: bool = True  # copy the audio streams

    def check(self) -> None:
        av = av_module()
        if self.codec not in av.codecs_available:
            raise UsageError(f"--codec {self.codec}: this PyAV has no such encoder")
        try:
            codec = av.Codec(self.codec, "w")
        except Exception:
            raise UsageError(f"--codec {self.codec}: not an encoder PyAV can open") from None
        if codec.type != "video":
            raise UsageError(f"--codec {self.codec}: an {codec.type} codec, not a video one")
        if not 0 <= self.crf <= 63:
            raise UsageError(f"--crf {self.crf}: must be in 0..63")

    def options(self) -> dict[str, str]:
        options = {"crf": str(self.crf)}
        if self.preset:
            options["preset"] = self.preset
        return options


@dataclass
class Colour:
    """The video stream's colour matrix and range, as swscale names them, and the tags written."""

    matrix: str  # itu709, itu601, bt2020
    full_range: bool
    tags: dict[str, int] = field(default_factory=dict)  # colorspace, color_range, color_primaries, color_trc


@dataclass
class Info:
    """What --dry-run says of a clip, and what processing needs to know first."""

    width: int  # as displayed: the rotation applied
    height: int
    rotation: int
    frames: Optional[int]  # counted packets (with count_frames), else as the container declares it, if it does
    bits: int
    colour: str
    streams: list[str]
    chapters: int

    def describe(self) -> str:
        frames = f"{self.frames} frames" if self.frames else "frames not counted"
        turn = f", turned {self.rotation} degrees" if self.rotation else ""
        return (f"{self.width}x{self.height}{turn}, {frames}, {self.bits}-bit, {self.colour}; "
                f"streams: {', '.join(self.streams)}; {self.chapters} chapters")


def _open(path: Path) -> Any:
    av = av_module()
    try:
        return av.open(str(path), metadata_errors="replace")
    except Exception as exc:  # FFmpeg's errors: InvalidData, a missing moov atom, ...
        raise ItemError(f"not a video this build can read ({first_line(exc, 120)})") from None


def _video_stream(container: Any) -> Any:
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
        raise ItemError(f"no video stream (it holds {kinds})")
    return container.streams.video[0]


def _colour(stream: Any) -> Colour:
    """The matrix and range a frame is decoded with: the stream's tags; BT.709 from 720 lines
    where it has none (BT.601 below); limited range where that is not tagged either."""
    ctx = stream.codec_context
    space, rng = int(ctx.colorspace or 2), int(ctx.color_range or 0)
    matrix = {1: "itu709", 5: "itu601", 6: "itu601", 9: "bt2020", 10: "bt2020"}.get(
        space, "itu709" if ctx.height >= 720 else "itu601")
    tags = {"colorspace": space if space != 2 else (1 if matrix == "itu709" else 6),
            "color_range": rng or 1,
            "color_primaries": int(ctx.color_primaries or 2) if int(ctx.color_primaries or 2) != 2 else (1 if matrix == "itu709" else 6),
            "color_trc": int(ctx.color_trc or 2) if int(ctx.color_trc or 2) != 2 else (1 if matrix == "itu709" else 6)}
    return Colour(matrix, rng == 2, tags)


def _bits(stream: Any) -> int:
    fmt = stream.codec_context.format
    return max((c.bits for c in fmt.components), default=8) if fmt is not None else 8


def inspect(path: Path, count_frames: bool = False) -> Info:
    """The clip's picture size (upright), rotation, depth, colour, other streams, chapters; with
    `count_frames`, its frames counted from the video packets (read, not decoded)."""
    container = _open(path)
    with container:
        stream = _video_stream(container)
        first = _first_frame(container, stream)
        rotation = int(round((first.rotation or 0) / 90)) * 90 % 360
        w, h = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        colour = _colour(stream)
        streams = [f"{s.type} {s.codec_context.name if s.codec_context else getattr(s, 'name', '?')}"
                   for s in container.streams if s is not stream]
        frames = int(stream.frames) or None
        if count_frames:
            container.seek(0)
            frames = sum(1 for packet in container.demux(stream) if packet.size)
        return Info(w, h, rotation, frames, _bits(stream),
                    f"{colour.matrix}, {'full' if colour.full_range else 'limited'} range", streams,
                    len(container.chapters()))


def _first_frame(container: Any, stream: Any) -> Any:
    try:
        for frame in container.decode(stream):
            return frame
    except Exception as exc:
        raise ItemError(f"damaged: its first frame does not decode ({first_line(exc, 120)})") from None
    raise ItemError("no frames: its video stream holds none")


def _holds(fmt: str, codec: str) -> bool:
    import io

    av = av_module()
    with av.open(io.BytesIO(), "w", format=fmt) as probe:
        return av.Codec(codec, "w").canonical_name in probe.supported_codecs


def output_path(target: Path, encoding: Encoding) -> tuple[Path, Optional[str]]:
    """Where the clip is written: `target`, or the same name in .mkv where its container cannot
    hold the codec (libx264 in .webm); with the note that says so."""
    if _holds(FORMATS.get(target.suffix.lower(), "matroska"), encoding.codec):
        return target, None
    moved = target.with_suffix(".mkv")
    return moved, f"{target.name}: {target.suffix} cannot hold {encoding.codec}; writing {moved.name}"


# -- the work folder -----------------------------------------------------------------------


def work_folder(output: Path) -> Path:
    return output.parent / f".{output.name}.landscape-work"


def _input_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(HEAD_BYTES)).hexdigest()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


class Manifest:
    """The work folder's record: which input and job its segments belong to, and the segments
    complete so far (written after each is renamed into place)."""

    def __init__(self, folder: Path, identity: dict[str, Any], job: dict[str, Any]) -> None:
        self.folder, self.path = folder, folder / "manifest.json"
        self.head = {"input": identity, "job": job, "segment_frames": SEGMENT_FRAMES}
        self.segments: list[dict[str, Any]] = []
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict) and {k: record.get(k) for k in self.head} == self.head:
            self.segments = [s for s in record.get("segments", []) if (folder / s["file"]).is_file()]
        elif folder.exists():
            shutil.rmtree(folder)  # another input or job's: start over

    @property
    def frames_done(self) -> int:
        return sum(s["frames"] for s in self.segments)

    def add(self, segment: dict[str, Any]) -> None:
        from landscape.imaging.outputs import atomic_write

        self.segments.append(segment)
        atomic_write(self.path, (json.dumps({**self.head, "segments": self.segments}, indent=1) + "\n").encode())


# -- phase 1: frames to segments -----------------------------------------------------------


@dataclass
class Frame:
    index: int
    pts: int
    pixels: np.ndarray  # (H, W, 3) uint8 or uint16, upright


def _frames(container: Any, stream: Any, colour: Colour, bits: int, start: Optional[dict[str, Any]]) -> Iterator[Frame]:
    """The clip's frames from `start` (a segment's first frame: index and pts) on, decoded to
    RGB with the clip's matrix and range, upright."""
    index = 0
    if start is not None:
        container.seek(start["first_pts"], stream=stream, backward=True, any_frame=False)
        index = start["first_frame"]
    fmt = "rgb48le" if bits > 8 else "rgb24"
    last_pts = None
    for frame in container.decode(stream):
        if frame.pts is None:
            raise ItemError(f"frame {index} has no timestamp; such a clip is not taken (its timing would be guessed)")
        if start is not None and frame.pts < start["first_pts"]:
            continue  # decoded from the keyframe before the segment's first frame
        if last_pts is not None and frame.pts <= last_pts:
            raise ItemError(f"frame {index}: timestamp {frame.pts} after {last_pts}; damaged timing")
        last_pts = frame.pts
        rgb = frame.reformat(format=fmt, src_colorspace=colour.matrix, src_color_range="JPEG" if colour.full_range else "MPEG",
                             dst_color_range="JPEG").to_ndarray()
        turns = int(round((frame.rotation or 0) / 90)) % 4
        yield Frame(index, frame.pts, np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb)
        index += 1


class _SegmentWriter:
    """Encodes frames into segment files of SEGMENT_FRAMES frames, each finished, renamed and
    recorded before the next begins."""

    def __init__(self, manifest: Manifest, encoding: Encoding, time_base: fractions.Fraction, colour: Colour,
                 ten_bit: bool) -> None:
        self.manifest, self.encoding, self.time_base, self.colour = manifest, encoding, time_base, colour
        self.pix_fmt = TEN_BIT if ten_bit and TEN_BIT in _pixel_formats(encoding.codec) else "yuv420p"
        self.container = self.stream = None
        self.current: dict[str, Any] = {}

    def write(self, frame: Frame, pixels: np.ndarray) -> None:
        av = av_module()
        if self.container is None:
            self._begin(frame, pixels)
        src = av.VideoFrame.from_ndarray(pixels, format="rgb48le" if pixels.dtype == np.uint16 else "rgb24")
        out = src.reformat(format=self.pix_fmt, src_colorspace=self.colour.matrix, dst_colorspace=self.colour.matrix,
                           src_color_range="JPEG", dst_color_range="JPEG" if self.colour.full_range else "MPEG")
        out.pts, out.time_base = frame.pts, self.time_base
        for packet in self.stream.encode(out):
            self.container.mux(packet)
        self.current["frames"] += 1
        self.current["last_pts"] = frame.pts
        if self.current["frames"] == SEGMENT_FRAMES:
            self.finish()

    def _begin(self, frame: Frame, pixels: np.ndarray) -> None:
        av = av_module()
        number = len(self.manifest.segments)
        fmt = next(f for f in SEGMENT_FORMATS if f == "matroska" or _holds(f, self.encoding.codec))
        self.current = {"index": number, "first_frame": frame.index, "first_pts": frame.pts, "frames": 0,
                        "file": f"seg-{number:05d}{SEGMENT_FORMATS[fmt]}"}
        self.temp = self.manifest.folder / f".{self.current['file']}.tmp"
        self.container = av.open(str(self.temp), "w", format=fmt)
        stream = self.container.add_stream(self.encoding.codec, options=self.encoding.options())
        stream.width, stream.height, stream.pix_fmt = pixels.shape[1], pixels.shape[0], self.pix_fmt
        stream.time_base = stream.codec_context.time_base = self.time_base
        for key, value in self.colour.tags.items():
            setattr(stream.codec_context, key, value)
        self.stream = stream

    def finish(self) -> None:
        """The open segment flushed, closed, renamed into place and recorded."""
        if self.container is None:
            return
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.temp, self.manifest.folder / self.current["file"])
        self.manifest.add(self.current)
        self.container = self.stream = None

    def abandon(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # the disk that failed the write may fail the close too
                pass
            self.temp.unlink(missing_ok=True)
            self.container = None


def _pixel_formats(codec: str) -> set[str]:
    av = av_module()
    formats = av.Codec(codec, "w").video_formats or ()
    return {f.name for f in formats}


# -- phase 2: segments and the input's other streams to the output ---------------------------


def _mux(source: Path, manifest: Manifest, output: Path, encoding: Encoding, note: Callable[[str], None]) -> None:
    av = av_module()
    fmt = FORMATS.get(output.suffix.lower(), "matroska")
    temp = output.parent / f".{output.name}.landscape-tmp"
    segments = [av.open(str(manifest.folder / s["file"])) for s in manifest.segments]
    src = av.open(str(source), metadata_errors="replace")
    try:
        out = av.open(str(temp), "w", format=fmt)
        try:
            supported = out.supported_codecs
            video = out.add_stream_from_template(segments[0].streams.video[0])
            streams: dict[int, Any] = {}
            for s in src.streams:
                if s.type == "video" or (s.type == "audio" and not encoding.audio) or s.type not in ("audio", "subtitle",
                                                                                                     "attachment", "data"):
                    continue
                name = s.codec_context.name if s.codec_context else None
                if s.type == "data" and name is None:
                    continue  # a container's own tracks (mp4 chapters): the chapters are copied as chapters
                if name is not None and name not in supported:
                    note(f"{source.name}: its {s.type} stream {s.index} ({name}) cannot go into {output.suffix}: dropped")
                    continue
                streams[s.index] = out.add_stream_from_template(s)
                streams[s.index].metadata.update(s.metadata)
            video.metadata.update({k: v for k, v in src.streams.video[0].metadata.items() if k.lower() not in ("rotate",)})
            out.metadata.update(src.metadata)
            out.set_chapters(src.chapters())
            for packet, stream in _in_time_order(_segment_packets(segments, video), _copied_packets(src, streams)):
                packet.stream = stream
                out.mux(packet)
        finally:
            out.close()
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
        for segment in segments:
            segment.close()


def _segment_packets(segments: list[Any], video: Any) -> Iterator[tuple[Any, Any]]:
    """The segments' packets in decoding order, each with its presentation timestamp as encoded
    (the input's) and a decoding timestamp drawn anew for the whole clip: the segments were
    encoded apart, so theirs start over at each one. The i-th packet decodes at the
    (i - k)-th presentation time, k the most any packet is ahead of its place in presentation
    order: increasing, and never after the packet's own presentation."""
    stamps = [packet.pts * packet.time_base for segment in segments for packet in _packets(segment)]
    order = sorted(stamps)
    rank = {stamp: i for i, stamp in enumerate(order)}
    ahead = max((i - rank[stamp] for i, stamp in enumerate(stamps)), default=0)
    tick = min((b - a for a, b in zip(order, order[1:])), default=fractions.Fraction(1, 1000)) / (ahead + 1)
    i = 0
    for segment in segments:
        segment.seek(0)
        for packet in _packets(segment):
            decode_at = order[i - ahead] if i >= ahead else order[0] - (ahead - i) * tick
            packet.dts = int(decode_at / packet.time_base)
            i += 1
            yield packet, video


def _packets(segment: Any) -> Iterator[Any]:
    for packet in segment.demux(segment.streams.video[0]):
        if packet.pts is not None:  # not the demuxer's empty last packet
            yield packet


def _copied_packets(src: Any, streams: dict[int, Any]) -> Iterator[tuple[Any, Any]]:
    wanted = [s for s in src.streams if s.index in streams]
    for packet in src.demux(wanted) if wanted else ():
        if packet.dts is not None or packet.pts is not None:
            yield packet, streams[packet.stream.index]


def _in_time_order(*sources: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """(packet, output stream) pairs of several sources merged by decoding time, so that the
    muxer interleaves them with little buffering."""
    import heapq

    def keyed(number: int, pairs: Iterator[tuple[Any, Any]]) -> Iterator[tuple[fractions.Fraction, int, int, Any]]:
        for order, pair in enumerate(pairs):
            packet = pair[0]
            stamp = packet.dts if packet.dts is not None else packet.pts
            yield stamp * packet.time_base, number, order, pair

    for *_, pair in heapq.merge(*(keyed(n, s) for n, s in enumerate(sources)), key=lambda t: t[:3]):
        yield pair


# -- the whole job -------------------------------------------------------------------------


@dataclass
class Result:
    output: Path
    frames: int
    resumed_from: int  # frames already made by an earlier, interrupted run
    notes: list[str]


def process(source: Path, target: Path, transform: Callable[[np.ndarray, int], np.ndarray], encoding: Encoding, *,
            job: dict[str, Any], check_size: Callable[[int, int], None], progress: Callable[[int], None] = lambda n: None,
            note: Callable[[str], None] = lambda text: None) -> Result:
    """`source` -> `target` (or its .mkv twin), each frame through `transform(pixels, index)`.
    ItemError for a clip that cannot be taken (said before any work: no video stream, no frames,
    frames past the size limit); FatalError where the disk fails; a KeyboardInterrupt leaves
    the work folder for the next run and nothing under the output's name."""
    encoding.check()
    output, moved = output_path(target, encoding)
    if moved:
        note(moved)
    info = inspect(source)
    check_size(info.height, info.width)
    folder = work_folder(output)
    manifest = Manifest(folder, _input_identity(source), {**job, "encoding": asdict(encoding)})
    resumed = manifest.frames_done
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _encode_segments(source, manifest, transform, encoding, progress)
        if not manifest.segments:
            raise ItemError("no frames: its video stream holds none")
        _mux(source, manifest, output, encoding, note)
    except OSError as exc:
        raise FatalError(f"{output}: {exc.strerror or exc}; stopping (the segments made so far are kept for the next run)") from None
    except Exception as exc:
        av = av_module()
        if isinstance(exc, av.error.FFmpegError):
            shutil.rmtree(folder, ignore_errors=True)
            raise ItemError(f"damaged ({first_line(exc, 160)})") from None
        if isinstance(exc, ItemError):  # this clip cannot be made: nothing to resume
            shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return Result(output, manifest.frames_done, resumed, [moved] if moved else [])


_ABANDON = object()  # what the caller's thread hands the writer when it stops early


def _encode_segments(source: Path, manifest: Manifest, transform: Callable[[np.ndarray, int], np.ndarray],
                     encoding: Encoding, progress: Callable[[int], None]) -> None:
    """Decoding (a thread), the transform (this thread) and encoding (a thread), overlapped
    through short queues. Stopped early (an error, a Ctrl-C), the segment being written is
    abandoned; those complete stay for the next run."""
    container = _open(source)
    stream = _video_stream(container)
    colour, bits = _colour(stream), _bits(stream)
    decoded: queue.Queue = queue.Queue(QUEUE_FRAMES)
    made: queue.Queue = queue.Queue(QUEUE_FRAMES)
    writer = _SegmentWriter(manifest, encoding, stream.time_base, colour, bits > 8)
    failures: list[BaseException] = []
    stop = threading.Event()

    def put(q: queue.Queue, item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def read() -> None:
        try:
            for frame in _frames(container, stream, colour, bits, _resume_point(manifest)):
                if not put(decoded, frame):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            failures.append(exc)
        put(decoded, None)

    def write() -> None:
        try:
            while (item := made.get()) is not None and item is not _ABANDON:
                writer.write(*item)
            if item is None:
                writer.finish()
                return
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)
            stop.set()
        writer.abandon()

    reader, encoder = threading.Thread(target=read, daemon=True), threading.Thread(target=write, daemon=True)
    reader.start()
    encoder.start()
    ended = _ABANDON
    try:
        while not failures and (frame := decoded.get()) is not None:
            pixels = transform(frame.pixels, frame.index)
            if not put(made, (frame, pixels)):
                break
            progress(1)
        ended = None if not failures else _ABANDON
    finally:
        if ended is _ABANDON:
            stop.set()
        made.put(ended)
        encoder.join()
        stop.set()
        reader.join()
        container.close()
    if failures:
        raise failures[0]


def _resume_point(manifest: Manifest) -> Optional[dict[str, Any]]:
    """Where the next segment begins after the last complete one: its frame index, and the
    first pts past that segment's last frame (the input is sought there)."""
    if not manifest.segments:
        return None
    last = manifest.segments[-1]
    return {"first_frame": last["first_frame"] + last["frames"], "first_pts": last["last_pts"] + 1}


def frames_of(path: Path) -> Iterator[np.ndarray]:
    """A clip's frames as RGB (H, W, 3), in order, upright: a mask video read beside its clip."""
    container = _open(path)
    with container:
        stream = _video_stream(container)
        for frame in _frames(container, stream, _colour(stream), _bits(stream), None):
            yield frame.pixels


def write_animation(path: Path, pictures: Iterator[np.ndarray], fps: float, encoding: Encoding) -> None:
    """Pictures (H, W, 3) uint8 as a clip at `fps` frames a second, written whole or not at all
    (generate --walk --animation walk.mp4)."""
    av = av_module()
    encoding.check()
    time_base = fractions.Fraction(1, 1000)
    fmt = FORMATS.get(path.suffix.lower(), "matroska")
    temp = path.parent / f".{path.name}.landscape-tmp"
    try:
        with av.open(str(temp), "w", format=fmt) as out:
            stream = None
            for index, picture in enumerate(pictures):
                if stream is None:
                    stream = out.add_stream(encoding.codec, options=encoding.options())
                    stream.width, stream.height, stream.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
                    stream.time_base = stream.codec_context.time_base = time_base
                    for key, value in {"colorspace": 1, "color_range": 1, "color_primaries": 1, "color_trc": 1}.items():
                        setattr(stream.codec_context, key, value)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24").reformat(
                    format="yuv420p", src_colorspace="itu709", dst_colorspace="itu709", src_color_range="JPEG",
                    dst_color_range="MPEG")
                frame.pts, frame.time_base = round(index * 1000 / fps), time_base
                for packet in stream.encode(frame):
                    out.mux(packet)
            if stream is not None:
                for packet in stream.encode():
                    out.mux(packet)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


class FramesByIndex:
    """A clip's frames asked for by index, in increasing order (a mask video read beside the clip
    it masks, from wherever a resumed run begins): ItemError where it has no such frame."""

    def __init__(self, path: Path) -> None:
        self.path, self.frames, self.next = path, frames_of(path), 0

    def __call__(self, index: int) -> np.ndarray:
        import itertools

        try:
            frame = next(itertools.islice(self.frames, index - self.next, None))
        except StopIteration:
            raise ItemError(f"mask video {self.path}: ends before frame {index}") from None
        self.next = index + 1
        return frame
