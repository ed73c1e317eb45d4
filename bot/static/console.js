// The case page. No inline handlers: the console's CSP allows no inline script.

// The decision: nothing chosen at first; only the choices that go with the chosen decision are shown.
(function () {
  const form = document.getElementById("decision-form");
  if (!form) return;
  function toggle() {
    const chosen = form.querySelector("input[name=decision]:checked");
    form.querySelectorAll("fieldset[data-for]").forEach((set) => {
      const on = chosen && set.dataset.for === chosen.value;
      set.hidden = !on;
      set.querySelectorAll("input").forEach((input) => { input.required = on; });
    });
  }
  form.addEventListener("change", toggle);
  toggle();
})();

// Documents: one at a time, chosen by tab; zoom and rotate the image in view.
(function () {
  const viewer = document.getElementById("documents");
  if (!viewer) return;
  const state = { scale: 1, turn: 0 };
  function current() { return viewer.querySelector("figure.doc:not([hidden]) [data-zoomable]"); }
  function apply() {
    const img = current();
    if (!img) return;
    img.style.width = (100 * state.scale) + "%";
    img.style.transform = "rotate(" + (90 * state.turn) + "deg)";
    img.dataset.scale = String(state.scale);
    img.dataset.turn = String(state.turn % 4);
  }
  viewer.querySelectorAll(".doc-tab").forEach((tab) => {
    tab.addEventListener("click", () => {
      viewer.querySelectorAll(".doc-tab").forEach((t) => t.classList.toggle("active", t === tab));
      viewer.querySelectorAll("figure.doc").forEach((f) => { f.hidden = f.dataset.doc !== tab.dataset.doc; });
      state.scale = 1; state.turn = 0; apply();
    });
  });
  viewer.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
    state.scale = Math.min(4, Math.max(0.5, state.scale * parseFloat(b.dataset.zoom))); apply();
  }));
  viewer.querySelectorAll("[data-rotate]").forEach((b) => b.addEventListener("click", () => { state.turn += 1; apply(); }));
  viewer.querySelectorAll("[data-reset]").forEach((b) => b.addEventListener("click", () => {
    state.scale = 1; state.turn = 0; apply();
  }));
})();

// The chat: new messages every 3 s without reloading (automatic requests: X-Auto-Refresh, so an idle
// session still ends); sending stays on the page; a canned reply fills the box.
(function () {
  const chat = document.getElementById("chat");
  if (!chat) return;
  const form = document.getElementById("chat-form");
  const error = form.querySelector("[data-chat-error]");
  const badge = document.querySelector("[data-paused-badge]");
  let shown = chat.innerHTML;
  function atBottom() { return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40; }
  function show(html) {
    if (html === shown) return;
    const follow = atBottom();
    chat.innerHTML = html; shown = html;
    const paused = chat.querySelector("[data-paused]");
    if (badge && paused) badge.hidden = paused.dataset.paused !== "1";
    if (follow) chat.scrollTop = chat.scrollHeight;
  }
  async function refresh() {
    try {
      const r = await fetch(chat.dataset.refresh, { headers: { "X-Requested-With": "fetch", "X-Auto-Refresh": "1" } });
      if (r.status === 401 || r.redirected) { window.location.reload(); return; }
      if (r.ok) show(await r.text());
    } catch (e) { /* offline for a moment: try again next tick */ }
  }
  chat.scrollTop = chat.scrollHeight;
  setInterval(refresh, 3000);
  const canned = document.getElementById("canned");
  if (canned) canned.addEventListener("change", () => {
    const option = canned.selectedOptions[0];
    if (option && option.dataset.body) form.elements.text.value = option.dataset.body;
    canned.value = "";
    form.elements.text.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true; error.hidden = true;
    try {
      const r = await fetch(form.action, { method: "POST", body: new FormData(form), headers: { "X-Requested-With": "fetch" } });
      if (r.status === 401 || r.redirected) { window.location.reload(); return; }
      const body = await r.json().catch(() => ({}));
      if (r.ok) { form.elements.text.value = ""; await refresh(); chat.scrollTop = chat.scrollHeight; }
      else { error.textContent = body.error || "Pesan tidak terkirim. Coba lagi."; error.hidden = false; }
    } catch (e) {
      error.textContent = "Tidak tersambung ke server. Pesan belum terkirim; coba lagi."; error.hidden = false;
    } finally { button.disabled = false; }
  });
})();
