"""The video side in the member's language: cards, delivery notes, refusals, /help."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.i18n import Text, text_of
from bot.jobs.models import Job, JobState, note_from_column, note_to_column
from bot.jobs.service import CancelRefused
from bot.media import check_image
from bot.providers.base import InvalidRequest, VideoRequest
from bot.providers.kvid import MODELS
from bot.providers.validation import check_against_spec
from bot.ui.cards import CardContext, format_duration, history_embed, job_card
from cogs.help import FIELD_LIMIT, help_embed

NOW = 1_900_000_000.0


def make_job(**changes: object) -> Job:
    job = Job(
        id="abcd2345",
        interaction_id=1,
        guild_id=2,
        channel_id=3,
        user_id=4,
        locale="en-US",
        provider="kvid",
        request=VideoRequest(
            kind="text", prompt="a harbour at dawn", model="v2", resolution="720p"
        ),
        price=15,
        state=JobState.SUCCEEDED,
        provider_job_id="p1",
        provider_status=None,
        estimated_seconds=None,
        result_url="https://cdn.example/v.mp4",
        provider_cost=None,
        width=None,
        height=None,
        failure_code=None,
        failure_message=None,
        poll_failures=0,
        next_poll_at=None,
        deadline_at=None,
        created_at=NOW - 75,
        submitted_at=NOW - 74,
        finished_at=NOW,
        card_message_id=None,
        upload_limit=10 * 1024 * 1024,
        delivered_at=None,
        delivery=None,
        result_message_id=None,
    )
    return replace(job, **changes)


def fields(embed) -> dict[str, str]:
    return {f.name: f.value for f in embed.fields}


RESIZED = Text(
    "delivery.note_resized",
    original="30.0 MiB",
    size="9.5 MiB",
    limit="10.0 MiB",
    width=854,
    height=480,
)


def test_delivery_notes_are_stored_as_a_key_and_params() -> None:
    stored = note_to_column(RESIZED)
    assert '"key": "delivery.note_resized"' in stored
    assert note_from_column(stored) == RESIZED
    assert str(note_from_column(stored)) == (
        "Re-encoded from 30.0 MiB to 9.5 MiB to fit the 10.0 MiB upload limit, now 854x480."
    )
    # Notes stored before the catalogues read as they were written.
    old = "Re-encoded from 11.0 MiB to 9.9 MiB to fit the 10.0 MiB upload limit."
    assert note_from_column(old) == old
    assert note_from_column("{not json") == "{not json"
    assert note_from_column('{"other": 1}') == '{"other": 1}'


def test_the_card_speaks_the_jobs_language() -> None:
    job = make_job(delivery_note=note_to_column(RESIZED), locale="ko")
    korean = job_card(job, CardContext(provider_name="kvidAI", now=NOW, locale=job.locale))
    assert korean.title == "영상 작업 `abcd2345`"
    card = fields(korean)
    assert card["상태"] == "✅ 완료"
    assert card["경과 시간"] == "1분 15초"
    assert card["크레딧"] == "15 크레딧 사용"
    assert card["전달 방식"] == (
        "업로드 한도 10.0 MiB에 맞추려고 다시 인코딩했어요(30.0 MiB → 9.5 MiB, 화면 크기 854x480)."
    )

    english = job_card(job, CardContext(provider_name="kvidAI", now=NOW))
    card = fields(english)
    assert card["State"] == "✅ Done"
    assert card["Elapsed"] == "1m 15s"
    assert card["Credits"] == "15 spent"
    assert card["Delivery"] == str(RESIZED)
    assert english.footer.text == "/video status job:abcd2345"

    old = make_job(delivery_note="An old note.")
    assert fields(job_card(old, CardContext(provider_name="kvidAI", now=NOW, locale="ko")))[
        "전달 방식"
    ] == ("An old note.")


def test_a_failure_is_explained_by_its_code_in_korean_and_verbatim_in_english() -> None:
    said = "kvidAI could not make this video. Try again, perhaps with another prompt or image."
    job = make_job(state=JobState.FAILED, failure_code="JOB_FAILED", failure_message=said)
    english = fields(job_card(job, CardContext(provider_name="kvidAI", now=NOW)))
    assert english["What happened"] == f"{said} Your credits were returned."
    assert english["Credits"] == "15 returned to you"
    korean = fields(job_card(job, CardContext(provider_name="kvidAI", now=NOW, locale="ko")))
    assert korean["무슨 일이 있었나요"].startswith("kvidAI에서 이 영상을 만들지 못했어요.")
    assert korean["상태"] == "❌ 실패"


@pytest.mark.parametrize(
    ("locale", "what_happened", "expected"),
    [
        (
            "en-US",
            "What happened",
            "A moderator did not approve this video: “not today”. Your credits were returned.",
        ),
        (
            "ko",
            "무슨 일이 있었나요",
            "모더레이터가 이 영상을 승인하지 않았어요: “not today”. 크레딧은 모두 돌려드렸어요.",
        ),
    ],
)
def test_a_denial_quotes_the_moderator_in_the_members_language(
    locale: str, what_happened: str, expected: str
) -> None:
    """The moderator's reason is kept as written, inside the bot's sentence in either language."""
    job = make_job(
        state=JobState.CANCELLED, failure_code="approval_denied", failure_message="not today"
    )
    card = fields(job_card(job, CardContext(provider_name="kvidAI", now=NOW, locale=locale)))
    assert card[what_happened] == expected


def test_an_approval_that_ran_out_of_time_says_so_in_korean() -> None:
    """Not the catalogue's "the service could not make this video": no service was asked."""
    job = make_job(
        state=JobState.CANCELLED,
        failure_code="approval_expired",
        failure_message="No moderator decided on this video in time, so it was not made.",
    )
    card = fields(job_card(job, CardContext(provider_name="kvidAI", now=NOW, locale="ko")))
    assert card["무슨 일이 있었나요"].startswith("기한 안에 결정한 모더레이터가 없어서")


def test_live_states_and_durations() -> None:
    running = make_job(state=JobState.RUNNING, provider_status="processing", finished_at=None)
    context = CardContext(provider_name="kvidAI", now=NOW, place_in_queue=2, typical_seconds=40)
    card = fields(job_card(running, context))
    assert card["State"] == "🎞️ Generating (processing)"
    assert card["Estimate"] == "~40s (recent jobs)"
    assert card["Place in queue"] == "#2"
    card = fields(job_card(running, replace(context, locale="ko", phase="downloading")))
    assert card["상태"] == "⬇️ 영상 받는 중"
    assert card["예상 시간"] == "약 40초 (최근 작업 기준)"
    assert card["대기 순서"] == "2번째"
    assert format_duration(5) == "5s"
    assert format_duration(125, "ko") == "2분 5초"


def test_history_in_both_languages() -> None:
    english = history_embed([make_job()], 1, has_older=True)
    assert english.footer.text == "Page 1 · /video history page:2 for older ones"
    # The last page offers no next one.
    assert history_embed([make_job()], 1).footer.text == "Page 1 · no older videos"
    assert history_embed([make_job()], 3, "ko").footer.text == "3페이지 · 더 이전 영상은 없어요"
    assert "· 15 cr ·" in english.description
    assert "[video](https://cdn.example/v.mp4)" in english.description
    assert history_embed([], 2).description == "No older videos."
    korean = history_embed([make_job()], 1, "ko")
    assert korean.title == "최근 영상"
    assert "[영상 보기](https://cdn.example/v.mp4)" in korean.description


def test_refusals_read_english_as_strings_and_translate_as_texts() -> None:
    request = VideoRequest(kind="text", prompt="a fox", model="v1", resolution="1080p")
    with pytest.raises(InvalidRequest) as refused:
        check_against_spec("kvidAI", MODELS, request)
    assert str(refused.value) == "kvidAI v1 does not make 1080p videos. Choose one of: 480p, 720p."
    said = text_of(refused.value)
    assert isinstance(said, Text)
    assert said.render("ko") == (
        "kvidAI v1 모델은 1080p 영상을 만들지 않아요. 다음 중에서 골라 주세요: 480p, 720p"
    )
    with pytest.raises(InvalidRequest) as bad_image:
        check_image(b"not an image at all")
    assert str(bad_image.value) == (
        "The attachment is not a PNG, JPEG or WebP image. Attach a photo."
    )
    assert text_of(bad_image.value).render("ko").startswith("첨부한 파일이")
    cancel = CancelRefused(Text("cancel.finished", job="abcd2345", state="succeeded"))
    assert str(cancel) == "Job `abcd2345` has already finished (succeeded)."


@pytest.mark.parametrize("locale", ["en-US", "ko"])
def test_help_fits_discord(locale: str) -> None:
    embed = help_embed(locale)
    assert len(embed.fields) == 4
    assert all(len(f.value) <= FIELD_LIMIT for f in embed.fields)
    assert not any(f.value.endswith("…") for f in embed.fields)
