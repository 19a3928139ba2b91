"""One render from description to finished MP4; the function a worker process runs."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Final, Protocol

from PIL import Image

from bot.render.encode import Mp4Writer
from bot.render.files import written_whole
from bot.render.imageclip import ImageScene, decode
from bot.render.motion import plan_path
from bot.render.spec import RenderResult, RenderSpec
from bot.render.text import title_text
from bot.render.titlecard import TitleScene

# Pillow releases the GIL while it warps and pastes, so frames drawn on two threads while the
# main thread encodes keep both cores busy.
DRAW_THREADS: Final = 2
_LOOKAHEAD: Final = 6


class Scene(Protocol):
    """Anything that can draw the frames of a clip."""

    def frame(self, index: int) -> Image.Image:
        """Frame `index` of the clip."""
        ...


def build_scene(spec: RenderSpec) -> Scene:
    """The scene for a spec: a title card for text, the picture for an image."""
    frame = (spec.width, spec.height)
    path = plan_path(spec.moves, spec.kind, spec.width, spec.height)
    if spec.kind == "image":
        if not spec.image:
            raise ValueError("an image render needs image bytes")
        return ImageScene(decode(spec.image, frame), frame, path, spec.frame_count)
    return TitleScene(title_text(spec.text), frame, path, spec.frame_count, spec.seed)


def render_clip(spec: RenderSpec, out_path: Path) -> RenderResult:
    """Render `spec` to an MP4 at `out_path`, written whole or not at all."""
    started = time.perf_counter()
    scene = build_scene(spec)
    with (
        written_whole(out_path) as partial,
        Mp4Writer(partial, spec.width, spec.height, spec.fps) as writer,
    ):
        for image in drawn(scene.frame, spec.frame_count):
            writer.write(image)
    return RenderResult(
        path=out_path,
        width=spec.width,
        height=spec.height,
        frames=spec.frame_count,
        fps=spec.fps,
        seconds=time.perf_counter() - started,
    )


def drawn(draw: Callable[[int], Image.Image], count: int) -> Iterator[Image.Image]:
    """Frames 0..count-1 in order, drawn a few ahead on worker threads."""
    with ThreadPoolExecutor(DRAW_THREADS, thread_name_prefix="draw") as pool:
        pending: deque[Future[Image.Image]] = deque()
        for index in range(count):
            pending.append(pool.submit(draw, index))
            if len(pending) >= _LOOKAHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
