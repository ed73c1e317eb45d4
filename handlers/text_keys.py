"""Which texts the bot needs (config.yml ``texts``) and which {placeholders} each may use: one list, read
by the product's checks, the admins' texts editor and the flows' validation.
"""
from __future__ import annotations

from handlers.inputs import ERROR_CODES

# Small-talk actions a keyword (or the NLU) may pick besides a service.
SMALL_TALK = ("greet", "thanks", "help", "menu", "human_agent", "cancel", "affirm", "deny", "erase_data")
# What a photo can be refused for (handlers.media's problems): each needs a ``photo_<problem>`` text.
PHOTO_PROBLEMS = ("not_a_photo", "not_a_document", "pdf_not_wanted", "unsupported_type", "too_large", "unreadable",
                  "too_small", "too_blurry", "not_found", "host_not_allowed", "download_failed", "duplicate")

# What a message that is not text can be (flows.router.media_kind): each needs a ``media_<kind>`` text.
MEDIA_KINDS = ("voice", "video", "sticker", "location", "contact", "document", "photo", "other")

REQUIRED_TEXTS = (
    "greeting", "menu_intro", "menu_footer", "body_too_long", "nlu_unavailable",
    "fallback", "nothing_pending", "ambiguous", "data_change_offer", "service_selected", "thanks", "cancelled", "not_cancelled",
    "which_to_change", "edit_field", "text_optional_hint", "thanks_in_flow", "greet_in_flow", "out_of_scope_in_flow",
    "kept_for_later",
    "switch_offer", "officer_soon", "officer_later", "officer_waiting", "officer_request_withdrawn",
    "officer_request_kept", "photo_before_service", *(f"media_{kind}" for kind in MEDIA_KINDS),
    "cancel_confirm", "confirm_hint", "photo_optional_hint", "too_many_failures", "help_in_flow", "handoff_started",
    "extra_photos_ignored", "photo_duplicate", "resume_offer", "resumed", "promise_open",
    "promise_closed", "promise_due", "promise_late", "reminder", "decision_approved", "decision_rejected",
    "decision_need_info", "decision_approved_complaint", "decision_rejected_complaint", "decision_approved_erasure",
    "need_info_received", "handback", "survey_question", "survey_comment", "survey_thanks", "message_failed",
    "flow_changed", "use_sender_number", "error_choice", "error_confirm", "error_photo_expected",
    "erasure_requested",
    "case_update_approved", "case_update_approved_complaint", "case_update_rejected", "case_update_rejected_complaint",
    "case_update_need_info", "case_update_message", "case_update_handback",
    *(f"photo_{problem}" for problem in PHOTO_PROBLEMS),
    *sorted({f"error_{code}" for codes in ERROR_CODES.values() for code in codes}),
)

# The placeholders the bot fills in each text; every other text is sent as written.
TEXT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "greeting": frozenset({"name"}),
    "edit_field": frozenset({"field"}),
    "kept_for_later": frozenset({"title"}),
    "switch_offer": frozenset({"title", "current"}),
    "handoff_started": frozenset({"promise"}),
    "officer_later": frozenset({"day", "time", "zone"}),
    "officer_waiting": frozenset({"promise"}),
    "officer_request_kept": frozenset({"promise"}),
    "service_selected": frozenset({"title"}),
    "cancel_confirm": frozenset({"title"}),
    "resume_offer": frozenset({"title"}),
    "reminder": frozenset({"title"}),
    "flow_changed": frozenset({"title"}),
    "use_sender_number": frozenset({"masked"}),
    "promise_open": frozenset({"hours"}),
    "promise_closed": frozenset({"day", "time", "zone"}),
    "promise_due": frozenset({"due"}),
    "decision_approved": frozenset({"title", "ticket", "note"}),
    "decision_rejected": frozenset({"title", "ticket", "note", "reason"}),
    "decision_need_info": frozenset({"title", "ticket", "note"}),
    "need_info_received": frozenset({"ticket"}),
    "survey_question": frozenset({"ticket"}),
    "erasure_requested": frozenset({"ticket"}),
}
# Texts a service may have its own words for: ``<text>_<service>`` (decision_approved_complaint) is used for
# that service's cases instead of ``<text>``, with the same placeholders (``handlers.texts.service_key``).
PER_SERVICE_TEXTS = ("decision_approved", "decision_rejected", "decision_need_info",
                     "case_update_approved", "case_update_rejected", "case_update_need_info")
# ``case_update_<status>``: the {status} word of the case_update WhatsApp template (one line, no placeholders).
TEMPLATE_WORDS = "case_update_"


def text_placeholders(key: str) -> frozenset[str]:
    if key in TEXT_PLACEHOLDERS:
        return TEXT_PLACEHOLDERS[key]
    base = next((base for base in PER_SERVICE_TEXTS if key.startswith(base + "_")), key)
    return TEXT_PLACEHOLDERS.get(base, frozenset())


def known_text(key: str) -> bool:
    """A text the bot reads: a required one, or a service's own words for one (``decision_approved_complaint``)."""
    return key in REQUIRED_TEXTS or any(key.startswith(base + "_") for base in PER_SERVICE_TEXTS)


def media_text(kind: str | None) -> str:
    """The text naming what a message that is not text was: ``media_<kind>``, else ``media_other``."""
    return f"media_{kind}" if kind in MEDIA_KINDS else "media_other"
