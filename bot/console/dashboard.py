"""The supervisors' dashboard (supervisor and admin): case volume, open cases by age, SLA, IKM satisfaction
index, top complaint categories (server-rendered SVG, works without JavaScript), and a CSV export of the
period's cases without personal data."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request

from bot import live, metrics
from bot.console import bp, charts, stats
from bot.console.queue import age_words
from bot.console.auth import role_required
from handlers.worktime import MONTHS_SHORT_ID
from storage import db
from storage.models import utcnow

DEFAULT_DAYS, MAX_DAYS = 14, 90
PERIODS = (7, 14, 30, 90)
COMPLAINT_FLOW, COMPLAINT_CATEGORY = "complaint", "category"
DAY_NAMES = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")
CSV_COLUMNS = ("ticket", "service", "status", "created_at", "decided_at", "sla_due_at", "sla_met",
               "hours_to_decision", "rating")


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


def send_backlog() -> list[dict]:
    """Messages waiting to go out, per sender (our WhatsApp number, shown without the channel prefix)."""
    default = current_app.config["SETTINGS"].twilio_whatsapp_number
    return [{"number": row["sender"].removeprefix("whatsapp:"), "waiting": row["waiting"],
             "oldest": age_words(row["oldest_seconds"]) if row["waiting"] else "–"}
            for row in metrics.outbound_backlog(db.session(), default)]


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
    days, titles = period_days(), service_titles()
    data = stats.dashboard(db.session(), utcnow(), days, office_tz(), complaint_titles())
    order = service_order(data["volume"]["services"], titles)
    return render_template("dashboard.html", data=data, charts=_charts(data, titles, order), periods=PERIODS,
                           service_titles=titles, service_order=order, fmt=id_number,
                           failures=metrics.failure_counts(db.session()), backlog=send_backlog(),
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
    days, tz, now = period_days(), office_tz(), utcnow()
    rows = stats.case_rows(db.session(), now, days, tz)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    filename = f"pandawa-cases-{now.astimezone(tz):%Y%m%d}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={filename}",
        "Cache-Control": "no-store",
    })
