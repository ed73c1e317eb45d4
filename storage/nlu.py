"""What the bot learns from: messages it misunderstood, put in front of admins to label, and the NLU
models trained from those labels.

A review (one per citizen message)::

    open ──(an admin labels the right intent)──> labelled      (a training example from the next model on)
      │  └─(an admin marks it out of scope)────> out_of_scope  (also a training example: intent out_of_scope)
      └──(an admin dismisses it: noise, not a request)──> dismissed
    labelled / out_of_scope / dismissed ──(undo)──> open

A model (one per retraining)::

    queued ──> training ──> evaluating ──> ready ──(an admin publishes)──> published ──(another is published)──> retired
       │           │             │            └─(worse than the published one on an evaluation set)─> worse
       └───────────┴─────────────┴──(the job failed or ran out of time)──> failed
    published ──(rollback)──> retired, and the model it replaced (``replaced_id``) published again

At most one model is ``published`` (a unique partial index) and at most one is queued, training or
evaluating. None published: the NLU server runs the model built from the repository (NLU_MODEL). A
model is published only when it is ``ready`` against the model published now (its ``baseline``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow


class ReviewReason:
    NOT_UNDERSTOOD = "not_understood"  # the bot answered with the menu: nothing was recognised
    AMBIGUOUS = "ambiguous"            # two services were close: the bot asked which one
    UNSURE = "unsure"                  # a service was recognised with low confidence: the bot asked to confirm
    CORRECTED = "corrected"            # the citizen said "bukan", cancelled or asked for an officer right after
    ORDER = (CORRECTED, NOT_UNDERSTOOD, AMBIGUOUS, UNSURE)  # a stronger reason replaces a weaker one


class ReviewStatus:
    OPEN = "open"                  # waiting for an admin
    LABELLED = "labelled"          # an admin chose the right intent: a training example
    OUT_OF_SCOPE = "out_of_scope"  # not something this service does: a training example for out_of_scope
    DISMISSED = "dismissed"        # noise (a sticker's caption, a half sentence): not used
    DONE = (LABELLED, OUT_OF_SCOPE, DISMISSED)


class ModelStatus:
    QUEUED = "queued"          # asked for; waiting for a worker
    TRAINING = "training"      # `rasa train nlu` is running
    EVALUATING = "evaluating"  # scored with the published model on both evaluation sets
    READY = "ready"            # not worse than the published model: may be published
    WORSE = "worse"            # worse on an evaluation set: kept for the record, cannot be published
    FAILED = "failed"          # training or evaluation failed or ran out of time (``error`` says why)
    PUBLISHED = "published"    # the NLU servers run it
    RETIRED = "retired"        # was published; rollback may publish it again
    RUNNING = (QUEUED, TRAINING, EVALUATING)


class NluReview(Base):
    __tablename__ = "nlu_reviews"
    __table_args__ = (Index("ix_nlu_reviews_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(Integer, unique=True)  # the inbound message (not a key: it expires)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)               # what the citizen wrote, personal numbers masked
    reason: Mapped[str] = mapped_column(String(20))       # ReviewReason
    intent: Mapped[str | None] = mapped_column(String(40))  # what the bot thought
    confidence: Mapped[float | None] = mapped_column(Float)
    runner_up: Mapped[str | None] = mapped_column(String(40))
    runner_up_confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.OPEN)
    label: Mapped[str | None] = mapped_column(String(40))  # the right intent (labelled / out_of_scope)
    labelled_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    labelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NluModel(Base):
    __tablename__ = "nlu_models"
    __table_args__ = (
        Index("uq_nlu_models_published", "status", unique=True,
              postgresql_where=text("status = 'published'"), sqlite_where=text("status = 'published'")),
        Index("uq_nlu_models_running", "running", unique=True,
              postgresql_where=text("running"), sqlite_where=text("running")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=ModelStatus.QUEUED, index=True)
    # True while queued/training/evaluating: a unique partial index lets only one retraining run at a time.
    running: Mapped[bool] = mapped_column(default=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent, for the progress bar
    stage: Mapped[str | None] = mapped_column(String(40))       # what it is doing, in the console's words
    examples: Mapped[int] = mapped_column(Integer, default=0)   # labelled examples added to the repository's data
    data_digest: Mapped[str | None] = mapped_column(String(16))  # the training data version
    path: Mapped[str | None] = mapped_column(String(500))        # the .tar.gz, readable by the NLU servers
    baseline: Mapped[str | None] = mapped_column(String(500))    # the model it was compared with
    scores: Mapped[dict[str, Any] | None]     # {"after": {set: {accuracy, macro_f1, …}}, "before": {…}}
    train_seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(40))  # why it failed: a code (handlers.labels.MODEL_ERRORS)
    # The model published before this one (None: the repository's): where a rollback goes.
    replaced_id: Mapped[int | None] = mapped_column(ForeignKey("nlu_models.id"))
    # The NLU server refused or could not find it: how often, and why (a code); given up after a few.
    load_failures: Mapped[int] = mapped_column(Integer, default=0)
    load_error: Mapped[str | None] = mapped_column(String(40))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
