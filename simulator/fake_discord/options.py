"""Slash-command options: typed values and the resolved users, roles, channels and attachments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .constants import _OPTION_TYPE_NAMES, JSON
from .permissions import ALL_PERMISSIONS
from .records import FakeChannel


@dataclass
class CommandInput:
    """What one command interaction's options are built from, and the objects they resolve."""

    values: dict[str, Any]
    focused: str | None
    channel: FakeChannel
    command_id: int
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)


class OptionsMixin:
    """Builds the options and resolved objects of a command interaction."""

    def _build_options(
        self, schema: list[JSON], path: list[str], given: CommandInput, *, trail: str
    ) -> list[JSON]:
        subs = [o for o in schema if o.get("type") in (1, 2)]
        if path:
            sub = next((o for o in subs if o["name"] == path[0]), None)
            if sub is None:
                raise LookupError(
                    f"/{trail} has no subcommand {path[0]!r} (has {[o['name'] for o in subs]})"
                )
            inner = self._build_options(
                sub.get("options") or [], path[1:], given, trail=f"{trail} {path[0]}"
            )
            return [{"type": sub["type"], "name": sub["name"], "options": inner}]
        if subs:
            raise ValueError(f"/{trail} needs a subcommand: {[o['name'] for o in subs]}")
        values, focused = given.values, given.focused
        by_name = {o["name"]: o for o in schema}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise ValueError(f"/{trail} has no options {unknown} (has {sorted(by_name)})")
        out: list[JSON] = []
        for opt in schema:
            name = opt["name"]
            if name not in values or values[name] is None:
                if opt.get("required") and focused is None:
                    raise ValueError(f"/{trail}: option {name!r} is required")
                continue
            otype = int(opt["type"])
            raw = values[name]
            if name == focused:
                out.append({"type": otype, "name": name, "value": str(raw), "focused": True})
                continue
            if focused is not None and otype == 11:
                continue  # Discord does not send attachments with autocomplete
            value = self._option_value(opt, raw, given, trail=trail)
            out.append({"type": otype, "name": name, "value": value})
        return out

    def _option_value(self, opt: JSON, raw: Any, given: CommandInput, *, trail: str) -> Any:
        # Discord checks lengths, ranges and choices only when the command is sent, not while
        # the member is still typing (autocomplete).
        validate = given.focused is None
        otype = int(opt["type"])
        name = opt["name"]
        where = f"/{trail} {name}"
        kind = _OPTION_TYPE_NAMES.get(otype, str(otype))
        if otype == 3:
            if not isinstance(raw, str):
                raise TypeError(f"{where}: expected a string, got {raw!r}")
            if validate:
                if "min_length" in opt and len(raw) < opt["min_length"]:
                    raise ValueError(f"{where}: shorter than {opt['min_length']}")
                if len(raw) > opt.get("max_length", 6000):
                    raise ValueError(f"{where}: longer than {opt.get('max_length', 6000)}")
            value: Any = raw
        elif otype in (4, 10):
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise TypeError(f"{where}: expected a {kind}, got {raw!r}")
            if otype == 4 and not float(raw).is_integer():
                raise TypeError(f"{where}: expected an integer, got {raw!r}")
            value = int(raw) if otype == 4 else raw
            if validate:
                if "min_value" in opt and value < opt["min_value"]:
                    raise ValueError(f"{where}: below min_value {opt['min_value']}")
                if "max_value" in opt and value > opt["max_value"]:
                    raise ValueError(f"{where}: above max_value {opt['max_value']}")
        elif otype == 5:
            if not isinstance(raw, bool):
                raise TypeError(f"{where}: expected a boolean, got {raw!r}")
            value = raw
        elif otype in (6, 7, 8, 9):
            if not isinstance(raw, int) or isinstance(raw, bool):
                raise TypeError(f"{where}: expected a {kind} id (int), got {raw!r}")
            self._resolve_snowflake(otype, raw, given, where, opt)
            value = str(raw)
        elif otype == 11:
            if not (isinstance(raw, tuple) and len(raw) == 3):
                raise TypeError(f"{where}: expected (filename, bytes, content_type), got {raw!r}")
            filename, data, content_type = raw
            att = self._make_option_attachment(
                given.command_id, filename, bytes(data), content_type
            )
            attachments = given.resolved.setdefault("attachments", {})
            attachments[str(att.id)] = self._attachment_payload(att)
            value = str(att.id)
        else:
            raise ValueError(f"{where}: unsupported option type {otype}")
        choices = opt.get("choices")
        if validate and choices and otype in (3, 4, 10):
            allowed = [c["value"] for c in choices]
            if value not in allowed:
                raise ValueError(f"{where}: {value!r} is not one of the choices {allowed}")
        return value

    def _resolve_snowflake(
        self, otype: int, snowflake: int, given: CommandInput, where: str, opt: JSON
    ) -> None:
        resolved, gid = given.resolved, given.channel.guild_id
        if otype in (6, 9) and snowflake in self._users:
            resolved.setdefault("users", {})[str(snowflake)] = self._user_payload(
                self._users[snowflake]
            )
            if gid is not None and snowflake in self._members[gid]:
                member = self._member_payload(self._members[gid][snowflake], with_user=False)
                member["permissions"] = str(self.member_permissions(gid, snowflake))
                resolved.setdefault("members", {})[str(snowflake)] = member
            return
        if otype in (8, 9) and gid is not None and snowflake in self._roles[gid]:
            role = self._role_payload(self._roles[gid][snowflake])
            resolved.setdefault("roles", {})[str(snowflake)] = role
            return
        if otype == 7 and snowflake in self._channels:
            target = self._channels[snowflake]
            types = opt.get("channel_types")
            if types and target.type not in types:
                raise ValueError(f"{where}: channel type {target.type} not in {types}")
            payload = self._channel_payload(target)
            payload["permissions"] = str(ALL_PERMISSIONS)
            resolved.setdefault("channels", {})[str(snowflake)] = payload
            return
        raise LookupError(f"{where}: unknown {_OPTION_TYPE_NAMES[otype]} {snowflake}")

    def _resolved_for_ids(self, ids: list[int], guild_id: int | None) -> JSON:
        resolved: dict[str, dict[str, Any]] = {}
        for snowflake in ids:
            if snowflake in self._users:
                resolved.setdefault("users", {})[str(snowflake)] = self._user_payload(
                    self._users[snowflake]
                )
                if guild_id is not None and snowflake in self._members.get(guild_id, {}):
                    member = self._member_payload(
                        self._members[guild_id][snowflake], with_user=False
                    )
                    resolved.setdefault("members", {})[str(snowflake)] = member
            elif guild_id is not None and snowflake in self._roles.get(guild_id, {}):
                resolved.setdefault("roles", {})[str(snowflake)] = self._role_payload(
                    self._roles[guild_id][snowflake]
                )
            elif snowflake in self._channels:
                payload = self._channel_payload(self._channels[snowflake])
                payload["permissions"] = str(ALL_PERMISSIONS)
                resolved.setdefault("channels", {})[str(snowflake)] = payload
        return resolved
