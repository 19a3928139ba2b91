"""How long fitting an oversized result under Discord's 10 MiB limit takes, and what it yields.

Run: .venv/bin/python bench/reencode_bench.py [--content noise|grain|both]

Inputs are made here with PyAV at the size a provider might return: a 30 MiB 720p clip and a
60 MiB 1080p clip, 10 s at 24 fps with stereo AAC. "noise" (fresh random pixels every frame) is
the worst case for x264; "grain" (a moving gradient under film grain) is closer to real footage.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.video_fit import fit_to_limit, probe  # noqa: E402
from tests.fakes.media import AUDIO_RATE, mux_tone  # noqa: E402

MIB = 1024 * 1024
LIMIT = 10 * MIB
FPS = 24
SECONDS = 10
CASES = (("720p", 1280, 720, 30 * MIB), ("1080p", 1920, 1080, 60 * MIB))


@dataclass(frozen=True)
class Row:
    """One measured fit."""

    content: str
    label: str
    input_mib: float
    output_mib: float
    size_in: str
    size_out: str
    attempts: int
    seconds: float


def frames(content: str, width: int, height: int) -> list[np.ndarray]:
    """The frames of one clip, made up front so the encode is what gets timed."""
    rng = np.random.default_rng(11)
    count = FPS * SECONDS
    if content == "noise":
        # Eight distinct frames cycled: x264's presets here keep at most two references.
        pool = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(8)]
        return [pool[i % len(pool)] for i in range(count)]
    ys, xs = np.mgrid[0:height, 0:width]
    grain = [rng.integers(-24, 25, (height, width, 1), dtype=np.int16) for _ in range(8)]
    out = []
    for i in range(count):
        red = (xs + i * 6) % 512 // 2
        green = (ys + i * 3) % 512 // 2
        base = np.stack([red, green, 255 - red], axis=-1).astype(np.int16)
        out.append(np.clip(base + grain[i % len(grain)], 0, 255).astype(np.uint8))
    return out


def make_clip(path: Path, content: str, width: int, height: int, target_bytes: int) -> None:
    """Encode a 10 s H.264 + AAC clip close to target_bytes."""
    bitrate = int(target_bytes * 8 / SECONDS) - 128_000
    pictures = frames(content, width, height)
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = bitrate
        video.options = {"preset": "ultrafast", "maxrate": str(bitrate), "bufsize": str(bitrate)}
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout, audio.bit_rate = "stereo", 128_000
        for picture in pictures:
            container.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(video.encode(None))
        mux_tone(container, audio, SECONDS)


def measure(content: str, label: str, width: int, height: int, target: int, work: Path) -> Row:
    """Make one input, fit it under the limit and describe both files."""
    src, dest = work / f"{content}-{label}.mp4", work / f"{content}-{label}-fit.mp4"
    make_clip(src, content, width, height, target)
    before = probe(src)
    result = fit_to_limit(src, dest, LIMIT)
    row = Row(
        content,
        label,
        before.size / MIB,
        result.size / MIB,
        f"{before.width}×{before.height}",
        f"{result.width}×{result.height}",
        result.attempts,
        result.seconds,
    )
    src.unlink()
    dest.unlink()
    return row


def main() -> None:
    """Measure each case and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", choices=("noise", "grain", "both"), default="both")
    args = parser.parse_args()
    contents = ("noise", "grain") if args.content == "both" else (args.content,)
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, PyAV {av.__version__}; {SECONDS} s at {FPS} fps + stereo AAC, "
        f"limit {LIMIT / MIB:.0f} MiB"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="reencode-bench-") as tmp:
        for content in contents:
            for label, width, height, target in CASES:
                row = measure(content, label, width, height, target, Path(tmp))
                rows.append(row)
                print(f"  {content} {label}: {row.seconds:.1f} s", file=sys.stderr)
    print()
    print("| content | input | input MiB | output MiB | resolution in → out | attempts | fit s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.content} | {r.label} | {r.input_mib:.1f} | {r.output_mib:.2f} | "
            f"{r.size_in} → {r.size_out} | {r.attempts} | {r.seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
