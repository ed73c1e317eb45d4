"""The WhatsApp simulator: a staff member writes as a made-up citizen; the message goes through the same
signed webhook, queue and worker as Twilio's. Attachments are served to the worker like Twilio media,
behind basic auth with the account SID and auth token.

A developer tool, never a door:
- it needs a staff login: with ``SIMULATOR_ENABLED`` (development) any staff member may use it,
  otherwise only admins, to try drafts before publishing ("Pratinjau draf");
- it only ever writes as numbers it made up itself, in a reserved range (handlers.phones.SIMULATOR_PREFIX,
  unassigned in Indonesia's numbering plan), one or more per login session: it cannot pose as a
  citizen nor read anyone else's conversation. The page remembers its number across reloads and
  logins (the browser's localStorage); a remembered number is taken back only with its key, an HMAC of
  the number and the staff member's id, so it stays the number of whoever made it up;
- replies answered in "Pratinjau draf" mode are marked (``draft``), and a test conversation can be
  started again from the beginning (its state forgotten by flows.conversation);
- replies to those numbers are never handed to Twilio (bot.outbound keeps them in the local outbox);
- ``SIMULATOR_ENABLED`` with Twilio credentials stops the start-up (bot.settings).
"""
from __future__ import annotations

import hmac
import json
import mimetypes
import secrets
import time
from pathlib import Path

import requests
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request, session
from flask_login import current_user
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.jobs import PREVIEW_FALLBACK, PREVIEW_PARAM  # the webhook keeps them in the message's params
from flows import conversation
from handlers import branches, phones
from storage import db
from storage.models import Citizen, InboundMessage, OutboundMessage
from storage.staff import Role

bp = Blueprint("simulator", __name__, url_prefix="/simulator")
MEDIA_TOKEN_BYTES = 24
SESSION_KEY = "simulator_numbers"
RESETS_KEY = "simulator_resets"  # number -> [last inbound id, last outbound id] when it was started again
MAX_NUMBERS = 20


def _media_dir() -> Path:
    path = Path(current_app.instance_path) / "simulator-media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def office_numbers() -> list[tuple[str, str]]:
    """The numbers a simulated citizen may write to: (number, whose) — the default sender, then every
    branch's numbers (the shared number's branch first)."""
    default = current_app.config["SETTINGS"].twilio_whatsapp_number
    numbers = [(default, "nomor utama")]
    for branch in branches.all_branches(db.session()):
        numbers += [(n.number, branch.name) for n in branch.numbers if n.number != default]
    return numbers


def twilio_form(phone: str, body: str, name: str, media: list[tuple[str, str]], to: str | None = None) -> dict[str, str]:
    """The fields Twilio posts for an inbound WhatsApp message."""
    s = current_app.config["SETTINGS"]
    sid = ("MM" if media else "SM") + secrets.token_hex(16)
    form = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": s.twilio_account_sid,
        "From": phones.e164_to_whatsapp(phone), "To": to or s.twilio_whatsapp_number, "Body": body,
        "NumMedia": str(len(media)), "NumSegments": "1", "ProfileName": name, "WaId": phone.lstrip("+"),
        "SmsStatus": "received", "ApiVersion": "2010-04-01", "MessageType": "image" if media else "text",
        "ReferralNumMedia": "0",
    }
    for i, (url, content_type) in enumerate(media):
        form[f"MediaUrl{i}"], form[f"MediaContentType{i}"] = url, content_type
    return form


def post_signed(path: str, form: dict[str, str]) -> requests.Response:
    s = current_app.config["SETTINGS"]
    url = s.public_base_url + path
    signature = RequestValidator(s.twilio_auth_token).compute_signature(url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


@bp.before_request
def _staff_only():
    """Everything but the media the worker fetches (basic auth) needs a staff login; without
    SIMULATOR_ENABLED only admins may use it (to preview drafts)."""
    if request.endpoint == "simulator.media":
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not current_app.config["SETTINGS"].simulator_enabled and not current_user.at_least(Role.ADMIN):
        abort(403)
    return None


def _numbers() -> list[str]:
    return list(session.get(SESSION_KEY) or [])


def _remember(number: str) -> str:
    session[SESSION_KEY] = ([n for n in _numbers() if n != number] + [number])[-MAX_NUMBERS:]
    return number


def _new_number() -> str:
    return _remember(phones.simulator_number())


def number_key(number: str, staff_id: int) -> str:
    """What the page keeps with a number to take it back later: only this staff member can."""
    message = f"simulator-number:{staff_id}:{number}".encode()
    return hmac.new(current_app.secret_key.encode(), message, "sha256").hexdigest()


def _numbered(number: str) -> dict[str, str]:
    return {"phone": number, "key": number_key(number, current_user.id)}


def _mine(phone: str) -> str:
    """One of this session's own made-up numbers, or 403: the simulator never talks as anyone else."""
    if phone not in _numbers():
        abort(403)
    return phone


@bp.get("/")
def page():
    numbers = [_numbered(number) for number in _numbers() or [_new_number()]]
    return render_template("simulator.html", menu=current_app.config["PRODUCT"].menu, numbers=numbers,
                           offices=office_numbers(), preview_only=not current_app.config["SETTINGS"].simulator_enabled)


@bp.post("/numbers")
def new_number():
    """Another made-up citizen; or, with ``phone`` and ``key``, one this staff member made up before
    (the page remembers it across reloads and logins). Any other number is refused (403)."""
    phone, key = request.form.get("phone"), request.form.get("key", "")
    if phone is None:
        return jsonify(_numbered(_new_number()))
    if not (phones.is_simulated(phone)
            and hmac.compare_digest(key.encode(), number_key(phone, current_user.id).encode())):
        abort(403)
    return jsonify(_numbered(_remember(phone)))


@bp.post("/reset")
def reset():
    """Start this made-up citizen's conversation again: its state is forgotten (the next message is a
    first contact), and the page shows only what comes after."""
    phone = _mine(request.form.get("phone", ""))
    session_ = db.session()
    citizen = session_.scalar(select(Citizen).where(Citizen.phone == phone))
    if citizen is not None:
        conversation.retrying(session_, lambda: conversation.reset(session_, citizen.id))
        last_in = session_.scalar(select(func.max(InboundMessage.id)).where(InboundMessage.citizen_id == citizen.id))
        last_out = session_.scalar(select(func.max(OutboundMessage.id)).where(OutboundMessage.citizen_id == citizen.id))
        resets = {n: ids for n, ids in (session.get(RESETS_KEY) or {}).items() if n in _numbers()}
        session[RESETS_KEY] = {**resets, phone: [last_in or 0, last_out or 0]}
    return jsonify(ok=True, phone=phone)


@bp.post("/send")
def send():
    phone = _mine(request.form.get("phone", ""))
    body = request.form.get("body", "")
    media = []
    upload = request.files.get("file")
    if upload and upload.filename:
        # Encrypted like every document (an admin may preview with a real KTP photo); the token file
        # only says which stored content it serves. The daily purge removes both after a day.
        token = secrets.token_urlsafe(MEDIA_TOKEN_BYTES)
        content_type = upload.mimetype or mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        digest, _ = current_app.config["SETTINGS"].media_store().save(upload.read())
        (_media_dir() / token).write_text(json.dumps({"sha256": digest, "content_type": content_type}))
        media.append((f"{current_app.config['SETTINGS'].public_base_url}/simulator/media/{token}", content_type))
    if not body.strip() and not media:
        return jsonify(error="Tulis pesan atau lampirkan foto."), 400
    to = request.form.get("to") or None
    if to is not None and to not in dict(office_numbers()):
        return jsonify(error="Nomor kantor itu tidak dikenal."), 400
    form = twilio_form(phone, body, request.form.get("name", ""), media, to)
    preview = request.form.get("preview") == "1" or not current_app.config["SETTINGS"].simulator_enabled
    if preview:  # "Pratinjau draf": the worker answers with the admins' drafts
        form[PREVIEW_PARAM] = "1"
    try:
        response = post_signed("/whatsapp/inbound", form)
    except requests.RequestException as exc:
        return jsonify(error=f"webhook unreachable at PUBLIC_BASE_URL ({type(exc).__name__})"), 502
    if response.status_code != 200:
        return jsonify(error=f"webhook answered {response.status_code}: {response.text.strip()}"), 502
    return jsonify(ok=True, phone=phone)


@bp.get("/messages")
def messages():
    phone = _mine(request.args.get("phone", ""))
    session_ = db.session()
    citizen = session_.scalar(select(Citizen).where(Citizen.phone == phone))
    if citizen is None:
        return jsonify(messages=[])
    after_in, after_out = (session.get(RESETS_KEY) or {}).get(phone, [0, 0])  # started again: what came after
    inbound = session_.scalars(select(InboundMessage).where(InboundMessage.citizen_id == citizen.id)).all()
    previewed = {m.id for m in inbound if (m.params or {}).get(PREVIEW_PARAM) == "1"}
    answered_by_drafts = {m.id for m in inbound if m.id in previewed and not (m.params or {}).get(PREVIEW_FALLBACK)}
    items = [
        {"direction": "in", "id": m.id, "body": m.body, "at": m.received_at.isoformat(), "status": m.status,
         "media": len(m.media), "draft": m.id in previewed}
        for m in inbound if m.id > after_in
    ] + [
        # a reply to a message sent in "Pratinjau draf" mode was answered with the drafts
        {"direction": "out", "id": m.id, "body": m.body, "at": m.created_at.isoformat(), "status": m.status, "media": 0,
         "draft": m.in_reply_to_id in answered_by_drafts}
        for m in session_.scalars(select(OutboundMessage).where(OutboundMessage.citizen_id == citizen.id,
                                                                OutboundMessage.id > after_out))
    ]
    items.sort(key=lambda item: (item["at"], item["direction"] == "out"))
    return jsonify(messages=items)


@bp.get("/media/<token>")
def media(token: str):
    s = current_app.config["SETTINGS"]
    auth = request.authorization
    if not (auth and hmac.compare_digest(auth.username or "", s.twilio_account_sid)
            and hmac.compare_digest(auth.password or "", s.twilio_auth_token)):
        return Response("authentication required\n", 401, {"WWW-Authenticate": 'Basic realm="media"'})
    if not token.replace("-", "").replace("_", "").isalnum():
        abort(404)
    path = _media_dir() / token
    if not path.is_file():
        abort(404)
    entry = json.loads(path.read_text())
    try:
        content = s.media_store().read(entry["sha256"])
    except (FileNotFoundError, ValueError):
        abort(404)
    return Response(content, mimetype=entry["content_type"], headers={"Cache-Control": "no-store"})


def purge_uploads(app: Flask, older_than_seconds: float = 86400) -> list[str]:
    """Remove the simulator's upload tokens older than a day; returns the content hashes they served."""
    folder, hashes = Path(app.instance_path) / "simulator-media", []
    if not folder.is_dir():
        return hashes
    limit = time.time() - older_than_seconds
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            try:
                hashes.append(json.loads(path.read_text())["sha256"])
            except (ValueError, KeyError):
                pass  # an older format: the file itself goes
            path.unlink()
    return hashes


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
