"""Settings read from the environment, with small typed parsers (one place, read once at start-up).

Secrets are never given an insecure default: a missing SECRET_KEY stops the app at start-up.
Without Twilio credentials the system runs in *local mode*: outbound messages go to a local outbox
(shown in the simulator) and the simulator signs its webhooks with a token derived from SECRET_KEY.
The simulator is off unless SIMULATOR_ENABLED is set, and may not be with Twilio credentials.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from storage.media import KEY_ID, MediaStore


# What one message may take besides its media: the NLU (3 s, twice at most) and the database.
MESSAGE_MARGIN = 15


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def parse_int(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"expected an integer, got {value!r}") from exc


def parse_float(value: str | None, default: float) -> float:
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"expected a number, got {value!r}") from exc


def parse_bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")


def parse_int_list(value: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if value is None or value.strip() == "":
        return default
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated integers, got {value!r}") from exc


@dataclass(frozen=True)
class Settings:
    secret_key: str
    database_url: str
    redis_url: str
    rasa_url: str
    public_base_url: str
    media_dir: str
    instance_path: str
    product_config: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_whatsapp_number: str
    twilio_api_base: str | None
    local_mode: bool
    simulator_enabled: bool
    # Outbound: Twilio REST call timeout, retry backoff between attempts (seconds).
    twilio_timeout: float = 10.0
    outbound_retry_intervals: tuple[int, ...] = (2, 10, 30, 120, 300)
    # Inbound processing. A message's media downloads together get at most ``message_deadline`` seconds
    # (each download at most ``media_timeout``); the citizen's lock outlives the worst case of one
    # message (media + NLU + database), and a job stops taking messages well before its own timeout.
    media_timeout: float = 20.0
    message_deadline: float = 45.0
    # Reading the NIK off KTP/KK photos (handlers.ocr): on, and at most this many seconds a photo
    # (the message's deadline still bounds it). Off: photos are checked as before and officers read them.
    ocr_enabled: bool = True
    ocr_timeout: float = 8.0
    ocr_background_timeout: float = 90.0  # a KK read in the background (bot.reading)
    citizen_lock_timeout: int = 120
    job_timeout: int = 300
    # A message whose handling fails this many times is set aside as ``failed`` (the citizen is told).
    max_attempts: int = 3
    # Sweeper: re-enqueue work older than this grace period, every interval seconds.
    sweep_grace: int = 30
    sweep_interval: int = 15
    # Requests larger than this are refused with 413 (Twilio's webhooks are a few KB).
    max_request_bytes: int = 256 * 1024
    # Hosts media may be fetched from besides Twilio's, TWILIO_API_BASE's and our own.
    media_allowed_hosts: tuple[str, ...] = ()
    # This deployment's approved WhatsApp templates (TWILIO_CONTENT_SID_<NAME>), over config.yml's.
    content_sids: dict = field(default_factory=dict)
    # The Rasa server's --auth-token (its API refuses requests without it); empty: none.
    rasa_token: str = ""
    # /metrics answers loopback clients (when no proxy stands in front), and others with this bearer token.
    metrics_token: str = ""
    # How many proxies in front set X-Forwarded-For (0: none; then REMOTE_ADDR is the client).
    trusted_proxies: int = 0
    # Console sessions end after this long without a page the person asked for.
    session_idle_minutes: int = 30
    # Session cookies only over HTTPS (on by default when PUBLIC_BASE_URL is https).
    cookie_secure: bool = False
    # Keys that encrypt stored documents (MEDIA_KEYS): (id, 32 bytes), the first one encrypts.
    media_keys: tuple = ()
    # Pacing of sends (bot.pacing), per sender: messages per second (all, and media on top), the whole
    # account's ceiling, and the share of a sender's rate bulk notifications may use (replies get the rest).
    outbound_text_per_second: float = 10.0
    outbound_media_per_second: float = 1.5
    outbound_account_per_second: float = 2000.0
    outbound_bulk_share: float = 0.8
    # Retraining the NLU from admins' labels (bot.nlu_training): the Rasa environment's `rasa`, the
    # pipeline, where models go (the NLU server must read the same path), the repository's model (what
    # runs when none is published; NLU_MODEL, as scripts/run trains it) and a deadline for one retraining.
    rasa_bin: str = ""
    nlu_train_config: str = ""
    nlu_models_dir: str = ""
    nlu_base_model: str = ""
    nlu_train_timeout: int = 900

    @property
    def outbound_max_attempts(self) -> int:
        return len(self.outbound_retry_intervals) + 1

    def media_store(self) -> MediaStore:
        """Citizens' documents, encrypted at rest with MEDIA_KEYS."""
        return MediaStore(self.media_dir, self.media_keys)


def parse_content_sids(env: Mapping[str, str]) -> dict[str, str]:
    prefix = "TWILIO_CONTENT_SID_"
    return {key[len(prefix):].lower(): value.strip() for key, value in env.items()
            if key.startswith(prefix) and value.strip()}


def parse_media_keys(value: str | None, secret_key: str, local_mode: bool) -> tuple[tuple[str, bytes], ...]:
    """``id:base64(32 bytes),…`` (the first one encrypts). In local mode a key derived from SECRET_KEY."""
    if not (value or "").strip():
        if not local_mode:
            raise ConfigError("MEDIA_KEYS is missing: documents are encrypted at rest. Make a key with "
                              "python -c \"import os,base64;print('k1:'+base64.b64encode(os.urandom(32)).decode())\"")
        return (("local", hmac.new(secret_key.encode(), b"pandawa-media", hashlib.sha256).digest()),)
    keys = []
    for part in value.split(","):
        key_id, _, encoded = part.strip().partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not KEY_ID.match(key_id) or len(key) != 32:
            raise ConfigError("MEDIA_KEYS must be id:base64key pairs, each key 32 bytes (e.g. k2:…,k1:…)")
        keys.append((key_id, key))
    return tuple(keys)


def _check_deadlines(settings: "Settings") -> None:
    worst_message = settings.message_deadline + MESSAGE_MARGIN  # media, then NLU calls and the database
    if settings.media_timeout > settings.message_deadline:
        raise ConfigError("MEDIA_TIMEOUT must not be longer than MESSAGE_DEADLINE")
    if settings.citizen_lock_timeout <= worst_message:
        raise ConfigError(f"CITIZEN_LOCK_TIMEOUT must be longer than MESSAGE_DEADLINE + {MESSAGE_MARGIN} s "
                          f"({worst_message:g} s): "
                          "a lock that expires mid-message lets a second worker in")
    if settings.job_timeout < 2 * worst_message:
        raise ConfigError(f"JOB_TIMEOUT must be at least twice MESSAGE_DEADLINE + {MESSAGE_MARGIN} s "
                          f"({2 * worst_message:g} s)")
    if settings.nlu_train_timeout < 60:
        raise ConfigError("NLU_TRAIN_TIMEOUT must be at least 60 seconds (training alone takes about 20)")
    if settings.max_attempts < 1:
        raise ConfigError("MAX_ATTEMPTS must be at least 1")


def _check_pacing(settings: "Settings") -> None:
    for name, value in (("OUTBOUND_TEXT_PER_SECOND", settings.outbound_text_per_second),
                        ("OUTBOUND_MEDIA_PER_SECOND", settings.outbound_media_per_second),
                        ("OUTBOUND_ACCOUNT_PER_SECOND", settings.outbound_account_per_second)):
        if not value > 0 or value == float("inf"):
            raise ConfigError(f"{name} must be a positive number of messages per second, got {value!r}")
    if not 0 < settings.outbound_bulk_share <= 1:
        raise ConfigError(f"OUTBOUND_BULK_SHARE must be in (0, 1] (the share of a sender's rate bulk "
                          f"notifications may use), got {settings.outbound_bulk_share!r}")


def _local_twilio_credentials(secret_key: str) -> tuple[str, str]:
    """Stable fake credentials for local mode, derived from SECRET_KEY (never a shared constant)."""
    digest = hmac.new(secret_key.encode(), b"pandawa-local-twilio", hashlib.sha256).hexdigest()
    return "AC" + digest[:32], digest[32:64]


def load_settings(environ: Mapping[str, str] | None = None, instance_path: str | None = None) -> Settings:
    env = os.environ if environ is None else environ
    root = Path(__file__).resolve().parent.parent
    instance = Path(instance_path or env.get("INSTANCE_PATH") or root / "instance")

    secret_key = env.get("SECRET_KEY", "")
    if len(secret_key) < 16:
        raise ConfigError(
            "SECRET_KEY is missing or shorter than 16 characters; set it in the environment "
            "(scripts/run creates one in instance/secret_key for local use)"
        )

    sid = env.get("TWILIO_ACCOUNT_SID", "").strip()
    token = env.get("TWILIO_AUTH_TOKEN", "").strip()
    if bool(sid) != bool(token):
        raise ConfigError("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither (local mode)")
    local_mode = not sid
    if local_mode:
        sid, token = _local_twilio_credentials(secret_key)

    port = env.get("PORT", "5000")
    settings = Settings(
        secret_key=secret_key,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{instance / 'pandawa.sqlite3'}",
        redis_url=env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        rasa_url=(env.get("RASA_URL") or f"http://127.0.0.1:{env.get('NLU_PORT', '5005')}").rstrip("/"),
        public_base_url=(env.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
        media_dir=env.get("MEDIA_DIR") or str(instance / "media"),
        instance_path=str(instance),
        product_config=env.get("PANDAWA_CONFIG") or str(root / "config.yml"),
        twilio_account_sid=sid,
        twilio_auth_token=token,
        twilio_whatsapp_number=env.get("TWILIO_WHATSAPP_NUMBER") or "whatsapp:+14155238886",
        twilio_api_base=(env.get("TWILIO_API_BASE") or "").rstrip("/") or None,
        local_mode=local_mode,
        simulator_enabled=parse_bool(env.get("SIMULATOR_ENABLED"), False),
        twilio_timeout=parse_float(env.get("TWILIO_TIMEOUT"), 10.0),
        outbound_retry_intervals=parse_int_list(env.get("OUTBOUND_RETRY_INTERVALS"), (2, 10, 30, 120, 300)),
        media_timeout=parse_float(env.get("MEDIA_TIMEOUT"), 20.0),
        message_deadline=parse_float(env.get("MESSAGE_DEADLINE"), 45.0),
        ocr_enabled=parse_bool(env.get("OCR_ENABLED"), True),
        ocr_timeout=parse_float(env.get("OCR_TIMEOUT"), 8.0),
        ocr_background_timeout=parse_float(env.get("OCR_BACKGROUND_TIMEOUT"), 90.0),
        citizen_lock_timeout=parse_int(env.get("CITIZEN_LOCK_TIMEOUT"), 120),
        job_timeout=parse_int(env.get("JOB_TIMEOUT"), 300),
        max_attempts=parse_int(env.get("MAX_ATTEMPTS"), 3),
        sweep_grace=parse_int(env.get("SWEEP_GRACE"), 30),
        sweep_interval=parse_int(env.get("SWEEP_INTERVAL"), 15),
        max_request_bytes=parse_int(env.get("MAX_REQUEST_BYTES"), 256 * 1024),
        media_allowed_hosts=tuple(h.strip() for h in (env.get("MEDIA_ALLOWED_HOSTS") or "").split(",") if h.strip()),
        content_sids=parse_content_sids(env),
        session_idle_minutes=parse_int(env.get("SESSION_IDLE_MINUTES"), 30),
        rasa_token=(env.get("RASA_TOKEN") or "").strip(),
        media_keys=parse_media_keys(env.get("MEDIA_KEYS"), secret_key, local_mode),
        metrics_token=(env.get("METRICS_TOKEN") or "").strip(),
        trusted_proxies=parse_int(env.get("TRUSTED_PROXIES"), 0),
        cookie_secure=parse_bool(env.get("SESSION_COOKIE_SECURE"),
                                 (env.get("PUBLIC_BASE_URL") or "").startswith("https://")),
        outbound_text_per_second=parse_float(env.get("OUTBOUND_TEXT_PER_SECOND"), 10.0),
        outbound_media_per_second=parse_float(env.get("OUTBOUND_MEDIA_PER_SECOND"), 1.5),
        outbound_account_per_second=parse_float(env.get("OUTBOUND_ACCOUNT_PER_SECOND"), 2000.0),
        outbound_bulk_share=parse_float(env.get("OUTBOUND_BULK_SHARE"), 0.8),
        rasa_bin=env.get("RASA_BIN") or str(root / ".venv-rasa" / "bin" / "rasa"),
        nlu_train_config=env.get("NLU_TRAIN_CONFIG") or str(root / "nlu" / "config.yml"),
        nlu_models_dir=env.get("NLU_MODELS_DIR") or str(instance / "nlu-models"),
        nlu_base_model=(env.get("NLU_MODEL") or "").strip(),
        nlu_train_timeout=parse_int(env.get("NLU_TRAIN_TIMEOUT"), 900),
    )
    _check_deadlines(settings)
    _check_pacing(settings)
    if settings.simulator_enabled and not local_mode:
        raise ConfigError("SIMULATOR_ENABLED is for development without Twilio credentials: unset it "
                          "(admins preview drafts from the console without it)")
    return settings
