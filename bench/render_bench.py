"""How long local renders take and how much memory they need, per resolution and length.

Run: .venv/bin/python bench/render_bench.py [--quick]

Each render runs in its own child process, as it would in the provider's pool; the child's peak
resident memory comes from os.wait4, which counts what Pillow, numpy and x264 allocate in C.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESOLUTIONS = ("480p", "720p", "1080p")
DURATIONS = (5, 10)
CASES = (
    ("image", (), "image, default zoom"),
    ("image", ("pan_right",), "image, pan right"),
    ("text", (), "title, default pan"),
)
PROMPT = (
    "Remove the cooking effect and only add camera movement. highlight the food in Zoom "
    "format. 음식을 줌으로 강조하는 홍보 영상"
)


@dataclass(frozen=True)
class Row:
    """One measured render."""

    case: str
    resolution: str
    duration: int
    seconds: float
    startup: float
    peak_mb: float
    size_mb: float


def photo(path: Path) -> None:
    """A 12-megapixel JPEG with fine detail everywhere, like a phone photo of food."""
    from PIL import Image, ImageChops

    size = (4032, 3024)
    fractal = Image.effect_mandelbrot(size, (-2.2, -1.2, 1.0, 1.2), 120)
    noise = Image.effect_noise(size, 40)
    red = ImageChops.add(fractal, noise, 1.0, -64)
    green = Image.linear_gradient("L").resize(size)
    blue = ImageChops.invert(fractal)
    image = Image.merge("RGB", (red, green, blue))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())


def child(args: argparse.Namespace) -> None:
    """Render one clip in this process and print its timings as JSON."""
    started = time.perf_counter()
    from bot.camera import CameraMove
    from bot.render import RenderSpec, frame_size, render_clip

    width, height = frame_size(args.resolution, "16:9")
    spec = RenderSpec(
        kind=args.kind,
        width=width,
        height=height,
        duration=args.duration,
        moves=tuple(CameraMove(m) for m in args.moves),
        text=PROMPT,
        image=Path(args.photo).read_bytes() if args.kind == "image" else None,
        seed=7,
    )
    imported = time.perf_counter()
    result = render_clip(spec, Path(args.out))
    print(
        json.dumps(
            {
                "seconds": result.seconds,
                "startup": imported - started,
                "bytes": Path(args.out).stat().st_size,
            }
        )
    )


def measure(kind: str, moves: tuple[str, ...], resolution: str, duration: int, work: Path) -> dict:
    """Run one render in a child process; its timings plus the child's peak memory."""
    out = work / f"{kind}-{resolution}-{duration}.mp4"
    command = [
        sys.executable,
        __file__,
        "--child",
        "--kind",
        kind,
        "--resolution",
        resolution,
        "--duration",
        str(duration),
        "--photo",
        str(work / "photo.jpg"),
        "--out",
        str(out),
        *(("--moves", *moves) if moves else ()),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"render failed: {' '.join(command)}")
    timings = json.loads(output.strip().splitlines()[-1])
    # Linux reports ru_maxrss in KiB.
    timings["peak_mb"] = usage.ru_maxrss / 1024
    out.unlink(missing_ok=True)
    return timings


def main() -> None:
    """Measure every case and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s clips at 720p only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--moves", nargs="*", default=(), help=argparse.SUPPRESS)
    parser.add_argument("--resolution", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--photo", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import av

    resolutions = ("720p",) if args.quick else RESOLUTIONS
    durations = (5,) if args.quick else DURATIONS
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, PyAV {av.__version__}, 16:9, 24 fps; "
        "image input: 4032×3024 JPEG"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        work = Path(tmp)
        photo(work / "photo.jpg")
        for kind, moves, label in CASES:
            for resolution in resolutions:
                for duration in durations:
                    t = measure(kind, moves, resolution, duration, work)
                    row = Row(
                        label,
                        resolution,
                        duration,
                        t["seconds"],
                        t["startup"],
                        t["peak_mb"],
                        t["bytes"] / 1e6,
                    )
                    rows.append(row)
                    print(
                        f"  {label:20} {resolution:>5} {duration:>2}s  {row.seconds:5.1f}s",
                        file=sys.stderr,
                    )
    print()
    print("| input | resolution | clip | render s | × real time | peak RSS MB | file MB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.case} | {row.resolution} | {row.duration} s | {row.seconds:.1f} | "
            f"{row.seconds / row.duration:.2f} | {row.peak_mb:.0f} | {row.size_mb:.1f} |"
        )
    startup = sum(r.startup for r in rows) / len(rows)
    print(f"\nWorker import time (paid once per pool process): {startup:.2f} s")


if __name__ == "__main__":
    main()
