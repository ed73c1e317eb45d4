"""The supervisors' dashboard (supervisor and admin): case volume, open cases by age, SLA, IKM satisfaction
index, top complaint categories (server-rendered SVG, works without JavaScript), and a CSV export of the
period's cases without personal data.

Every figure counts only what the viewer sees (handlers.visibility): the cases of their branches, the
messages of their branches' numbers; ``?branch=CODE`` narrows it to one of those branches (404 for any
other code), and a viewer of several branches gets their comparison, each row a link to its own view."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, render_template, request

from bot import live, metrics
from bot.console import bp, branch_stats, charts, stats
from bot.console.queue import age_words
from bot.console.auth import me, role_required
from handlers import visibility
from handlers.worktime import MONTHS_SHORT_ID
from storage import db
from storage.branches import Branch
from storage.models import utcnow

DEFAULT_DAYS, MAX_DAYS = 14, 90
PERIODS = (7, 14, 30, 90)
COMPLAINT_FLOW, COMPLAINT_CATEGORY = "complaint", "category"
DAY_NAMES = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")
CSV_COLUMNS = ("ticket", "service", "status", "created_at", "decided_at", "sla_due_at", "sla_met",
               "hours_to_decision", "rating", "branch")


def period_days() -> int:
    """``?days=`` clamped to 1..90 (14 when missing or not a number)."""
    try:
        days = int(request.args.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return min(max(days, 1), MAX_DAYS)


def office_tz() -> ZoneInfo:
    return current_app.config["PRODUCT"].timezone


def complaint_titles() -> dict[str, str]:
    """Option value -> title of the published complaint flow's ``category`` step."""
    flow = live.flows(current_app._get_current_object()).get(COMPLAINT_FLOW)
    step = flow.steps.get(COMPLAINT_CATEGORY) if flow else None
    options = (step.get("options") if step else None) or []
    return {str(o["value"]): str(o["title"]) for o in options if "value" in o}


def service_titles() -> dict[str, str]:
    return {item.id: item.title for item in current_app.config["PRODUCT"].menu}


def id_number(value, places: int = 1) -> str:
    """Indonesian number format: decimal comma (81,2)."""
    return f"{value:.{places}f}".replace(".", ",")


def send_backlog(owners: visibility.NumberOwners, branch_ids) -> list[dict]:
    """Messages waiting to go out, per sender of the branches in view (our WhatsApp number, shown without
    the channel prefix)."""
    rows = metrics.outbound_backlog(db.session(), owners.default_sender)
    return [{"number": row["sender"].removeprefix("whatsapp:"), "waiting": row["waiting"],
             "oldest": age_words(row["oldest_seconds"]) if row["waiting"] else "–"}
            for row in branch_stats.backlog_in_scope(rows, owners, branch_ids)]


class View:
    """Who looks and at what: the branches they may see, the one chosen with ``?branch=`` (None: all of
    them) and the branch ids every figure counts."""

    def __init__(self, session):
        staff = me()
        self.scope = visibility.scope(session, staff)
        self.national = self.scope is visibility.EVERY
        self.branches = visibility.branches_in_scope(session, staff)
        try:
            self.chosen: Branch | None = visibility.chosen(session, self.scope, request.args.get("branch"))
        except visibility.NotInScope:
            abort(404)
        self.branch_ids = frozenset({self.chosen.id}) if self.chosen else self.scope

    @property
    def code(self) -> str | None:
        return self.chosen.code if self.chosen else None


def service_order(services, titles: dict[str, str]) -> list[str]:
    """The menu's order, then any service no longer in the menu."""
    return [s for s in titles if s in services] + sorted(set(services) - set(titles))


def _charts(data: dict, titles: dict[str, str], order: list[str]) -> dict:
    volume, days = data["volume"], data["days"]
    categories = [(DAY_NAMES[d.weekday()], f"{d.day} {MONTHS_SHORT_ID[d.month - 1]}") for d in volume["days"]]
    total = sum(volume["totals"])
    out = {
        "volume": charts.bar_chart(
            categories, [(titles.get(s, s), volume["services"][s]) for s in order],
            title=f"Permohonan masuk per layanan per hari, {days} hari terakhir",
            desc=f"Diagram batang bertumpuk: {total} kasus baru; angka di atas batang adalah jumlah per hari.",
            x_label="Tanggal (waktu kantor)", y_label="Jumlah kasus", chart_id="chart-volume",
        ) if total else None,
        "age": charts.bar_chart(
            [b["label"] for b in data["open_by_age"]], [("Kasus terbuka", [b["count"] for b in data["open_by_age"]])],
            title="Kasus terbuka menurut umur",
            desc="Kasus baru, sedang diperiksa dan menunggu data warga, menurut lama sejak dibuat: "
                 + ", ".join(f"{b['label']}: {b['count']}" for b in data["open_by_age"]),
            x_label="Umur kasus (sejak dibuat)", y_label="Jumlah kasus", width=560, height=300, chart_id="chart-age",
        ),
        "complaints": charts.hbar_chart(
            [c["title"] for c in data["complaints"]], [c["count"] for c in data["complaints"]],
            title=f"Kategori pengaduan terbanyak, {days} hari terakhir",
            desc=", ".join(f"{c['title']}: {c['count']}" for c in data["complaints"]),
            x_label="Jumlah pengaduan", chart_id="chart-complaints", color=charts.PALETTE[5],
        ) if data["complaints"] else None,
    }
    return out


@bp.get("/dashboard")
@role_required("supervisor")
def dashboard():
    session, days, titles, tz, now = db.session(), period_days(), service_titles(), office_tz(), utcnow()
    view = View(session)
    data = stats.dashboard(session, now, days, tz, complaint_titles(), view.branch_ids)
    order = service_order(data["volume"]["services"], titles)
    owners = visibility.NumberOwners(session, current_app.config["SETTINGS"].twilio_whatsapp_number)
    compared = (branch_stats.comparison(session, now, days, tz, view.branches, view.scope)
                if len(view.branches) > 1 else None)
    return render_template("dashboard.html", data=data, charts=_charts(data, titles, order), periods=PERIODS,
                           service_titles=titles, service_order=order, fmt=id_number, view=view,
                           compared=compared, failures=branch_stats.failure_counts(session, owners, view.branch_ids),
                           backlog=send_backlog(owners, view.branch_ids),
                           open_total=sum(b["count"] for b in data["open_by_age"]))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


@bp.get("/dashboard.csv")
@role_required("supervisor")
def dashboard_csv():
    session, days, tz, now = db.session(), period_days(), office_tz(), utcnow()
    view = View(session)
    rows = stats.case_rows(session, now, days, tz, view.branch_ids)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    branch = f"{view.code}-" if view.code else ""
    filename = f"pandawa-cases-{branch}{now.astimezone(tz):%Y%m%d}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={filename}",
        "Cache-Control": "no-store",
    })
