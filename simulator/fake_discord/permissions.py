"""Permission bits, and how the fake computes a member's and the bot's permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import JSON

if TYPE_CHECKING:
    from .records import FakeChannel


# Permission bits.
CREATE_INSTANT_INVITE = 1 << 0


ADMINISTRATOR = 1 << 3


MANAGE_CHANNELS = 1 << 4


MANAGE_GUILD = 1 << 5


ADD_REACTIONS = 1 << 6


VIEW_CHANNEL = 1 << 10


SEND_MESSAGES = 1 << 11


MANAGE_MESSAGES = 1 << 13


EMBED_LINKS = 1 << 14


ATTACH_FILES = 1 << 15


READ_MESSAGE_HISTORY = 1 << 16


USE_EXTERNAL_EMOJIS = 1 << 18


CONNECT = 1 << 20


SPEAK = 1 << 21


CHANGE_NICKNAME = 1 << 26


USE_APPLICATION_COMMANDS = 1 << 31


CREATE_PUBLIC_THREADS = 1 << 35


SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1


DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)


# A bot invited with the usual scopes: what @everyone may do, less invites, voice and nicknames.
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS & ~(
    CREATE_INSTANT_INVITE | CONNECT | SPEAK | CHANGE_NICKNAME
)


class PermissionsMixin:
    """Computes permissions the way Discord does, and checks a command's visibility."""

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        """A member's effective guild permissions (owner and administrator get everything)."""
        guild = self._require_guild(guild_id)
        member = self._members[guild_id].get(user_id)
        if member is None:
            raise LookupError(f"user {user_id} is not a member of guild {guild_id}")
        if user_id == self.bot_user_id:
            perms = guild.bot_permissions
        elif member.permissions is not None:
            perms = member.permissions
        elif user_id == guild.owner_id:
            return ALL_PERMISSIONS
        else:
            roles = self._roles[guild_id]
            perms = roles[guild_id].permissions
            for role_id in member.roles:
                if role_id in roles:
                    perms |= roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def bot_permissions(self, channel_id: int) -> int:
        """The bot's effective permissions in a channel (DMs: what a DM allows)."""
        channel = self._require_channel(channel_id)
        if channel.guild_id is None:
            return VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
        perms = channel.bot_permissions
        if perms is None and channel.parent_id is not None:
            parent = self._channels.get(channel.parent_id)
            perms = parent.bot_permissions if parent else None
        if perms is None:
            perms = self._guilds[channel.guild_id].bot_permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _check_command_access(self, cmd: JSON, user_id: int, channel: FakeChannel) -> None:
        name = cmd["name"]
        context = 0 if channel.guild_id is not None else 1
        contexts = cmd.get("contexts")
        if contexts is not None and context not in contexts:
            raise PermissionError(f"/{name} is not available in this context ({context})")
        if context == 1 and cmd.get("dm_permission") is False:
            raise PermissionError(f"/{name} is not available in DMs")
        if cmd.get("nsfw") and not self._channel_is_nsfw(channel):
            raise PermissionError(f"/{name} is age-restricted and the channel is not")
        required = cmd.get("default_member_permissions")
        if required is not None and channel.guild_id is not None:
            needed = int(required)
            perms = self.member_permissions(channel.guild_id, user_id)
            if needed == 0 or perms & needed != needed:
                raise PermissionError(
                    f"/{name} needs permissions {needed:#x}; member {user_id} has {perms:#x}"
                )

    def _channel_is_nsfw(self, channel: FakeChannel) -> bool:
        if channel.nsfw:
            return True
        parent = self._channels.get(channel.parent_id) if channel.parent_id else None
        return bool(parent and parent.nsfw)
