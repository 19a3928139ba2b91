"""Title cards: the prompt as readable text, Korean included, without camera directives."""

from __future__ import annotations

import numpy as np
import pytest

from bot.camera import CameraMove
from bot.render import RenderSpec
from bot.render.clip import build_scene
from bot.render.fonts import font_source, has_glyph, load_font
from bot.render.text import MAX_TITLE_CHARS, fit, strip_directives, title_text, wrap
from bot.render.titlecard import TitleScene, palettes

KOREAN = "연꽃 연못 옆의 한국 전통 정자에서 두 마리 강아지가 즐겁게 달립니다"


def _title_frame(
    text: str, moves: tuple[CameraMove, ...] = (CameraMove.STATIC,), seed: int = 5
) -> np.ndarray:
    spec = RenderSpec("text", 854, 480, 5, moves=moves, text=text, seed=seed)
    return np.asarray(build_scene(spec).frame(60)).astype(np.int16)


def _white(frame: np.ndarray) -> np.ndarray:
    return (frame > 225).all(axis=-1)


def test_the_bundled_font_sets_hangul() -> None:
    source = font_source()
    assert source.covers_hangul, source
    assert all(has_glyph(c) for c in "한국어 텍스트 ABC 漢字 かな")
    assert not has_glyph("\U0001f600")  # emoji are not in Noto Sans CJK


def test_a_korean_prompt_renders_as_visible_text() -> None:
    blank = _title_frame("")
    korean = _title_frame(KOREAN)
    # The gradient is dark; the title is near-white ink on it.
    assert _white(blank).sum() == 0
    assert _white(korean).sum() > 2000
    # Laid out inside the frame's margins.
    ys, xs = np.nonzero(_white(korean))
    assert xs.min() > 854 * 0.05
    assert xs.max() < 854 * 0.95
    assert ys.min() > 480 * 0.05
    assert ys.max() < 480 * 0.95


def test_hangul_draws_differently_from_missing_glyph_boxes() -> None:
    font = load_font(40)
    assert bytes(font.getmask("한")) != bytes(font.getmask("\uffff"))


def test_directives_are_removed_from_the_title() -> None:
    assert title_text("[Truck left, Pan right] A woman is drinking coffee.") == (
        "A woman is drinking coffee."
    )
    assert title_text("정자 [Over-the-shoulder shot] 연못") == "정자 연못"
    # Brackets that name no move are part of the text.
    assert title_text("Menu [new] items") == "Menu [new] items"
    assert strip_directives("[zoom_in]x") == " x"


def test_unrenderable_characters_are_dropped() -> None:
    assert title_text("맛있는 음식 😀 가득") == "맛있는 음식 가득"
    assert title_text("line one\nline\u200btwo\t end") == "line one linetwo end"


def test_long_prompts_are_cut_with_an_ellipsis() -> None:
    text = title_text("word " * 200)
    assert len(text) <= MAX_TITLE_CHARS + 1
    assert text.endswith("…")
    cjk = title_text("가" * 1000)
    assert len(cjk) == MAX_TITLE_CHARS + 1
    assert cjk.endswith("…")


def test_wrapping_breaks_runs_without_spaces_between_characters() -> None:
    font = load_font(30)
    lines = wrap("国" * 60, font, 300)
    assert len(lines) > 1
    assert all(font.getlength(line) <= 300 for line in lines)
    assert "".join(lines) == "国" * 60


def test_fitting_shrinks_long_text_and_keeps_it_in_the_box() -> None:
    short = fit("Hello", 600, 300, max_size=80, min_size=16)
    long = fit(KOREAN * 6, 600, 300, max_size=80, min_size=16)
    assert short.size == 80
    assert short.lines == ("Hello",)
    assert long.size < short.size
    assert len(long.lines) * long.line_height <= 300


def test_text_that_cannot_fit_at_the_smallest_size_ends_in_an_ellipsis() -> None:
    layout = fit("말 " * 400, 300, 100, max_size=40, min_size=20)
    assert layout.size == 20
    assert len(layout.lines) * layout.line_height <= 100
    assert layout.lines[-1].endswith("…")


@pytest.mark.parametrize("move", list(CameraMove))
def test_the_title_stays_in_frame_under_every_move(move: CameraMove) -> None:
    spec = RenderSpec("text", 320, 180, 5, moves=(move,), text="Edge to edge title words")
    built = build_scene(spec)
    assert isinstance(built, TitleScene)
    for index in (0, 119):
        ink = _white(np.asarray(built.frame(index)).astype(np.int16))
        assert ink.sum() > 50, (move, index)
        edges = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
        assert not edges.any(), (move, index)


def test_the_seed_picks_the_colours() -> None:
    assert palettes(1) == palettes(1)
    assert palettes(1) != palettes(2)
    assert not np.array_equal(_title_frame("", seed=1), _title_frame("", seed=2))


def test_the_background_moves_under_a_static_camera() -> None:
    spec = RenderSpec("text", 320, 180, 5, moves=(CameraMove.STATIC,), text="still")
    built = build_scene(spec)
    first = np.asarray(built.frame(0)).astype(int)
    last = np.asarray(built.frame(119)).astype(int)
    assert np.abs(first - last).mean() > 3
