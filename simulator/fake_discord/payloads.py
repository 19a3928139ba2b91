"""JSON payloads of users, members, roles, channels, guilds and messages, as Discord sends them."""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from .constants import INTENT_GUILD_PRESENCES, JSON
from .records import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    _iso,
    _Msg,
    snowflake_time,
)

if TYPE_CHECKING:
    from .interactions import FakeInteraction


class PayloadsMixin:
    """Renders the fake's state as Discord's JSON."""

    def _user_payload(self, user: FakeUser) -> JSON:
        payload: JSON = {
            "id": str(user.id),
            "username": user.username,
            "discriminator": "0001" if user.bot else "0",
            "global_name": user.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if user.bot:
            payload["bot"] = True
        return payload

    def _bot_user_payload(self) -> JSON:
        payload = self._user_payload(self._users[self.bot_user_id])
        payload.update(verified=True, mfa_enabled=False, email=None, locale="en-US")
        return payload

    def _member_payload(self, member: FakeMember, *, with_user: bool = True) -> JSON:
        payload: JSON = {
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.roles],
            "joined_at": _iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        if with_user:
            payload["user"] = self._user_payload(self._users[member.user_id])
        return payload

    def _role_payload(self, role: FakeRole) -> JSON:
        payload: JSON = {
            "id": str(role.id),
            "name": role.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": role.position,
            "permissions": str(role.permissions),
            "managed": role.managed,
            "mentionable": False,
            "flags": 0,
        }
        if role.bot_id is not None:
            payload["tags"] = {"bot_id": str(role.bot_id)}
        return payload

    def _channel_payload(self, channel: FakeChannel) -> JSON:
        last = self._last_message_id(channel.id)
        base: JSON = {
            "id": str(channel.id),
            "type": channel.type,
            "last_message_id": str(last) if last else None,
            "flags": 0,
        }
        if channel.kind == "dm":
            recipient = self._users[channel.recipient_id] if channel.recipient_id else None
            base["recipients"] = [self._user_payload(recipient)] if recipient else []
            return base
        base.update(
            guild_id=str(channel.guild_id),
            name=channel.name,
            parent_id=str(channel.parent_id) if channel.parent_id else None,
            rate_limit_per_user=0,
            nsfw=channel.nsfw,
        )
        if channel.kind == "thread":
            created = snowflake_time(channel.id)
            count = self._msg_counts.get(channel.id, 0)
            base.update(
                owner_id=str(channel.owner_id),
                message_count=count,
                total_message_sent=count,
                member_count=1,
                applied_tags=[str(t) for t in channel.applied_tags],
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 4320,
                    "archive_timestamp": _iso(created),
                    "locked": False,
                    "create_timestamp": _iso(created),
                },
            )
            return base
        base.update(position=channel.position, permission_overwrites=[], topic=channel.topic)
        if channel.kind == "voice":
            base.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if channel.kind == "forum":
            base.update(
                available_tags=[
                    {
                        "id": str(tid),
                        "name": tname,
                        "moderated": False,
                        "emoji_id": None,
                        "emoji_name": None,
                    }
                    for tid, tname in channel.tags
                ],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
                template="",
            )
        if channel.kind in ("text", "news", "forum"):
            base["default_auto_archive_duration"] = 4320
        return base

    def _interaction_channel_payload(self, channel: FakeChannel, user_id: int) -> JSON:
        payload = self._channel_payload(channel)
        if channel.guild_id is not None:
            perms = self.member_permissions(channel.guild_id, user_id)
            payload["permissions"] = str(perms)
        return payload

    def _guild_payload(self, guild: FakeGuild) -> JSON:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [self._role_payload(r) for r in self._roles[guild.id].values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(guild.premium_tier, 0),
            "preferred_locale": guild.preferred_locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def _guild_create_payload(self, guild: FakeGuild, intents: int) -> JSON:
        payload = self._guild_payload(guild)
        members = self._members[guild.id]
        count = len(members)
        if intents & INTENT_GUILD_PRESENCES and count < 250:
            shown = list(members.values())
        else:
            shown = [members[self.bot_user_id]]
        bot_member = members[self.bot_user_id]
        payload.update(
            joined_at=_iso(bot_member.joined_at),
            large=count >= 250,
            unavailable=False,
            member_count=count,
            voice_states=[],
            members=[self._member_payload(m) for m in shown],
            channels=[
                self._channel_payload(c)
                for c in self._channels.values()
                if c.guild_id == guild.id and c.kind != "thread"
            ],
            threads=[self._channel_payload(c) for c in self.threads() if c.guild_id == guild.id],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
            embedded_activities=[],
        )
        return payload

    def _attachment_payload(self, att: FakeAttachment) -> JSON:
        payload: JSON = {
            "id": str(att.id),
            "filename": att.filename,
            "size": att.size,
            "url": att.url,
            "proxy_url": att.proxy_url,
            "content_type": att.content_type,
        }
        if att.width is not None and att.height is not None:
            payload.update(width=att.width, height=att.height, placeholder_version=1)
        if att.duration is not None:
            payload["duration_secs"] = att.duration
        if att.description is not None:
            payload["description"] = att.description
        if att.ephemeral:
            payload["ephemeral"] = True
        return payload

    def _message_payload(self, msg: _Msg, *, gateway: bool = False, nested: bool = False) -> JSON:
        author = self._users.get(msg.author_id) or FakeUser(msg.author_id, f"user-{msg.author_id}")
        payload: JSON = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": self._user_payload(author),
            "content": msg.content,
            "timestamp": _iso(msg.created_at),
            "edited_timestamp": _iso(msg.edited_at),
            "tts": msg.tts,
            "mention_everyone": False,
            "mentions": self._mentions(msg.content),
            "mention_roles": [],
            "attachments": [self._attachment_payload(a) for a in msg.attachments],
            "embeds": copy.deepcopy(msg.embeds),
            "pinned": False,
            "type": msg.type,
            "flags": msg.flags,
            "components": copy.deepcopy(msg.components),
        }
        if msg.nonce is not None:
            payload["nonce"] = msg.nonce
        if msg.webhook_id is not None:
            payload["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            payload["application_id"] = str(msg.application_id)
        if msg.position is not None:
            payload["position"] = msg.position
        if msg.interaction_id is not None:
            inter = self._interactions.get(msg.interaction_id)
            if inter is not None:
                payload.update(self._interaction_metadata(inter, msg))
        if msg.reactions:
            payload["reactions"] = [
                {
                    "emoji": self._emoji_payload(emoji),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in msg.reactions.items()
            ]
        if msg.message_reference is not None:
            payload["message_reference"] = copy.deepcopy(msg.message_reference)
            ref_id = msg.message_reference.get("message_id")
            ref = self._msgs.get(int(ref_id)) if ref_id else None
            if not nested:
                payload["referenced_message"] = (
                    self._message_payload(ref, nested=True) if ref and not ref.deleted else None
                )
        if msg.thread_id is not None and msg.thread_id in self._channels:
            payload["thread"] = self._channel_payload(self._channels[msg.thread_id])
        if gateway and msg.guild_id is not None:
            payload["guild_id"] = str(msg.guild_id)
            member = self._members.get(msg.guild_id, {}).get(msg.author_id)
            if member is not None:
                payload["member"] = self._member_payload(member, with_user=False)
        return payload

    def _interaction_metadata(self, inter: FakeInteraction, msg: _Msg) -> JSON:
        user = self._user_payload(self._users[inter.user_id])
        owners = inter.payload.get("authorizing_integration_owners", {})
        meta: JSON = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": owners,
        }
        if inter.type == 2:
            meta["name"] = inter.name
            meta["command_type"] = 1
        if inter.message_id is not None:
            meta["interacted_message_id"] = str(inter.message_id)
        if inter._original_id is not None and inter._original_id != msg.id:
            meta["original_response_message_id"] = str(inter._original_id)
        legacy: JSON = {"id": str(inter.id), "type": inter.type, "name": inter.name, "user": user}
        if inter.guild_id is not None:
            member = self._members[inter.guild_id].get(inter.user_id)
            if member is not None:
                legacy["member"] = self._member_payload(member, with_user=False)
        return {"interaction_metadata": meta, "interaction": legacy}

    @staticmethod
    def _emoji_payload(emoji: str) -> JSON:
        match = re.fullmatch(r"<?a?:?(\w+):(\d+)>?", emoji)
        if match:
            return {"id": match.group(2), "name": match.group(1)}
        return {"id": None, "name": emoji}

    def _mentions(self, content: str) -> list[JSON]:
        seen: list[JSON] = []
        for raw in re.findall(r"<@!?(\d+)>", content or ""):
            user = self._users.get(int(raw))
            if user is not None and all(u["id"] != raw for u in seen):
                seen.append(self._user_payload(user))
        return seen

    def _last_message_id(self, channel_id: int) -> int | None:
        return self._last_msg.get(channel_id)

    def _thread_member_payload(self, thread: FakeChannel) -> JSON:
        return {
            "id": str(thread.id),
            "user_id": str(self.bot_user_id),
            "join_timestamp": _iso(snowflake_time(thread.id)),
            "flags": 0,
        }
