"""Messages that say what is true and what to do, in English and Korean."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.i18n import Text, default_catalogue, tr
from bot.jobs.models import JobState
from bot.pricing import PriceTable
from bot.providers import kling, local
from bot.providers.base import VideoRequest
from bot.providers.validation import one_of
from bot.render.text import left_out, title_text
from bot.ui.cards import CardContext, job_card, models_embed, tier_rank
from bot.ui.errors import UserError
from cogs.help import help_embed
from cogs.video import _precheck_attachment, extend_refusal
from tests.unit.test_video_i18n import NOW, fields, make_job


def _render(value: Text | str, locale: str) -> str:
    return value.render(locale) if isinstance(value, Text) else value


# -- /video extend ------------------------------------------------------------------------------


def _provider(name: str, display: str, models: Any, can_extend: Any = None) -> Any:
    provider = SimpleNamespace(name=name, display_name=display, models=models)
    if can_extend is not None:
        provider.can_extend = can_extend
    return provider


LOCAL = _provider("local", "Local camera motion", local.MODELS)
KLING = _provider("kling", "Kling", kling.MODELS, kling.can_extend)


def test_extending_a_local_video_says_only_kling_can() -> None:
    job = make_job(provider="local", provider_video_id=None)
    refusal = extend_refusal(job, LOCAL)
    assert refusal is not None
    assert str(refusal) == (
        "Job `abcd2345` was made with Local camera motion, which cannot continue a video: only "
        "Kling videos can be extended. Make a new one with `/video text` or `/video image` "
        "instead."
    )
    assert "Kling 영상만" in refusal.render("ko")
    assert "/비디오 텍스트" in refusal.render("ko")


def test_extending_a_kling_model_without_extend_names_the_models_that_have_it() -> None:
    request = VideoRequest(kind="text", prompt="a fox", model="kling-v3", resolution="std")
    job = make_job(provider="kling", request=request, provider_video_id="v1")
    refusal = extend_refusal(job, KLING)
    assert refusal is not None
    assert str(refusal) == (
        "Job `abcd2345` was made with kling-v3, which Kling cannot extend. Kling extends videos "
        "made with kling-v1, kling-v1-6, kling-v2-5-turbo."
    )


def test_extending_an_unfinished_kling_video_and_a_finished_one() -> None:
    request = VideoRequest(kind="text", prompt="a fox", model="kling-v1", resolution="std")
    running = make_job(provider="kling", request=request, state=JobState.RUNNING)
    refusal = extend_refusal(running, KLING)
    assert refusal is not None
    assert "has no finished video to continue. Pick a finished Kling video" in str(refusal)
    done = make_job(provider="kling", request=request, provider_video_id="v1")
    assert extend_refusal(done, KLING) is None


# -- attachments --------------------------------------------------------------------------------


def _attachment(**changes: Any) -> Any:
    values = {
        "filename": "photo.png",
        "content_type": "image/png",
        "width": 800,
        "height": 600,
        "size": 100_000,
    }
    return SimpleNamespace(**{**values, **changes})


def _refusal(attachment: Any, locale: str = "en") -> str:
    with pytest.raises(UserError) as caught:
        _precheck_attachment(attachment)
    return _render(caught.value.message, locale)


def test_an_image_discord_could_not_measure_is_not_called_not_an_image() -> None:
    """A 20000x20000 PNG comes without a size from Discord; the content check judges it."""
    _precheck_attachment(_attachment(width=None, height=None))
    assert "not an image" in _refusal(_attachment(content_type="text/plain", filename="a.txt"))


def test_a_measured_image_is_too_small_or_too_large_with_the_bound() -> None:
    small = _refusal(_attachment(width=100, height=100))
    assert small == (
        "`photo.png` is 100x100 pixels, smaller than the 300x300 minimum. Attach a larger image."
    )
    assert "larger or smaller" not in small
    assert "최소 크기 300x300보다 작아요" in _refusal(_attachment(width=100, height=100), "ko")
    large = _refusal(_attachment(width=20000, height=20000))
    assert large.startswith("`photo.png` is 20000x20000 pixels, larger than the 6000x6000 maximum")


# -- durations, models, cards -------------------------------------------------------------------


def test_allowed_durations_read_as_a_choice() -> None:
    assert str(one_of((5, 10))) == "5 or 10"
    assert _render(one_of((5, 10)), "ko") == "5 또는 10"
    assert str(one_of((4, 8, 16))) == "4, 8 or 16"
    assert one_of(tuple(range(3, 16))) == "3-15"
    assert one_of((5,)) == "5"
    message = tr(
        "en",
        "validation.duration",
        provider="Kling",
        model="kling-v1",
        choices=one_of((5, 10)),
        duration=7,
    )
    assert message == "Kling kling-v1 makes clips of 5 or 10 seconds, not 7."


def test_models_list_resolutions_from_smallest_to_largest() -> None:
    provider = _provider("local", "Local camera motion", local.MODELS)
    embed = models_embed([provider], PriceTable.load())
    line = embed.fields[0].value
    assert embed.fields[0].name == "Local camera motion (`local`)"
    assert "480p: 1, 720p: 2, 1080p: 3" in line
    assert sorted(["4k", "pro", "std"], key=tier_rank) == ["std", "pro", "4k"]
    assert sorted(["1080p", "480p", "720p"], key=tier_rank) == ["480p", "720p", "1080p"]


@pytest.mark.parametrize(
    ("result_url", "english", "korean"),
    [
        ("file:///srv/renders/local-1.mp4", "📦 Preparing the video", "📦 영상 준비 중"),
        ("https://cdn.example/v.mp4", "⬇️ Downloading the video", "⬇️ 영상 받는 중"),
    ],
)
def test_a_local_render_is_prepared_not_downloaded(
    result_url: str, english: str, korean: str
) -> None:
    job = make_job(provider="local", result_url=result_url, state=JobState.RUNNING)
    for locale, label in (("en", english), ("ko", korean)):
        context = CardContext("Local camera motion", NOW, phase="downloading", locale=locale)
        state_field = job_card(job, context).fields[0]
        assert state_field.value == label


def test_the_card_says_which_characters_a_title_card_leaves_out() -> None:
    prompt = "a cat on a roof 🐱🎉 [Pan right]"
    assert left_out(prompt) == "🐱🎉"
    assert title_text(prompt) == "a cat on a roof"
    provider = local.LocalProvider.__new__(local.LocalProvider)
    request = VideoRequest(kind="text", prompt=prompt, model="motion", resolution="720p")
    assert provider.left_out(request) == "🐱🎉"
    assert (
        provider.left_out(
            VideoRequest(
                kind="image",
                prompt=prompt,
                model="motion",
                resolution="720p",
                image_url="https://x/y.png",
            )
        )
        == ""
    )
    job = make_job(provider="local", request=request)
    english = fields(job_card(job, CardContext("Local camera motion", NOW, left_out="🐱🎉")))
    assert english["Title card"] == (
        "The title font cannot draw 🐱🎉, so the title card leaves them out."
    )
    korean = job_card(job, CardContext("Local camera motion", NOW, locale="ko", left_out="🐱🎉"))
    assert "🐱🎉" in fields(korean)["타이틀 카드"]
    plain = fields(job_card(job, CardContext("Local camera motion", NOW)))
    assert "Title card" not in plain


# -- /help and command descriptions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "commands"),
    [
        ("en-US", ("/server", "/showcase share", "/showcase top", "/event list", "/event enter")),
        ("ko", ("/서버", "/쇼케이스 공유", "/쇼케이스 인기", "/이벤트 목록", "/이벤트 참가")),
    ],
)
def test_help_names_the_community_commands(locale: str, commands: tuple[str, ...]) -> None:
    text = "\n".join(f.value for f in help_embed(locale).fields)
    for command in commands:
        assert command in text


def test_admin_only_event_commands_say_so() -> None:
    catalogue = default_catalogue()
    for language, mark in (("en", "(Manage Server)"), ("ko", "(서버 관리)")):
        for command in ("start", "close"):
            description = catalogue.message(language, f"commands.event.{command}.description")
            assert isinstance(description, str)
            assert description.endswith(mark), (language, command, description)
