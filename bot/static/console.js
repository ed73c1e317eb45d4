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

// Queue: refreshes the rows and counts every 5 s without reloading the page.
(function () {
  const box = document.getElementById("queue");
  if (!box) return;
  async function refresh() {
    try {
      const r = await fetch(box.dataset.refresh, { headers: { "X-Requested-With": "fetch" } });
      if (r.ok) box.innerHTML = await r.text();
    } catch (e) { /* offline for a moment: try again next tick */ }
  }
  setInterval(refresh, 5000);
})();
