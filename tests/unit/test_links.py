"""Only web links reach Discord: every embed and button the bot builds, given a local result."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.community.approval import ApprovalRequest
from bot.community.events import Entry, Event, EventResult, Payout
from bot.community.moderation import Report
from bot.community.settings import CommunitySettings
from bot.community.showcase import BoardLine, Share, SharedJob
from bot.jobs.models import JobState
from bot.jobs.runner import ResultFile
from bot.ui import community
from bot.ui.cards import history_embed
from bot.ui.decide import decide_view
from bot.ui.links import web_url
from bot.ui.presenter import DiscordPresenter, _add_link_button
from cogs.events import entry_view
from cogs.server.reports import report_view
from cogs.showcase import share_view
from tests.unit.test_video_i18n import NOW, make_job

# Where a local render's result lives: as the local provider reports it, and as a bare path.
LOCAL_RESULTS = (
    "file:///srv/bot/data/renders/local-0f3a.mp4",
    "/srv/bot/data/renders/local-0f3a.mp4",
)
WEB_RESULT = "https://cdn.example/v.mp4"
_URL_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s)\"'>\]]+")
_MARKDOWN_TARGET_RE = re.compile(r"\]\(<?([^)>\s]+)>?\)")


def _local_render_job(result_url: str) -> Any:
    return make_job(provider="local", result_url=result_url)


def _shared(result_url: str, prompt: str = "a harbour at dawn") -> SharedJob:
    return SharedJob(
        id="abcd2345",
        guild_id=2,
        channel_id=3,
        user_id=4,
        provider="local",
        model="motion",
        prompt=prompt,
        resolution="720p",
        result_url=result_url,
        card_message_id=5,
        result_message_id=6,
    )


async def _everything(result_url: str) -> list[str]:
    """Every embed, button and message text the bot can build for a job with this result."""
    job = _local_render_job(result_url)
    shared = _shared(result_url)
    share = Share(1, 2, job.id, 4, "posted", NOW, None, None, 7, 8, 9, 10, NOW, votes=3)
    event = Event(1, 2, 3, "harbours", 50, "closed", 4, NOW - 99, NOW, NOW, 4, NOW, entries=1)
    entry = Entry(1, 1, job.id, 4, NOW, 3, 11, votes=2)
    request = ApprovalRequest(job.id, 2, 4, 3, "new member", "pending", NOW, NOW + 9, *[None] * 5)
    report = Report(1, 2, job.id, 5, "spam", "open", NOW, None)
    settings = CommunitySettings(guild_id=2, moderators_channel_id=8, showcase_channel_id=9)

    async def nothing(*_: object) -> None:
        return None

    async def server_settings(_: int) -> CommunitySettings:
        return settings

    provider = SimpleNamespace(display_name="Local camera motion", left_out=lambda _: "")
    presenter = DiscordPresenter(
        client=None,  # type: ignore[arg-type]
        providers={"local": provider},  # type: ignore[dict-item]
        jobs=SimpleNamespace(queue_position=nothing, typical_seconds=nothing),  # type: ignore[arg-type]
        community=SimpleNamespace(server_settings=server_settings),  # type: ignore[arg-type]
        clock=lambda: NOW,
    )
    embeds: list[discord.Embed] = [
        community.share_embed(shared, "Local camera motion"),
        community.share_review_embed(1, shared, "pending"),
        community.entry_embed(event, entry, shared, "Local camera motion"),
        community.report_embed(report, shared),
        community.approval_request_embed(request, job.request.prompt, "Local", "motion", 2),
        community.board_embed([BoardLine(1, share, shared)], "week"),
        community.event_result_embed(EventResult(event, (entry,), (Payout(4, 1, 2, 50),))),
        history_embed([job], 1),
    ]
    views: list[discord.ui.View] = [
        share_view(1, 3),
        decide_view("share", 1),
        entry_view(1, 2),
        decide_view("approval", job.id),
        report_view(1),
    ]
    texts: list[str] = []
    video = ResultFile(Path("/srv/bot/data/renders/local-0f3a.mp4"), 50 * 1024 * 1024, False)
    for state in JobState:
        for card_job in (replace(job, state=state), replace(job, state=state, result_url=None)):
            embed, view = await presenter.render(card_job)
            for mention in (False, True):
                for result in (video, None, replace(video, attachable=True)):
                    kind, content = presenter._outcome(card_job, result, mention=mention)
                    texts.append(content)
                    _add_link_button(view, card_job, kind)
            embeds.append(embed)
            if view is not None:
                views.append(view)
    texts += [json.dumps(e.to_dict(), ensure_ascii=False) for e in embeds]
    texts += [json.dumps(v.to_components(), ensure_ascii=False) for v in views]
    return texts


@pytest.mark.parametrize("result_url", LOCAL_RESULTS)
async def test_a_local_render_never_shows_its_path(result_url: str) -> None:
    """No file:// link, no path on the bot's machine, and every link is http(s)."""
    texts = await _everything(result_url)
    for text in texts:
        assert "/srv/bot" not in text, text
        assert "file:" not in text, text
        for url in _URL_RE.findall(text) + _MARKDOWN_TARGET_RE.findall(text):
            assert url.startswith(("https://", "http://")), (url, text)


async def test_a_web_result_is_still_linked() -> None:
    """The same renderers do show an http(s) result: the check above is not vacuous."""
    texts = "\n".join(await _everything(WEB_RESULT))
    assert f"[download]({WEB_RESULT})" in texts  # the showcase post
    assert f'"url": "{WEB_RESULT}"' in texts  # the Open video button
    assert f"too large to attach here): {WEB_RESULT}" in texts  # the delivery message


@pytest.mark.parametrize(
    ("url", "web"),
    [
        ("https://cdn.example/v.mp4", True),
        ("http://127.0.0.1:8080/v.mp4", True),
        ("file:///tmp/v.mp4", False),
        ("/tmp/v.mp4", False),
        ("httpfoo://x/v.mp4", False),
        ("https:///no-host", False),
        ("", False),
        (None, False),
    ],
)
def test_web_url(url: str | None, web: bool) -> None:
    assert (web_url(url) is not None) is web


def test_the_showcase_post_shows_the_prompt_once() -> None:
    """A one-line prompt is the title only; a long one is the title's first line and the body."""
    short = community.share_embed(_shared(WEB_RESULT), "Local camera motion")
    assert short.title == "a harbour at dawn"
    assert short.description is None
    fields = {f.name: f.value for f in short.fields}
    assert fields["Model"] == "Local camera motion · 720p"
    long_prompt = "a harbour at dawn\nboats leave one by one"
    long = community.share_embed(_shared(WEB_RESULT, long_prompt), "kvidAI")
    assert long.title == "a harbour at dawn"
    assert long.description == long_prompt


def _result(winners: int, paid: int) -> discord.Embed:
    event = Event(1, 2, 3, "harbours", paid, "closed", 4, NOW - 99, NOW, NOW, 4, NOW, entries=2)
    entries = (
        Entry(1, 1, "aaaa2222", 41, NOW, 3, 11, 2),
        Entry(2, 1, "bbbb3333", 42, NOW, 3, 12, 2),
    )
    payouts = tuple(Payout(e.user_id, e.id, 2, paid // winners) for e in entries[:winners])
    return community.event_result_embed(EventResult(event, entries, payouts))


def test_event_results_speak_of_one_winner_or_several() -> None:
    one = _result(1, 50).description
    assert one == "Winner: <@41> with 2 votes. The prize is **50 credits** from the server pool."
    two = _result(2, 50).description
    assert two == (
        "Winners: <@41>, <@42> with 2 votes (a tie). Each wins **25 credits** from the server pool."
    )
    assert _result(1, 0).description == "Winner: <@41> with 2 votes."
