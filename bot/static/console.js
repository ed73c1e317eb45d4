// Case page: newest messages in view; only the decision fields that apply are shown.
(function () {
  const transcript = document.querySelector(".transcript");
  if (transcript) transcript.scrollTop = transcript.scrollHeight;
  const decision = document.getElementById("decision");
  if (!decision) return;
  function toggle() {
    document.querySelectorAll("label[data-for]").forEach((label) => {
      label.hidden = label.dataset.for !== decision.value;
    });
  }
  decision.addEventListener("change", toggle);
  toggle();
})();

// Filters that apply as soon as they change (no inline handlers: the pages' CSP allows no inline script).
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});

// Queue: refreshes the rows and counts every 5 s without reloading the page. The refresh says it is
// automatic (X-Auto-Refresh), so it does not keep an idle session alive.
(function () {
  const box = document.getElementById("queue");
  if (!box) return;
  async function refresh() {
    try {
      const r = await fetch(box.dataset.refresh, { headers: { "X-Requested-With": "fetch", "X-Auto-Refresh": "1" } });
      if (r.status === 401 || r.redirected) { window.location.reload(); return; }
      if (r.ok) box.innerHTML = await r.text();
    } catch (e) { /* offline for a moment: try again next tick */ }
  }
  setInterval(refresh, 5000);
})();
