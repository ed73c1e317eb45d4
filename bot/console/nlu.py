"""Admins teach the bot: the messages it misunderstood (personal numbers masked), one click to label
the right intent or mark it out of scope, then a retraining in the background with a progress bar,
accuracy before and after on both evaluation sets, publishing when not worse, and rollback. Every
view and action is audited."""
from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from bot import nlu_training
from bot.console import bp
from bot.console.auth import me, role_required
from handlers import labels, nlu_models, nlu_review
from handlers.backoffice import audit
from nlu.intents import OUT_OF_SCOPE, intents
from nlu.trainer import TrainingError
from storage import db
from storage.models import utcnow
from storage.nlu import ModelStatus, NluModel, ReviewReason, ReviewStatus
from storage.staff import Role

SET_LABELS = {"short": "Pesan pendek, uji terpisah", "long": "Pesan panjang warga, uji realistis"}


def intent_choices() -> list[tuple[str, str]]:
    """(intent, what admins read) for the label buttons: services by their menu title, then the rest."""
    product = _product()
    titles = {item.id: item.title for item in product.menu}
    known = [name for name in intents() if name != OUT_OF_SCOPE]
    return [(name, titles.get(name) or labels.INTENT_LABELS.get(name, name)) for name in known]


def intent_label(name: str | None) -> str:
    if not name:
        return "—"
    titles = {item.id: item.title for item in _product().menu}
    return titles.get(name) or labels.INTENT_LABELS.get(name, name)


def _product():
    return current_app.config["PRODUCT"]


@bp.get("/admin/nlu/")
@role_required(Role.ADMIN)
def nlu_reviews():
    session, staff = db.session(), me()
    status = request.args.get("status", ReviewStatus.OPEN)
    reason = request.args.get("reason") or None
    if status not in (ReviewStatus.OPEN, *ReviewStatus.DONE) or (reason and reason not in ReviewReason.ORDER):
        abort(400)
    rows = nlu_review.reviews(session, status, reason)
    audit(session, staff, "nlu_view", detail=f"{status} {len(rows)}")
    session.commit()
    return render_template("admin_nlu.html", rows=rows, status=status, reason=reason,
                           counts=nlu_review.counts(session), choices=intent_choices(), intent_label=intent_label,
                           reasons=labels.REVIEW_REASON_LABELS, statuses=labels.REVIEW_STATUS_LABELS,
                           running=nlu_models.running(session), published=nlu_models.published(session))


@bp.post("/admin/nlu/<int:review_id>")
@role_required(Role.ADMIN)
def nlu_decide(review_id: int):
    """``label``: an intent (or out_of_scope); ``dismiss``: noise; ``reopen``: undo a decision."""
    session, staff, action = db.session(), me(), request.form.get("action", "")
    if action == "reopen":
        done = nlu_review.reopen(session, review_id)
        detail = f"review {review_id} reopened"
    elif action == "dismiss":
        done = nlu_review.decide(session, review_id, None, staff.id, utcnow())
        detail = f"review {review_id} dismissed"
    elif action == "label":
        label = request.form.get("intent", "")
        if label not in intents():
            abort(400)
        done = nlu_review.decide(session, review_id, label, staff.id, utcnow())
        detail = f"review {review_id} -> {label}"
    else:
        abort(400)
    if not done:
        session.rollback()
        flash("Pesan ini sudah ditangani admin lain atau tidak ada lagi.", "error")
    else:
        audit(session, staff, "nlu_undo" if action == "reopen" else "nlu_label", detail=detail)
        session.commit()
        flash("Label dibatalkan." if action == "reopen" else "Tersimpan. Label dipakai pada pelatihan berikutnya.", "ok")
    return redirect(url_for("console.nlu_reviews", status=request.args.get("status", ReviewStatus.OPEN)))


@bp.get("/admin/nlu/models")
@role_required(Role.ADMIN)
def nlu_models_page():
    session, staff = db.session(), me()
    audit(session, staff, "nlu_view", detail="models")
    session.commit()
    labelled = len(nlu_review.examples(session))
    live = nlu_training.live_model(session)
    models = nlu_models.history(session)
    publishable = {m.id for m in models if m.status == ModelStatus.READY and live is not None and m.baseline == str(live)}
    stale = {m.id for m in models if m.status == ModelStatus.READY and m.id not in publishable}
    return render_template("admin_nlu_models.html", models=models, labelled=labelled,
                           running=nlu_models.running(session), published=nlu_models.published(session),
                           statuses=labels.MODEL_STATUS_LABELS, set_labels=SET_LABELS, intent_label=intent_label,
                           missing=nlu_training.toolchain().check(), publishable=publishable, stale=stale,
                           error_label=labels.model_error, repository_known=nlu_training.base_model() is not None)


@bp.get("/admin/nlu/models/<int:model_id>/progress")
@role_required(Role.ADMIN)
def nlu_model_progress(model_id: int):
    """For the progress bar (polled every two seconds while a retraining runs)."""
    model = db.session().get(NluModel, model_id)
    if model is None:
        abort(404)
    return jsonify(status=model.status, label=labels.MODEL_STATUS_LABELS.get(model.status, model.status),
                   progress=model.progress, stage=model.stage or "", running=bool(model.running))


@bp.post("/admin/nlu/train")
@role_required(Role.ADMIN)
def nlu_train():
    staff = me()
    missing = nlu_training.toolchain().check()
    if missing:
        flash("Pelatihan tidak bisa dijalankan di server ini: berkas Rasa atau data uji tidak ada.", "error")
        return redirect(url_for("console.nlu_models_page"))
    model = nlu_training.request(staff.id)
    if model is None:
        flash("Pelatihan lain sedang berjalan; tunggu sampai selesai.", "error")
        return redirect(url_for("console.nlu_models_page"))
    session = db.session()
    audit(session, staff, "nlu_train", detail=f"model {model.id}")
    session.commit()
    flash(f"Pelatihan model #{model.id} dimulai di latar belakang.", "ok")
    return redirect(url_for("console.nlu_models_page"))


def _apply(done_message: str):
    """Put the NLU server on the published model now (the sweeper tries again if it does not answer)."""
    try:
        nlu_training.sync_model(nlu_training.LOAD_TIMEOUT_WEB)
        flash(done_message, "ok")
    except TrainingError as exc:
        if exc.code in ("server_down", "load_timeout"):
            flash(done_message + " Server NLU belum selesai memuatnya; model dimuat otomatis dalam beberapa detik.",
                  "error")
        else:
            flash(f"{done_message} Tetapi {labels.model_error(exc.code)}: kembalikan model sebelumnya.", "error")


@bp.post("/admin/nlu/models/<int:model_id>/publish")
@role_required(Role.ADMIN)
def nlu_publish(model_id: int):
    session, staff = db.session(), me()
    live = nlu_training.live_model(session)
    if not nlu_models.publish(session, model_id, staff.id, utcnow(), str(live) if live else None):
        session.rollback()
        flash("Model ini tidak bisa diterbitkan: belum siap, lebih buruk, sudah berlaku, atau diuji terhadap model "
              "yang kini tidak berlaku lagi (latih ulang untuk membandingkannya dengan yang berlaku).", "error")
        return redirect(url_for("console.nlu_models_page"))
    audit(session, staff, "nlu_publish", detail=f"model {model_id}")
    session.commit()
    _apply(f"Model #{model_id} diterbitkan.")
    return redirect(url_for("console.nlu_models_page"))


@bp.post("/admin/nlu/rollback")
@role_required(Role.ADMIN)
def nlu_rollback():
    session, staff = db.session(), me()
    try:
        expected = int(request.form.get("from_model", ""))
    except ValueError:
        abort(400)
    current = nlu_models.published(session)
    repository_known = nlu_training.base_model() is not None
    done, now_published = nlu_models.rollback(session, staff.id, repository_known, expected)
    if not done:
        session.rollback()
        if current is None or current.id != expected:
            flash("Model yang berlaku sudah berubah (mungkin oleh admin lain); periksa halaman ini lagi.", "error")
        else:
            flash("Model bawaan tidak bisa dikembalikan: berkasnya tidak diketahui server ini (pengaturan NLU_MODEL).",
                  "error")
        return redirect(url_for("console.nlu_models_page"))
    audit(session, staff, "nlu_rollback", detail=f"model {now_published.id}" if now_published else "repository model")
    session.commit()
    _apply(f"Kembali ke model #{now_published.id}." if now_published else "Kembali ke model bawaan.")
    return redirect(url_for("console.nlu_models_page"))
