// Refreshes the queue's rows and counts every 5 s without reloading the page.
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
