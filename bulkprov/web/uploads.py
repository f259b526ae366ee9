"""Uploads: streamed, size-capped, stored under generated names, typed by content (one sniffer).

The multipart body is streamed into ``STATE_DIR/uploads/<uuid4>.part``; the CSRF field must come
first and is checked before a byte of the file is stored; the stored extension is decided by the
content (:func:`bulkprov.io.shared.sniff.upload_extension`, the loader's own decisions), never by the
user's file name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from bulkprov.errors import InputError
from bulkprov.io.shared.guard import file_sha256
from bulkprov.io.shared.sniff import upload_extension
from bulkprov.web.config import WebConfig
from bulkprov.web.frame import FORM_ERRORS, forbidden, message
from bulkprov.web.keys import CONFIG, SESSION
from bulkprov.web.lang import N_, _, text
from bulkprov.web.records import record
from bulkprov.web.security import Session, csrf_ok
from bulkprov.web.wording import ACTIONS, EMAIL_CHOICES, ENCODING_CHOICES, explain, mb

log = logging.getLogger("bulkprov.web")

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields around the file
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
USE_THE_FORM = N_("Send the file with the upload form.")


class UploadRefused(Exception):
    """The upload form was not used as intended; the message says what to do."""


@dataclass
class Upload:
    id: str
    path: Path
    name: str  # the user's file name, for display only
    size: int
    user: str
    uploaded: str
    sha256: str = ""
    encoding: str = ""  # the CSV encoding the uploader named ("" detects)


def clean_name(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:200] or "upload"


def ascii_stem(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "users"


def find_upload(config: WebConfig, upload_id: str) -> Upload | None:
    if not UPLOAD_ID.match(upload_id):
        return None
    meta = config.uploads / f"{upload_id}.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = config.uploads / f"{upload_id}.{data.get('ext')}"
    if data.get("ext") not in ("xlsx", "xls", "ods", "csv") or not path.is_file():
        return None
    encoding = data.get("encoding", "")
    return Upload(upload_id, path, str(data.get("name", "")), int(data.get("size", 0)), str(data.get("user", "")),
                  str(data.get("uploaded", "")), str(data.get("sha256", "")),
                  encoding if encoding in ENCODING_CHOICES else "")


async def small_field(part: BodyPartReader, counted: Any, limit: int = 4096) -> str:
    data = b""
    while chunk := await part.read_chunk(1024):
        counted.tick()
        data += chunk
        if len(data) > limit:
            raise UploadRefused(N_("A form field is too long."))
    return data.decode("utf-8", "replace")


def _too_large(request: web.Request) -> web.Response:
    config: WebConfig = request.app[CONFIG]
    return message(request, _("File too large"), text(N_("The file is larger than the {limit} upload limit. Split it "
                                                         "into smaller files and upload each (or ask the administrator "
                                                         "to raise the upload limit)."), limit=mb(config.max_upload_bytes)),
                   status=413)


async def upload_post(request: web.Request) -> web.StreamResponse:
    """Stream the multipart body: the CSRF field first, then one file, every body byte counted as it arrives."""
    config: WebConfig = request.app[CONFIG]
    if request.content_length is not None and request.content_length > config.max_upload_bytes + FORM_OVERHEAD:
        return _too_large(request)
    temp: Path | None = None
    try:
        async with asyncio.timeout(None) as deadline:
            fields, temp = await _read_form(request, config, deadline)
        encoding = fields.get("encoding", "")
        upload = await asyncio.to_thread(_keep_upload, config, temp, fields["filename"], request[SESSION].user or "",
                                         encoding if encoding in ENCODING_CHOICES else "")
        temp = None
    except _Refusal as refusal:
        return refusal.response
    except UploadRefused as exc:
        return message(request, _("Upload refused"), _(str(exc)), status=415)
    except InputError as exc:  # the content is not a spreadsheet the loader reads
        return message(request, _("Upload refused"), explain(exc), status=415)
    except TimeoutError:
        log.warning("upload from %s stalled for %s s: dropped", request.remote, config.body_timeout)
        return message(request, _("Upload too slow"), _("The upload stalled: try again."), status=408)
    finally:
        if temp is not None:  # refused, stalled, cut off or cancelled: nothing of it stays on disk
            temp.unlink(missing_ok=True)
    log.info("%s uploaded %s (%d bytes) as %s", upload.user, upload.name, upload.size, upload.path.name)
    await record(request, "upload", upload=upload.id, input=upload.name, input_sha256=upload.sha256, size=upload.size)
    action = fields.get("action") if fields.get("action") in ACTIONS else "add"
    email = fields.get("email") if fields.get("email") in EMAIL_CHOICES else "yes"
    raise web.HTTPSeeOther(f"/uploads/{upload.id}?action={action}&email={email}")


class _Refusal(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


class _Counted:
    """Every byte of the body, whatever its framing (Content-Length or chunked), against one cap;
    and no wait between two pieces longer than the body timeout."""

    def __init__(self, request: web.Request, config: WebConfig, deadline: Any) -> None:
        self.request, self.config, self.deadline = request, config, deadline
        self.cap = config.max_upload_bytes + FORM_OVERHEAD

    def tick(self) -> None:
        loop = asyncio.get_running_loop()
        self.deadline.reschedule(loop.time() + self.config.body_timeout)
        if self.request.content.total_bytes > self.cap:
            raise _Refusal(_too_large(self.request))


async def _read_form(request: web.Request, config: WebConfig, deadline: Any) -> tuple[dict[str, str], Path]:
    """The form's fields and the stored temp file; raises :class:`_Refusal` with the page to show."""
    session: Session = request[SESSION]
    counted = _Counted(request, config, deadline)
    counted.tick()
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise _Refusal(message(request, _("Upload refused"), _(USE_THE_FORM), status=400)) from None
    fields: dict[str, str] = {}
    temp: Path | None = None
    try:
        while (part := await reader.next()) is not None:
            counted.tick()
            if not isinstance(part, BodyPartReader):
                raise _Refusal(message(request, _("Upload refused"), _(USE_THE_FORM), status=400))
            if "csrf" not in fields:  # the token is the form's first field: nothing is stored before it
                if part.name != "csrf" or not csrf_ok(session, await small_field(part, counted)):
                    raise _Refusal(forbidden(request))
                fields["csrf"] = "ok"
            elif part.name == "file" and temp is None:
                fields["filename"] = clean_name(part.filename)
                temp = config.uploads / f"{uuid.uuid4().hex}.part"
                if not await _store(part, temp, config.max_upload_bytes, counted):
                    raise _Refusal(_too_large(request))
            elif part.name in ("action", "email", "encoding") and part.name not in fields:
                fields[part.name] = await small_field(part, counted)
            else:  # a second file, a repeated or unknown field: the form never sends one
                raise _Refusal(message(request, _("Upload refused"), _("Upload one file at a time, with the upload "
                                                                       "form."), status=400))
    except FORM_ERRORS:  # a part no browser sends (a header line too long, no name, a body cut short)
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise _Refusal(message(request, _("Upload refused"), _(USE_THE_FORM), status=400)) from None
    except BaseException:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise
    if temp is None:
        raise _Refusal(message(request, _("No file"), _("Choose a spreadsheet to upload."), status=400))
    return fields, temp


async def _store(part: BodyPartReader, temp: Path, cap: int, counted: _Counted) -> bool:
    """Write the file part to ``temp`` (owner-only); False as soon as it passes ``cap`` bytes."""
    temp.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    size = 0
    with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
        while chunk := await part.read_chunk(1 << 16):
            counted.tick()
            size += len(chunk)
            if size > cap:
                return False
            fh.write(chunk)
    return True


def _keep_upload(config: WebConfig, temp: Path, name: str, user: str, encoding: str = "") -> Upload:
    ext = upload_extension(temp)
    upload_id = temp.stem
    path = temp.with_name(f"{upload_id}.{ext}")
    os.replace(temp, path)
    upload = Upload(upload_id, path, name, path.stat().st_size, user,
                    dt.datetime.now().astimezone().isoformat(timespec="seconds"), file_sha256(path),
                    encoding if ext == "csv" else "")
    meta = {"name": name, "ext": ext, "size": upload.size, "user": user, "uploaded": upload.uploaded,
            "sha256": upload.sha256, "encoding": upload.encoding}
    with open(os.open(config.uploads / f"{upload_id}.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
              encoding="utf-8") as fh:
        fh.write(json.dumps(meta))
    return upload


def remove_stale_parts(config: WebConfig) -> int:
    """At start: temp files of uploads a previous process never finished (killed mid-upload)."""
    count = 0
    for part in config.uploads.glob("*.part") if config.uploads.is_dir() else []:
        part.unlink(missing_ok=True)
        count += 1
    return count
