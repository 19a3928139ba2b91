"""What a message may hold: content, embeds, components and attachments, checked like Discord."""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import mimetypes
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .constants import IS_COMPONENTS_V2, JSON, MIB
from .errors import _ApiError, _form_error
from .records import FakeAttachment, FakeChannel, _Body, _Msg, _Upload, _walk_components


def _guess_content_type(filename: str, declared: str | None, data: bytes) -> str:
    """Decide an attachment's content type like Discord does (from the name, then the bytes)."""
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed
    fmt = _image_format(data)
    if fmt:
        return f"image/{fmt}"
    return declared or "application/octet-stream"


def _image_format(data: bytes) -> str | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return (img.format or "").lower() or None
    except Exception:
        return None


def _placeholder_png() -> bytes:
    """A small grey PNG served for avatars and icons."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (128, 128), (88, 101, 242)).save(buf, format="PNG")
    return buf.getvalue()


def _probe_media(data: bytes, content_type: str) -> tuple[int | None, int | None, float | None]:
    """Width, height and duration of an image (Pillow) or video (PyAV, if installed)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            img.verify()
            return size[0], size[1], None
    except Exception:
        pass
    if content_type.startswith("video/"):
        try:
            import av

            with av.open(io.BytesIO(data), "r") as container:
                stream = container.streams.video[0]
                duration = container.duration / 1_000_000 if container.duration else None
                return stream.codec_context.width, stream.codec_context.height, duration
        except Exception:
            return None, None, None
    return None, None, None


class ContentMixin:
    """Validates and normalizes what the bot sends: content, embeds, components, files."""

    def _upload_limit(self, channel: FakeChannel) -> int:
        if channel.guild_id is None:
            return 10 * MIB
        return self._guilds[channel.guild_id].upload_limit

    def _make_option_attachment(
        self, command_id: int, filename: str, data: bytes, content_type: str
    ) -> FakeAttachment:
        # An option's file keeps the type the member's client declared: Discord does not guess.
        return self._store_attachment(
            f"ephemeral-attachments/{command_id}",
            self._clean_filename(filename),
            data,
            content_type,
            None,
            None,
            ephemeral=True,
        )

    def _make_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        declared_type: str | None,
        description: str | None,
        probe: tuple[int | None, int | None, float | None] | None,
        *,
        ephemeral: bool = False,
    ) -> FakeAttachment:
        filename = self._clean_filename(filename)
        content_type = _guess_content_type(filename, declared_type, data)
        prefix = "ephemeral-attachments" if ephemeral else "attachments"
        return self._store_attachment(
            f"{prefix}/{channel_id}",
            filename,
            data,
            content_type,
            description,
            probe,
            ephemeral=ephemeral,
        )

    def _store_attachment(
        self,
        folder: str,
        filename: str,
        data: bytes,
        content_type: str,
        description: str | None,
        probe: tuple[int | None, int | None, float | None] | None,
        *,
        ephemeral: bool,
    ) -> FakeAttachment:
        """Give a cleaned file an id and a signed CDN url under `folder`, and keep its bytes."""
        att_id = self._ids.next()
        width, height, duration = probe or _probe_media(data, content_type)
        url = self._signed_url(f"{folder}/{att_id}/{quote(filename)}")
        att = FakeAttachment(
            att_id,
            filename,
            content_type,
            len(data),
            data,
            url,
            url.replace(self.base_url, self.base_url + "/media", 1),
            width,
            height,
            duration,
            description,
            ephemeral,
        )
        self._blobs[att_id] = att
        return att

    @staticmethod
    def _clean_filename(filename: str) -> str:
        cleaned = re.sub(r"[^\w.\-]", "_", filename.replace(" ", "_")).strip("._")
        return cleaned or "unknown"

    def _signed_url(self, path: str) -> str:
        now = int(time.time())
        return f"{self.base_url}/{path}?ex={now + 86400:x}&is={now:x}&hm={secrets.token_hex(32)}&"

    def _validate_content(self, payload: JSON) -> None:
        content = payload.get("content")
        if content is not None and not isinstance(content, str):
            raise _form_error(("content",), "STRING_TYPE_CONVERT", "Could not interpret as string.")
        if content is not None and len(content) > 2000:
            raise _form_error(
                ("content",), "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
            )
        nonce = payload.get("nonce")
        if isinstance(nonce, str) and len(nonce) > 25:
            raise _form_error(("nonce",), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")

    def _normalize_embeds(self, raw: Any, attachments: Sequence[FakeAttachment]) -> list[JSON]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _form_error(("embeds",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        if len(raw) > 10:
            raise _form_error(("embeds",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        out: list[JSON] = []
        for i, embed in enumerate(raw):
            if not isinstance(embed, dict):
                raise _form_error(
                    ("embeds", i), "DICT_TYPE_CONVERT", "Only dictionaries may be used."
                )
            embed = copy.deepcopy(embed)
            embed.setdefault("type", "rich")
            limits = {"title": 256, "description": 4096}
            for key, limit in limits.items():
                value = embed.get(key)
                if value is not None:
                    total += len(str(value))
                    if len(str(value)) > limit:
                        raise _form_error(
                            ("embeds", i, key),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _form_error(
                    ("embeds", i, "fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                )
            for j, fld in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    value = str(fld.get(key) or "")
                    if not value:
                        raise _form_error(
                            ("embeds", i, "fields", j, key),
                            "BASE_TYPE_REQUIRED",
                            "This field is required",
                        )
                    if len(value) > limit:
                        raise _form_error(
                            ("embeds", i, "fields", j, key),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
                    total += len(value)
            for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
                value = (embed.get(key) or {}).get(sub)
                if value is not None:
                    total += len(str(value))
                    if len(str(value)) > limit:
                        raise _form_error(
                            ("embeds", i, key, sub),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
            color = embed.get("color")
            if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
                raise _form_error(
                    ("embeds", i, "color"), "NUMBER_TYPE_MAX", "int value should be <= 16777215."
                )
            self._resolve_embed_urls(embed, i, attachments)
            out.append(embed)
        if total > 6000:
            raise _form_error(
                ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
        return out

    def _resolve_embed_urls(
        self, embed: JSON, index: int, attachments: Sequence[FakeAttachment]
    ) -> None:
        def check(url: Any, path: tuple[str | int, ...]) -> str | None:
            if url is None:
                return None
            url = str(url)
            if url.startswith("attachment://"):
                name = url.removeprefix("attachment://")
                att = next((a for a in attachments if a.filename == name), None)
                return att.url if att is not None else url
            if not re.match(r"https?://[^\s/]+", url):
                raise _form_error(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
            return url

        if "url" in embed:
            embed["url"] = check(embed["url"], ("embeds", index, "url"))
        for key, sub in (
            ("image", "url"),
            ("thumbnail", "url"),
            ("video", "url"),
            ("author", "icon_url"),
            ("author", "url"),
            ("footer", "icon_url"),
        ):
            part = embed.get(key)
            if isinstance(part, dict) and part.get(sub) is not None:
                original = str(part[sub])
                part[sub] = check(part[sub], ("embeds", index, key, sub))
                if key in ("image", "thumbnail", "video") and original.startswith("attachment://"):
                    att = next(
                        (a for a in attachments if a.filename == original[len("attachment://") :]),
                        None,
                    )
                    if att is not None:
                        part["proxy_url"] = att.proxy_url
                        if att.width is not None:
                            part.update(width=att.width, height=att.height)
                        part["content_type"] = att.content_type

    def _normalize_components(self, raw: Any, flags: int) -> list[JSON]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _form_error(("components",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        components = copy.deepcopy(raw)
        v2 = bool(flags & IS_COMPONENTS_V2)
        if not v2:
            if len(components) > 5:
                raise _form_error(
                    ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
                )
            for i, row in enumerate(components):
                if not isinstance(row, dict) or row.get("type") != 1:
                    raise _form_error(
                        ("components", i, "type"),
                        "UNION_TYPE_CHOICES",
                        'Value of field "type" must be one of (1,).',
                    )
                children = row.get("components") or []
                if not 1 <= len(children) <= 5:
                    raise _form_error(
                        ("components", i, "components"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 5 in length.",
                    )
                if any(c.get("type") != 2 for c in children) and len(children) != 1:
                    raise _form_error(
                        ("components", i, "components"),
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        "The specified component exceeds the maximum width",
                    )
        elif sum(1 for _ in _walk_components(components)) > 40:
            raise _form_error(
                ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length."
            )
        seen: set[str] = set()
        used_ids = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
        next_id = itertools.count(1)
        for comp in _walk_components(components):
            if not isinstance(comp.get("id"), int):
                new = next(next_id)
                while new in used_ids:
                    new = next(next_id)
                comp["id"] = new
                used_ids.add(new)
            ctype = comp.get("type")
            custom_id = comp.get("custom_id")
            if ctype == 2:
                style = comp.get("style")
                if style == 5:
                    if not comp.get("url") or custom_id is not None:
                        raise _form_error(
                            ("components",),
                            "BUTTON_COMPONENT_URL_REQUIRED",
                            "Link buttons need a url",
                        )
                    continue
                if style != 6 and not custom_id:
                    raise _form_error(
                        ("components",),
                        "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                        "A custom id is required",
                    )
                if len(str(comp.get("label") or "")) > 80:
                    raise _form_error(
                        ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."
                    )
            if custom_id is not None:
                if len(str(custom_id)) > 100:
                    raise _form_error(
                        ("components",), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."
                    )
                if custom_id in seen:
                    raise _form_error(
                        ("components",),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(custom_id)
        return components

    async def _build_attachments(
        self,
        body: _Body,
        channel_id: int,
        existing: Sequence[FakeAttachment],
        limit: int,
        *,
        ephemeral: bool,
    ) -> list[FakeAttachment] | None:
        """New attachment list from payload + files, or None when attachments are unchanged."""
        for upload in body.files:
            if len(upload.data) > limit:
                raise _ApiError(413, 40005, "Request entity too large")
        meta = body.json.get("attachments")
        if meta is None and not body.files:
            return None
        if meta is not None and not isinstance(meta, list):
            raise _form_error(("attachments",), "LIST_TYPE_CONVERT", "Only iterables may be used.")
        uploads = {u.index: u for u in body.files}
        used: set[int] = set()
        out: list[FakeAttachment] = []
        by_id = {a.id: a for a in existing}
        for i, item in enumerate(meta or []):
            if not isinstance(item, dict):
                raise _form_error(
                    ("attachments", i), "DICT_TYPE_CONVERT", "Only dictionaries may be used."
                )
            raw_id: Any = item.get("id")
            try:
                ident = int(raw_id)
            except (TypeError, ValueError):
                raise _form_error(
                    ("attachments", i, "id"), "NUMBER_TYPE_COERCE", "Value is not int."
                ) from None
            if ident in by_id and ident not in uploads:
                out.append(by_id[ident])
                continue
            found = uploads.get(ident)
            if found is None:
                raise _form_error(
                    ("attachments", i, "id"),
                    "ATTACHMENT_NOT_FOUND",
                    f"Unknown attachment or file index {ident}",
                )
            used.add(ident)
            out.append(
                await self._attachment_from_upload(
                    channel_id, found, item.get("filename"), item.get("description"), ephemeral
                )
            )
        if meta is None:
            out.extend(existing)
        for index, upload in sorted(uploads.items()):
            if index not in used:
                out.append(
                    await self._attachment_from_upload(channel_id, upload, None, None, ephemeral)
                )
        if len(out) > 10:
            raise _form_error(
                ("attachments",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        return out

    async def _attachment_from_upload(
        self,
        channel_id: int,
        upload: _Upload,
        filename: str | None,
        description: str | None,
        ephemeral: bool,
    ) -> FakeAttachment:
        name = filename or upload.filename
        ctype = _guess_content_type(name, upload.content_type, upload.data)
        probe = await asyncio.to_thread(_probe_media, upload.data, ctype)
        return self._make_attachment(
            channel_id, name, upload.data, ctype, description, probe, ephemeral=ephemeral
        )

    def _check_not_empty(self, msg: _Msg, payload: JSON) -> None:
        if not (
            msg.content
            or msg.embeds
            or msg.attachments
            or msg.components
            or payload.get("sticker_ids")
            or payload.get("poll")
        ):
            raise _ApiError(400, 50006, "Cannot send an empty message")
