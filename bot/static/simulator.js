// The simulator's page: send as a citizen, poll the conversation (inbound and the bot's replies).
(function () {
  const chat = document.getElementById("chat");
  const phone = document.getElementById("phone");
  const errorBox = document.getElementById("error");
  const csrf = { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content };
  let shown = "";

  // WhatsApp's formatting, shown as a phone shows it: *bold*, _italic_, ~strikethrough~, ```monospace```.
  // Only DOM nodes and text nodes are made (never innerHTML): whatever a message holds, HTML
  // included, stays text. As on WhatsApp, a marker hugs its text (`*bold*`, never `2 * 3 * 4`),
  // does not touch a letter or digit on its outer side (snake_case_names stay), and does not
  // cross a line; styles nest, except inside monospace.
  const STYLES = [["```", "code"], ["*", "strong"], ["_", "em"], ["~", "s"]];
  const WORD = /[\p{L}\p{N}]/u;
  const SPACE = /\s/;

  function opens(line, at, marker) {
    const before = line[at - 1], after = line[at + marker.length];
    return (before === undefined || !WORD.test(before)) && after !== undefined && !SPACE.test(after);
  }

  function closes(line, at, marker) {
    const before = line[at - 1], after = line[at + marker.length];
    return !SPACE.test(before) && (after === undefined || !WORD.test(after));
  }

  function styled(line, into) {
    let plain = "", i = 0;
    scan: while (i < line.length) {
      for (const [marker, tag] of STYLES) {
        if (!line.startsWith(marker, i) || !opens(line, i, marker)) continue;
        for (let end = line.indexOf(marker, i + marker.length + 1); end !== -1; end = line.indexOf(marker, end + 1)) {
          if (!closes(line, end, marker)) continue;
          const inner = line.slice(i + marker.length, end), el = document.createElement(tag);
          if (tag === "code") el.textContent = inner; else styled(inner, el);
          into.append(plain, el);  // a string becomes a text node
          plain = "";
          i = end + marker.length;
          continue scan;
        }
      }
      plain += line[i];
      i += 1;
    }
    into.append(plain);
  }

  function formatted(body) {
    const fragment = document.createDocumentFragment();
    body.split("\n").forEach((line, n) => {
      if (n) fragment.append("\n");  // kept as a line break by the bubble's white-space: pre-wrap
      styled(line, fragment);
    });
    return fragment;
  }

  function render(messages) {
    const key = JSON.stringify(messages);
    if (key === shown) return;
    shown = key;
    chat.replaceChildren(...messages.map((m) => {
      const div = document.createElement("div");
      div.className = "bubble " + m.direction;
      div.dataset.direction = m.direction;
      div.append(m.body ? formatted(m.body) : (m.media ? "📷 lampiran" : ""));
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
