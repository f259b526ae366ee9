"""Uploads: streamed, size-capped, stored under generated names, typed by content (one sniffer).

The multipart body is streamed into ``STATE_DIR/uploads/<uuid4>.part``; the CSRF field must come
first and is checked before a byte of the file is stored; the stored extension is decided by the
content (:func:`bulkprov.io.sniff.upload_extension`, the loader's own decisions), never by the
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

from aiohttp import BodyPartReader, web

from bulkprov.errors import InputError
from bulkprov.io.sniff import upload_extension
from bulkprov.web.common import ACTIONS, CONFIG, EMAIL_CHOICES, SESSION, explain, forbidden, mb, message
from bulkprov.web.config import WebConfig
from bulkprov.web.security import Session, csrf_ok

log = logging.getLogger("bulkprov.web")

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields around the file
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


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
    return Upload(upload_id, path, str(data.get("name", "")), int(data.get("size", 0)), str(data.get("user", "")),
                  str(data.get("uploaded", "")))


async def small_field(part: BodyPartReader, limit: int = 4096) -> str:
    data = b""
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > limit:
            raise UploadRefused("A form field is too long.")
    return data.decode("utf-8", "replace")


def _too_large(request: web.Request) -> web.Response:
    config: WebConfig = request.app[CONFIG]
    return message(request, "File too large", f"The file is larger than the {mb(config.max_upload_bytes)} upload "
                   "limit. Split it into smaller files and upload each (or ask the administrator to raise the "
                   "upload limit).", status=413)


async def upload_post(request: web.Request) -> web.StreamResponse:
    """Stream the multipart body: the CSRF field first, then the file, size-capped as it arrives."""
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    if request.content_length is not None and request.content_length > config.max_upload_bytes + FORM_OVERHEAD:
        return _too_large(request)
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        return message(request, "Upload refused", "Send the file with the upload form.", status=400)
    fields: dict[str, str] = {}
    temp: Path | None = None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                return message(request, "Upload refused", "Send the file with the upload form.", status=400)
            if "csrf" not in fields:  # the token is the form's first field: nothing is stored before it
                if part.name != "csrf" or not csrf_ok(session, await small_field(part)):
                    return forbidden(request)
                fields["csrf"] = "ok"
            elif part.name == "file":
                fields["filename"] = clean_name(part.filename)
                temp = config.uploads / f"{uuid.uuid4().hex}.part"
                if not await _store(part, temp, config.max_upload_bytes):
                    return _too_large(request)
            elif part.name in ("action", "email"):
                fields[part.name] = await small_field(part)
            else:
                await part.release()
        if temp is None:
            return message(request, "No file", "Choose a spreadsheet to upload.", status=400)
        upload = await asyncio.to_thread(_keep_upload, config, temp, fields["filename"], session.user or "")
        temp = None
    except UploadRefused as exc:
        return message(request, "Upload refused", str(exc), status=415)
    except InputError as exc:  # the content is not a spreadsheet the loader reads
        return message(request, "Upload refused", explain(exc), status=415)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    log.info("%s uploaded %s (%d bytes) as %s", session.user, upload.name, upload.size, upload.path.name)
    action = fields.get("action") if fields.get("action") in ACTIONS else "add"
    email = fields.get("email") if fields.get("email") in EMAIL_CHOICES else "yes"
    raise web.HTTPSeeOther(f"/uploads/{upload.id}?action={action}&email={email}")


async def _store(part: BodyPartReader, temp: Path, cap: int) -> bool:
    """Write the file part to ``temp``; False (and nothing kept) as soon as it passes ``cap`` bytes."""
    temp.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(temp, "wb") as fh:
        while chunk := await part.read_chunk(1 << 16):
            size += len(chunk)
            if size > cap:
                break
            fh.write(chunk)
    if size > cap:
        temp.unlink(missing_ok=True)
        return False
    return True


def _keep_upload(config: WebConfig, temp: Path, name: str, user: str) -> Upload:
    ext = upload_extension(temp)
    upload_id = temp.stem
    path = temp.with_name(f"{upload_id}.{ext}")
    os.replace(temp, path)
    upload = Upload(upload_id, path, name, path.stat().st_size, user,
                    dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    meta = {"name": name, "ext": ext, "size": upload.size, "user": user, "uploaded": upload.uploaded}
    (config.uploads / f"{upload_id}.json").write_text(json.dumps(meta), encoding="utf-8")
    return upload
