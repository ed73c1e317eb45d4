#!/usr/bin/env python3
"""Branch scope benchmark: what a branch's officers pay for seeing only their branches' cases. On a
PostgreSQL database of its own (dropped at the end) holding --branches branches with --cases cases each
(spread over statuses and the last 14 days), the console's queue, the API's case list and the dashboard
are requested in-process (Flask's test client, real SQL) by a branch agent, a branch supervisor and a
national supervisor. Reported per page and viewer: median and p95 time and SQL statements per request;
the ratio branch/national is the cost of the scope (the national view has no branch filter: the
baseline of the same run).

    .venv/bin/python bench/branch_scope.py [--branches 20] [--cases 500] [--requests 30] [--json PATH]
"""
from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import Stack, meta, pct, table, write_json  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bot import create_app  # noqa: E402
from bot.accounts import create_staff, new_token  # noqa: E402
from handlers import branches  # noqa: E402
from storage import db  # noqa: E402
from storage.cases import Case, CaseStatus  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Citizen, utcnow  # noqa: E402
from tests.helpers import STAFF_PASSWORD, logged_in  # noqa: E402

STATUSES = (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW, CaseStatus.NEED_INFO, CaseStatus.APPROVED,
            CaseStatus.REJECTED, CaseStatus.CLOSED)


def seed(app, n_branches: int, per_branch: int) -> dict[str, str]:
    """Branches, their cases and the three viewers; their API tokens."""
    rnd, now = random.Random(16), utcnow()
    with app.app_context():
        session = db.session()
        codes = [f"KC-{i:03d}" for i in range(n_branches)]
        ids = [branches.add(session, code, f"KC Cabang {i}", (f"whatsapp:+62318{i:03d}0001",)).id
               for i, code in enumerate(codes)]
        session.flush()
        citizens = [Citizen(phone=f"+62812{i:08d}") for i in range(n_branches * per_branch)]
        session.add_all(citizens)
        session.flush()
        rows = []
        for n, citizen in enumerate(citizens):
            created = now - timedelta(hours=rnd.uniform(0, 14 * 24))
            status = rnd.choice(STATUSES)
            decided = created + timedelta(hours=rnd.uniform(1, 30)) if status in (
                CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.CLOSED) else None
            rows.append(dict(ticket=f"PDW-BENCH-{n:06d}", service="complaint", service_title="Pengaduan layanan",
                             citizen_id=citizen.id, status=status, fields={"description": "bench"},
                             created_at=created, queued_at=created, sla_due_at=created + timedelta(hours=8),
                             decided_at=decided, branch_id=ids[n % n_branches], flow_version=""))
        session.execute(Case.__table__.insert(), rows)
        tokens = {}
        for name, role, codes_of, national in (("agent", "agent", (codes[0],), False),
                                               ("branch_supervisor", "supervisor", (codes[0],), False),
                                               ("national", "supervisor", (), True)):
            tokens[name] = new_token(session, create_staff(session, name, role, STAFF_PASSWORD, codes_of, national))
        session.commit()
    return tokens


def measure(app, tokens: dict[str, str], requests: int) -> list[dict]:
    statements = {"n": 0}

    def count(*_args):
        statements["n"] += 1

    engine = app.extensions["db"].engine
    event.listen(engine, "before_cursor_execute", count)
    pages = (("queue", "console", "/console/"), ("API case list", "api", "/api/cases?limit=100"),
             ("dashboard", "console", "/console/dashboard"))
    results = []
    for viewer in ("agent", "branch_supervisor", "national"):
        client = logged_in(app, viewer)
        for page, door, path in pages:
            if page == "dashboard" and viewer == "agent":
                continue  # supervisors only
            headers = {"Authorization": f"Bearer {tokens[viewer]}"} if door == "api" else {}
            get = (lambda: app.test_client().get(path, headers=headers)) if door == "api" else (lambda: client.get(path))
            assert get().status_code == 200, (viewer, path)  # warm
            times, counts = [], []
            for _ in range(requests):
                statements["n"] = 0
                start = time.perf_counter()
                response = get()
                times.append((time.perf_counter() - start) * 1000)
                counts.append(statements["n"])
                assert response.status_code == 200
            results.append({"page": page, "viewer": viewer, "median_ms": statistics.median(times),
                            "p95_ms": pct(times, 95), "sql_statements": statistics.median(counts)})
    event.remove(engine, "before_cursor_execute", count)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--cases", type=int, default=500, help="cases per branch")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--json")
    args = parser.parse_args()
    with Stack(redis_db=14) as stack:
        upgrade(stack.database_url)
        env = {"SECRET_KEY": "bench-" + "k" * 40, "DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url,
               "PUBLIC_BASE_URL": "http://bench.test", "INSTANCE_PATH": str(stack.tmp / "instance"),
               "MEDIA_DIR": str(stack.tmp / "media"), "TWILIO_ACCOUNT_SID": stack.twilio_sid,
               "TWILIO_AUTH_TOKEN": stack.twilio_token, "TWILIO_WHATSAPP_NUMBER": "whatsapp:+14155238886",
               "TWILIO_CONTENT_SID_CASE_UPDATE": "HX" + "5e" * 16, "TWILIO_CONTENT_SID_SATISFACTION": "HX" + "6f" * 16,
               "MEDIA_KEYS": "b1:" + base64.b64encode(b"b" * 32).decode()}
        app = create_app({"ENV": env, "TESTING": True})
        tokens = seed(app, args.branches, args.cases)
        results = measure(app, tokens, args.requests)
        app.extensions["db"].dispose()
    national = {r["page"]: r["median_ms"] for r in results if r["viewer"] == "national"}
    for r in results:
        r["ratio_to_national"] = r["median_ms"] / national[r["page"]]
    print(f"{args.branches} branches x {args.cases} cases, {args.requests} requests per row")
    print(table(["page", "viewer", "median ms", "p95 ms", "SQL statements", "x national"],
                [[r["page"], r["viewer"], r["median_ms"], r["p95_ms"], r["sql_statements"], r["ratio_to_national"]]
                 for r in results]))
    write_json(args.json, {"meta": meta(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
