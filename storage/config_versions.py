"""Versions of what admins edit: one flow definition, the bot texts, the product settings.

A kind (``flow:change_nik``, ``texts``, ``settings``) has numbered versions::

    draft ──(publish: validated)──> published ──(a newer one is published)──> superseded
                                         ^
    any old version ──(rollback: copied as a new published version)──┘

Files in the repository (flows/definitions/*.yml, config.yml) are the versions before any edit.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow


class VersionStatus:
    DRAFT = "draft"            # being edited; used only by previews
    PUBLISHED = "published"    # live: new conversations use it
    SUPERSEDED = "superseded"  # was live; conversations started on it may still finish on it


class ConfigVersion(Base):
    __tablename__ = "config_versions"
    __table_args__ = (UniqueConstraint("kind", "number", name="uq_config_versions_kind_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(12), index=True)  # a flow run remembers this
    status: Mapped[str] = mapped_column(String(16), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
