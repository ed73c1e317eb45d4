"""Messages the bot misunderstood, for admins to label (storage.nlu.NluReview), and the labelled ones
as training examples.

A conversation records a review when the bot did not understand a message, was unsure or asked
between two services, or the citizen corrected it right after (flows.learning decides when). The
text is stored with personal numbers (NIK, card, phone: any run of digits) masked; an admin labels
it with the right intent or marks it out of scope, each action a compare-and-set on ``status``.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select, update

from nlu.client import Parse
from nlu.intents import OUT_OF_SCOPE, intents
from storage.models import InboundMessage
from storage.nlu import NluReview, ReviewReason, ReviewStatus

TEXT_MAX = 1000  # what is kept of one message (a long story is still kept whole up to here)
MASK = "•"
# A personal number: 4 or more digits, also in groups or stuck to words ("3201 2345 0586 0003",
# "0812-3456-7890", "nik3201…", "081234567890nya").
_NUMBER = re.compile(r"\+?\d(?:[\d .\-]*\d)?")
_DIGIT = re.compile(r"\d")
# A name the citizen gives: the (at most three) words after "nama saya", "atas nama", "a.n.", "namaku".
_NAME = re.compile(r"(\b(?:nama\s+(?:saya|sy|aku|ku|ibu|bapak|bpk|anak|suami|istri)|namaku|atas\s+nama|a\.\s?n\.?)"
                   r"\s*:?\s+)((?:[^\s,.;:!?]+\s*){1,3})", re.IGNORECASE)


def mask(text: str) -> str:
    """Personal numbers with every digit masked (their shape kept: an admin still sees "a NIK was here")
    and the name after "nama saya", "atas nama"…; short numbers ("2 anak", "rp 50rb", "jam 10") are
    kept, they say what the message means."""
    def hide(match: re.Match) -> str:
        digits = sum(1 for ch in match.group() if ch.isdigit())
        return _DIGIT.sub(MASK, match.group()) if digits >= 4 else match.group()

    def hide_name(match: re.Match) -> str:
        return match.group(1) + re.sub(r"[^\s]", MASK, match.group(2).rstrip()) + " " * (match.group(2) != match.group(2).rstrip())
    return _NAME.sub(hide_name, _NUMBER.sub(hide, " ".join(text.split())))[:TEXT_MAX]


def for_training(text: str) -> str:
    """A masked text as a training example: masked digits become zeros (a 16-digit run still looks like a NIK)."""
    return text.replace(MASK, "0")


def text_of(session, message_id: int) -> str | None:
    """What the citizen wrote in a stored message (None once it is past its retention)."""
    return session.scalar(select(InboundMessage.body).where(InboundMessage.id == message_id))


def record(session, *, message_id: int, citizen_id: int | None, text: str, reason: str, parse: Parse | None,
           now: datetime) -> NluReview | None:
    """Keep one message for review (once: a stronger reason replaces a weaker one, a decided review stays;
    a message an admin already decided the same words of is not asked again)."""
    if not text.strip():
        return None
    review = session.scalar(select(NluReview).where(NluReview.message_id == message_id))
    if review is None and session.scalar(select(NluReview.id).where(
            NluReview.text == mask(text), NluReview.status.in_(ReviewStatus.DONE)).limit(1)) is not None:
        return None  # the same words were decided before (a training example, or noise): nothing new to learn
    if review is not None:
        if review.status == ReviewStatus.OPEN and \
                ReviewReason.ORDER.index(reason) < ReviewReason.ORDER.index(review.reason):
            review.reason = reason
        return review
    # What the bot thought: its two best intents (the fallback pseudo-intent left out).
    ranked = (parse.top() if parse is not None else []) + [(None, None), (None, None)]
    (first, first_conf), (second, second_conf) = ranked[0], ranked[1]
    review = NluReview(message_id=message_id, citizen_id=citizen_id, text=mask(text), reason=reason,
                       intent=first, confidence=_rounded(first_conf), runner_up=second,
                       runner_up_confidence=_rounded(second_conf), created_at=now)
    session.add(review)
    return review


def _rounded(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def decide(session, review_id: int, label: str | None, staff_id: int, now: datetime) -> bool:
    """Label an open review with an intent (``out_of_scope`` marks it out of scope; None dismisses it).
    False when it is no longer open (another admin decided it first) or the label is unknown."""
    if label is not None and label not in intents():
        return False
    status = (ReviewStatus.DISMISSED if label is None
              else ReviewStatus.OUT_OF_SCOPE if label == OUT_OF_SCOPE else ReviewStatus.LABELLED)
    return bool(session.execute(
        update(NluReview).where(NluReview.id == review_id, NluReview.status == ReviewStatus.OPEN)
        .values(status=status, label=label, labelled_by=staff_id, labelled_at=now)
    ).rowcount)


def reopen(session, review_id: int) -> bool:
    """Undo a decision: the review is open again (and no longer a training example)."""
    return bool(session.execute(
        update(NluReview).where(NluReview.id == review_id, NluReview.status.in_(ReviewStatus.DONE))
        .values(status=ReviewStatus.OPEN, label=None, labelled_by=None, labelled_at=None)
    ).rowcount)


def reviews(session, status: str = ReviewStatus.OPEN, reason: str | None = None, limit: int = 100) -> list[NluReview]:
    query = select(NluReview).where(NluReview.status == status)
    if reason:
        query = query.where(NluReview.reason == reason)
    return list(session.scalars(query.order_by(NluReview.id.desc()).limit(limit)))


def counts(session) -> dict[str, int]:
    """Reviews per status (for the page's tabs and the dashboard)."""
    rows = session.execute(select(NluReview.status, func.count()).group_by(NluReview.status)).all()
    return {status: 0 for status in (ReviewStatus.OPEN, *ReviewStatus.DONE)} | {s: n for s, n in rows}


def examples(session) -> list[tuple[str, str]]:
    """The labelled reviews as training examples (text, intent), oldest first."""
    rows = session.execute(select(NluReview.text, NluReview.label)
                           .where(NluReview.status.in_((ReviewStatus.LABELLED, ReviewStatus.OUT_OF_SCOPE)))
                           .order_by(NluReview.id)).all()
    return [(for_training(text), label) for text, label in rows if label]
