"""Local WhatsApp simulator: a person types as a citizen; the message goes through the same signed
webhook, queue and worker as Twilio's. Attachments are served to the worker like Twilio media,
behind basic auth with the (local) account SID and auth token.

Enabled in local mode (no Twilio credentials) or with SIMULATOR_ENABLED=1: anyone who can open it
can write as any number, so it is never on by default in production.
"""
from __future__ import annotations

import hmac
import mimetypes
import os
import secrets
from pathlib import Path

import requests
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request, send_file
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from handlers import phones
from storage import db
from storage.models import Citizen, InboundMessage, OutboundMessage

bp = Blueprint("simulator", __name__, url_prefix="/simulator")
MEDIA_TOKEN_BYTES = 24


def _media_dir() -> Path:
    path = Path(current_app.instance_path) / "simulator-media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def twilio_form(phone: str, body: str, name: str, media: list[tuple[str, str]]) -> dict[str, str]:
    """The fields Twilio posts for an inbound WhatsApp message."""
    s = current_app.config["SETTINGS"]
    sid = ("MM" if media else "SM") + secrets.token_hex(16)
    form = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": s.twilio_account_sid,
        "From": phones.e164_to_whatsapp(phone), "To": s.twilio_whatsapp_number, "Body": body,
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


@bp.get("/")
def page():
    return render_template("simulator.html", menu=current_app.config["PRODUCT"].menu)


@bp.post("/send")
def send():
    try:
        phone = phones.to_e164(request.form.get("phone", ""))
    except phones.InvalidNumber:
        return jsonify(error="Nomor HP tidak valid (contoh: 081234567890)."), 400
    body = request.form.get("body", "")
    media = []
    upload = request.files.get("file")
    if upload and upload.filename:
        token = secrets.token_urlsafe(MEDIA_TOKEN_BYTES)
        content_type = upload.mimetype or mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        upload.save(_media_dir() / token)
        (_media_dir() / f"{token}.type").write_text(content_type)
        media.append((f"{current_app.config['SETTINGS'].public_base_url}/simulator/media/{token}", content_type))
    if not body.strip() and not media:
        return jsonify(error="Tulis pesan atau lampirkan foto."), 400
    form = twilio_form(phone, body, request.form.get("name", ""), media)
    if request.form.get("preview") == "1":  # "Pratinjau draf": the worker answers with the admins' drafts
        form["PandawaPreview"] = "1"
    response = post_signed("/whatsapp/inbound", form)
    if response.status_code != 200:
        return jsonify(error=f"webhook answered {response.status_code}: {response.text.strip()}"), 502
    return jsonify(ok=True, phone=phone)


@bp.get("/messages")
def messages():
    try:
        phone = phones.to_e164(request.args.get("phone", ""))
    except phones.InvalidNumber:
        return jsonify(error="invalid phone"), 400
    session = db.session()
    citizen = session.scalar(select(Citizen).where(Citizen.phone == phone))
    if citizen is None:
        return jsonify(messages=[])
    items = [
        {"direction": "in", "id": m.id, "body": m.body, "at": m.received_at.isoformat(), "status": m.status,
         "media": len(m.media)}
        for m in session.scalars(select(InboundMessage).where(InboundMessage.citizen_id == citizen.id))
    ] + [
        {"direction": "out", "id": m.id, "body": m.body, "at": m.created_at.isoformat(), "status": m.status, "media": 0}
        for m in session.scalars(select(OutboundMessage).where(OutboundMessage.citizen_id == citizen.id))
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
    content_type = (_media_dir() / f"{token}.type").read_text()
    return send_file(os.fspath(path), mimetype=content_type)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
