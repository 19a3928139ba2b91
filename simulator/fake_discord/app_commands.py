"""Application commands: the bot's registrations (PUT, POST, PATCH, DELETE) and lookups."""

from __future__ import annotations

import copy
import json
import re

from aiohttp import web

from .constants import JSON
from .errors import _ApiError, _form_error, _json_response


class AppCommandsMixin:
    """Stores the application commands the bot registers."""

    def _find_command(self, name: str, guild_id: int | None, ctype: int = 1) -> JSON:
        for scope in ([guild_id] if guild_id is not None else []) + [None]:
            cmd = self._commands.get(scope, {}).get((name, ctype))
            if cmd is not None:
                return cmd
        known = sorted(n for s in self._commands.values() for n, _ in s)
        raise LookupError(
            f"no registered command {name!r} (registered: {known}); did tree.sync run?"
        )

    def _check_app(self, app_id: str, guild_id: str | None) -> int | None:
        if int(app_id) != self.application_id:
            raise _ApiError(403, 50001, "Missing Access")
        if guild_id is None:
            return None
        if int(guild_id) not in self._guilds:
            raise _ApiError(403, 50001, "Missing Access")
        return int(guild_id)

    def _normalize_command(self, scope: int | None, raw: JSON, index: int) -> JSON:
        name = raw.get("name")
        ctype = int(raw.get("type", 1))
        if not isinstance(name, str) or not name:
            raise _form_error((index, "name"), "BASE_TYPE_REQUIRED", "This field is required")
        if ctype == 1 and (not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower()):
            raise _form_error(
                (index, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if ctype == 1 and not raw.get("description"):
            raise _form_error(
                (index, "description"), "BASE_TYPE_REQUIRED", "This field is required"
            )
        key = (scope, name, ctype)
        if key not in self._command_ids:
            self._command_ids[key] = self._ids.next()
        cmd = copy.deepcopy(raw)
        cmd.update(
            id=str(self._command_ids[key]),
            application_id=str(self.application_id),
            version=str(self._ids.next()),
            type=ctype,
            guild_id=str(scope) if scope is not None else None,
        )
        cmd.setdefault("description", "")
        perms = cmd.get("default_member_permissions")
        cmd["default_member_permissions"] = None if perms is None else str(int(perms))
        cmd.setdefault("nsfw", False)
        if scope is None:
            cmd.setdefault("dm_permission", True)
            cmd.setdefault("contexts", None)
            cmd.setdefault("integration_types", [0])
        return cmd

    async def _h_get_commands(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        return _json_response(list(self._commands.get(scope, {}).values()))

    async def _h_put_commands(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        raw = await request.read()
        try:
            items = json.loads(raw or b"[]")
        except ValueError as exc:
            raise _ApiError(400, 50109, "The request body contains invalid JSON.") from exc
        if not isinstance(items, list):
            raise _form_error(("_",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        commands = [self._normalize_command(scope, item, i) for i, item in enumerate(items)]
        keys = [(c["name"], c["type"]) for c in commands]
        if len(set(keys)) != len(keys):
            raise _form_error(
                ("_",),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        self._commands[scope] = dict(zip(keys, commands, strict=True))
        self._command_puts += 1
        self._changed()
        return _json_response(commands)

    async def _h_post_command(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        body = await self._read_body(request)
        cmd = self._normalize_command(scope, body.json, 0)
        scope_cmds = self._commands.setdefault(scope, {})
        existed = (cmd["name"], cmd["type"]) in scope_cmds
        scope_cmds[(cmd["name"], cmd["type"])] = cmd
        self._command_puts += 1
        self._changed()
        return _json_response(cmd, status=200 if existed else 201)

    def _command_by_id(self, scope: int | None, command_id: str) -> JSON:
        for cmd in self._commands.get(scope, {}).values():
            if cmd["id"] == command_id:
                return cmd
        raise _ApiError(404, 10063, "Unknown application command")

    async def _h_get_command(
        self, request: web.Request, app_id: str, guild_id: str | None, command_id: str
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        return _json_response(self._command_by_id(scope, command_id))

    async def _h_patch_command(
        self, request: web.Request, app_id: str, guild_id: str | None, command_id: str
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        cmd = self._command_by_id(scope, command_id)
        body = await self._read_body(request)
        merged = {**cmd, **body.json}
        new = self._normalize_command(scope, merged, 0)
        scopes = self._commands[scope]
        scopes.pop((cmd["name"], cmd["type"]), None)
        scopes[(new["name"], new["type"])] = new
        self._changed()
        return _json_response(new)

    async def _h_delete_command(
        self, request: web.Request, app_id: str, guild_id: str | None, command_id: str
    ) -> web.Response:
        scope = self._check_app(app_id, guild_id)
        cmd = self._command_by_id(scope, command_id)
        del self._commands[scope][(cmd["name"], cmd["type"])]
        self._changed()
        return web.Response(status=204)

    async def _h_command_permissions(
        self, request: web.Request, app_id: str, guild_id: str | None
    ) -> web.Response:
        self._check_app(app_id, guild_id)
        return _json_response([])
