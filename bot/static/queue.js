// Filters that apply as soon as they change (no inline handlers: the pages' CSP allows no inline script).
document.querySelectorAll("select[data-autosubmit], input[data-autosubmit]").forEach((field) => {
  field.addEventListener("change", () => field.form.submit());
});

// Queue: refreshes the rows and counts every 5 s without reloading the page, at the fragment URL that
// carries the page's filters and search. The refresh says it is automatic (X-Auto-Refresh): it does not
// keep an idle session alive, nor audit the same search again.
(function () {
  const box = document.getElementById("queue");
  if (!box) return;
  let busy = false;
  let last = null;  // the last fragment shown: an unchanged answer leaves the table (and a selection) alone
  async function refresh() {
    if (busy) return;  // a slow answer: do not pile requests up
    busy = true;
    try {
      const r = await fetch(box.dataset.refresh, { headers: { "X-Requested-With": "fetch", "X-Auto-Refresh": "1" } });
      if (r.status === 401 || r.redirected) { window.location.reload(); return; }
      if (r.ok) {
        const html = await r.text();
        if (html !== last) { box.innerHTML = html; last = html; }
      }
    } catch (e) { /* offline for a moment: try again next tick */ } finally { busy = false; }
  }
  setInterval(refresh, 5000);
})();
