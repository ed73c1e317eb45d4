// The simulator's page: send as a citizen, poll the conversation (inbound and the bot's replies).
(function () {
  const chat = document.getElementById("chat");
  const phone = document.getElementById("phone");
  const errorBox = document.getElementById("error");
  const csrf = { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content };
  let shown = "";

  function render(messages) {
    const key = JSON.stringify(messages);
    if (key === shown) return;
    shown = key;
    chat.replaceChildren(...messages.map((m) => {
      const div = document.createElement("div");
      div.className = "bubble " + m.direction;
      div.dataset.direction = m.direction;
      div.textContent = m.body || (m.media ? "📷 lampiran" : "");
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = new Date(m.at).toLocaleTimeString() + " · " + m.status;
      div.appendChild(meta);
      return div;
    }));
    chat.scrollTop = chat.scrollHeight;
  }

  async function poll() {
    try {
      const r = await fetch("messages?phone=" + encodeURIComponent(phone.value));
      if (r.ok) render((await r.json()).messages);
    } catch (e) { /* the server restarts: keep polling */ }
  }

  document.getElementById("compose").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.textContent = "";
    const data = new FormData(ev.target);
    data.append("phone", phone.value);
    data.append("name", document.getElementById("name").value);
    const r = await fetch("send", { method: "POST", body: data, headers: csrf });
    if (!r.ok) {
      errorBox.textContent = (await r.json()).error || "Gagal mengirim";
      return;
    }
    ev.target.reset();
    poll();
  });
  const preview = document.getElementById("preview");
  if (preview) preview.addEventListener("change", () => { preview.defaultChecked = preview.checked; });  // kept by reset()
  phone.addEventListener("change", () => { shown = ""; poll(); });
  document.getElementById("new-number").addEventListener("click", async () => {
    const r = await fetch("numbers", { method: "POST", headers: csrf });
    if (!r.ok) return;
    const number = (await r.json()).phone;
    phone.append(new Option(number, number, true, true));
    shown = "";
    poll();
  });
  setInterval(poll, 1000);
  poll();
})();
