"""Delivery check of the system benchmarks: every message the driver sent got exactly one answer set,
and each citizen got the replies in the order of their messages. Judged at the end of a step (after
the app went quiet) from what the fake Twilio recorded and from the database, whoever handed the
replies to Twilio (the `outbound` job or the inbound job itself):

- each message sent is stored (`inbound_messages.message_sid`, the MessageSid the driver sent) and
  `processed` (none `failed`, `rejected` or still `received`);
- it has an answer set: at least one `outbound_messages` row with `in_reply_to_id` = the message,
  no body twice in one set; no row of the step's citizens lacks `in_reply_to_id`;
- each reply row was created at the fake Twilio exactly once (`twilio_sid` = the SID the fake gave
  it); a create with no row behind it is a reply sent again (same recipient and body as a row) or a
  stray message;
- per citizen, in the order the fake created them, the replies follow the order the messages were
  sent in (and within an answer set, the order of its rows); the messages were stored in send order.

Usage: `check = DeliveryCheck(stack, driver, label)` before the step's load, `check.finish()` after
it, while the workers still run (it waits until no job is pending and nothing new reaches Twilio).
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass

from benchdriver import Driver, Record
from benchlib import Stack

MAX_EXAMPLES = 10


@dataclass
class Inbound:
    id: int
    message_sid: str
    status: str
    citizen_id: int | None


@dataclass
class Outbound:
    id: int
    citizen_id: int
    in_reply_to_id: int | None
    body: str
    twilio_sid: str | None


class DeliveryCheck:
    """One step's check: what was sent from now on, to what Twilio got from now on."""

    def __init__(self, stack: Stack, driver: Driver, label: str):
        self.stack, self.driver, self.label = stack, driver, label
        self.first_record = len(driver.sent)
        self.first_create = len(driver.fake_messages())
        self.outbound_after = stack.sql("select coalesce(max(id), 0) from outbound_messages")[0][0]

    def _pending_messages(self, sids: list[str]) -> int:
        return self.stack.sql("select count(*) from inbound_messages where message_sid = any(%s) and status = 'received'",
                              (sids,))[0][0]

    def _wait_quiet(self, sids: list[str], timeout: float) -> float:
        """Until twice in a row: no job waiting, running or scheduled, no message of ours `received`,
        and no new create at the fake Twilio. Returns the seconds waited (the check runs anyway)."""
        t0, calm, creates = time.monotonic(), 0, -1
        while time.monotonic() - t0 < timeout and calm < 2:
            now_creates = len(self.driver.fake_messages())
            quiet = self.stack.pending_jobs() == 0 and self._pending_messages(sids) == 0 and now_creates == creates
            calm, creates = (calm + 1 if quiet else 0), now_creates
            time.sleep(0.25)
        return time.monotonic() - t0

    def finish(self, timeout: float = 60) -> dict:
        records = [r for r in self.driver.sent[self.first_record:] if r.sid is not None]
        unsent = len(self.driver.sent) - self.first_record - len(records)  # never POSTed (stopped mid-burst)
        sids = [r.sid for r in records]
        waited = self._wait_quiet(sids, timeout)
        inbound = [Inbound(*row) for row in self.stack.sql(
            "select id, message_sid, status, citizen_id from inbound_messages where message_sid = any(%s)", (sids,))]
        citizens = sorted({i.citizen_id for i in inbound if i.citizen_id is not None})
        outbound = [Outbound(*row) for row in self.stack.sql(
            "select id, citizen_id, in_reply_to_id, body, twilio_sid from outbound_messages "
            "where id > %s and citizen_id = any(%s) order by id", (self.outbound_after, citizens))]
        creates = self.driver.fake_messages()[self.first_create:]
        result = evaluate(records, inbound, outbound, creates, self.driver.addresses)
        result.update(label=self.label, waited_for_quiet_s=round(waited, 2), never_posted=unsent,
                      failed_rq_jobs_total=self.stack.failed_jobs())
        print(summary(result), flush=True)
        return result


# ----------------------------------------------------------------------------- the verdict
def evaluate(records: list[Record], inbound: list[Inbound], outbound: list[Outbound], creates: list[dict],
             addresses: list[str]) -> dict:
    """The check's figures from the step's messages, their stored rows and the fake Twilio's creates."""
    examples: list[str] = []
    stored = {i.message_sid: i for i in inbound}
    statuses = collections.Counter(i.status for i in inbound)
    not_stored = [r for r in records if r.sid not in stored]
    examples += [f"message #{r.seq} of citizen {r.sender} not stored (webhook answered {r.status})" for r in not_stored]
    examples += [f"message #{r.seq} of citizen {r.sender} is {stored[r.sid].status}" for r in records
                 if r.sid in stored and stored[r.sid].status != "processed"]

    by_id = {i.id: i for i in inbound}
    sets: dict[int, list[Outbound]] = collections.defaultdict(list)
    unlinked, earlier = [], []
    for o in outbound:
        if o.in_reply_to_id is None:
            unlinked.append(o)
        elif o.in_reply_to_id in by_id:
            sets[o.in_reply_to_id].append(o)
        else:
            earlier.append(o)  # a reply to a message of an earlier step (its own check counted it)
    examples += [f"outbound row {o.id} has no in_reply_to_id" for o in unlinked]
    without_answer = [i for i in inbound if not sets[i.id]]
    examples += [f"inbound {i.id} ({i.status}) has no reply" for i in without_answer]
    twice_stored = sum(n - 1 for i in inbound for n in collections.Counter(o.body for o in sets[i.id]).values())

    address_of = {stored[r.sid].citizen_id: addresses[r.sender] for r in records if r.sid in stored}
    sends, again, stray = _match_creates(outbound, creates, address_of)
    replies = [o for i in inbound for o in sets[i.id]]
    not_sent = [o for o in replies if sends[o.id] == 0]
    sent_twice = sum(n - 1 for n in sends.values() if n > 1) + len(again)
    examples += [f"reply row {o.id} (to inbound {o.in_reply_to_id}) never reached Twilio" for o in not_sent]
    examples += [f"reply row {o.id} created {n} times at Twilio" for o in replies if (n := sends[o.id]) > 1]
    examples += [f"Twilio create {m['sid']} repeats reply row {o.id}" for m, o in again]
    examples += [f"Twilio create {m['sid']} to {m.get('To')} matches no reply row" for m in stray]

    order = _order(records, stored, {o.twilio_sid: o for o in outbound if o.twilio_sid}, creates, addresses, examples)
    exactly_once = not (not_stored or unlinked or without_answer or twice_stored or not_sent or sent_twice or stray
                        or any(s != "processed" for s in statuses.elements()))
    in_order = not (order["replies_out_of_order"] or order["within_answer_set_out_of_order"]
                    or order["stored_out_of_order"])
    return {
        "messages_sent": len(records), "webhook_not_200": sum(1 for r in records if r.status != 200),
        "inbound": {"stored": len(inbound), "not_stored": len(not_stored), **{s: statuses.get(s, 0) for s in
                    ("processed", "failed", "received", "rejected")}, "other_status": {
                    s: n for s, n in statuses.items() if s not in ("processed", "failed", "received", "rejected")}},
        "answer_sets": {"without_answer": len(without_answer), "same_body_twice": twice_stored,
                        "sizes": dict(sorted(collections.Counter(len(sets[i.id]) for i in inbound).items()))},
        "replies": {"rows": len(replies), "twilio_creates": sum(sends.values()) + len(again) + len(stray),
                    "not_sent": len(not_sent), "sent_twice": sent_twice, "stray_creates": len(stray),
                    "rows_without_in_reply_to": len(unlinked), "rows_replying_to_earlier_steps": len(earlier)},
        "order": order, "exactly_once_ok": exactly_once, "order_ok": in_order, "ok": exactly_once and in_order,
        "examples": examples[:MAX_EXAMPLES],
    }


def _match_creates(outbound: list[Outbound], creates: list[dict], address_of: dict[int, str]):
    """Creates per reply row (by the SID the fake gave it), creates repeating a row (no row has their
    SID, but a row has their recipient and body), and stray creates (to our citizens, matching no row)."""
    rows_by_sid = {o.twilio_sid: o for o in outbound if o.twilio_sid}
    ours = set(address_of.values())
    sends: collections.Counter = collections.Counter()
    unknown = []
    for m in creates:
        if m.get("To") not in ours:
            continue
        o = rows_by_sid.get(m["sid"])
        if o is not None:
            sends[o.id] += 1
        else:
            unknown.append(m)
    by_text = {(address_of.get(o.citizen_id), o.body): o for o in outbound}
    again = [(m, by_text[(m.get("To"), m.get("Body"))]) for m in unknown if (m.get("To"), m.get("Body")) in by_text]
    stray = [m for m in unknown if (m.get("To"), m.get("Body")) not in by_text]
    return sends, again, stray


def _order(records: list[Record], stored: dict[str, Inbound], rows_by_sid: dict[str, Outbound], creates: list[dict],
           addresses: list[str], examples: list[str]) -> dict:
    """Per citizen: replies (in the fake's create order) against the send order of the messages."""
    seq_of = {stored[r.sid].id: r.seq for r in records if r.sid in stored}
    sender_of = {a: i for i, a in enumerate(addresses)}
    seen: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)  # citizen -> [(message seq, row id)]
    for m in creates:
        o = rows_by_sid.get(m["sid"])
        if o is not None and o.in_reply_to_id in seq_of and m.get("To") in sender_of:
            seen[sender_of[m["To"]]].append((seq_of[o.in_reply_to_id], o.id))
    across = within = 0
    bad = set()
    for sender, keys in seen.items():
        for a, b in zip(keys, keys[1:]):
            if b[0] < a[0]:
                across += 1
                bad.add(sender)
                examples.append(f"citizen {sender}: reply to message #{b[0]} after a reply to message #{a[0]}")
            elif b[0] == a[0] and b[1] < a[1]:
                within += 1
                bad.add(sender)
                examples.append(f"citizen {sender}: reply rows {a[1]} and {b[1]} (message #{a[0]}) swapped")
    by_sender: dict[int, list[Record]] = collections.defaultdict(list)
    for r in records:
        if r.sid in stored:
            by_sender[r.sender].append(r)
    misstored = sum(1 for rs in by_sender.values() for a, b in zip(rs, rs[1:]) if stored[a.sid].id > stored[b.sid].id)
    return {"citizens": len(by_sender), "citizens_out_of_order": len(bad), "replies_out_of_order": across,
            "within_answer_set_out_of_order": within, "stored_out_of_order": misstored}


def summary(c: dict) -> str:
    i, a, r, o = c["inbound"], c["answer_sets"], c["replies"], c["order"]
    verdict = f"exactly-once {'OK' if c['exactly_once_ok'] else 'VIOLATED'}, order {'OK' if c['order_ok'] else 'VIOLATED'}"
    text = (f"check {c.get('label', '')}: {c['messages_sent']} messages sent, {i['stored']} stored, {i['processed']} "
            f"processed (failed {i['failed']}, still received {i['received']}, rejected {i['rejected']}, not stored "
            f"{i['not_stored']}), {a['without_answer']} without an answer, answer set sizes {a['sizes']}; {r['rows']} "
            f"replies, {r['twilio_creates']} Twilio creates (not sent {r['not_sent']}, sent twice {r['sent_twice']}, "
            f"stray {r['stray_creates']}, rows without in_reply_to {r['rows_without_in_reply_to']}, same body twice "
            f"{a['same_body_twice']}); order: {o['citizens_out_of_order']} of {o['citizens']} citizens out of order "
            f"({o['replies_out_of_order']} across messages, {o['within_answer_set_out_of_order']} within a set, "
            f"{o['stored_out_of_order']} stored out of send order) -> {verdict}")
    if c["examples"]:
        text += "\n  e.g. " + "\n  e.g. ".join(c["examples"])
    return text


def verdict(c: dict) -> str:
    """Short form for a table cell: "OK / OK"."""
    return f"{'OK' if c['exactly_once_ok'] else 'NO'} / {'OK' if c['order_ok'] else 'NO'}"


def all_ok(checks: list[dict]) -> bool:
    return bool(checks) and all(c["ok"] for c in checks)
