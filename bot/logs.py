"""Logging without personal data.

Code logs ids and statuses, never NIK/KK/names/numbers. As a second line of defence, every record
passes a filter that masks digit runs long enough to be a phone, NIK, KK or card number.
"""
from __future__ import annotations

import logging
import re

# 8+ digits in a run, a single separator (space, dot, dash, slash, underscore, comma, no-break space)
# allowed between two digits: phone numbers, NIK, KK and card numbers however people write them, glued
# to letters or URL-encoded too. A hex identifier (job ids) rarely holds 8 digits in a row; when it
# does, that part is masked: a log is less handy, never leaking.
_LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[ .\-/_,\u00a0]?\d){7,}(?!\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _mask(match: re.Match) -> str:
    text = match.group()
    if sum(c.isdigit() for c in text) < 8 or _ISO_DATE.fullmatch(text):
        return text
    return "[redacted]"


def redact(text: str) -> str:
    return _LONG_NUMBER.sub(_mask, text)


class RedactingFilter(logging.Filter):
    """Masks long digit runs in the message, and in the traceback and stack it carries (an exception's
    text may quote what a citizen sent)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure(level: str = "INFO") -> None:
    """Install the redacting filter on the root handlers (idempotent)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
