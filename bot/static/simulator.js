// The simulator's page: send as a citizen, poll the conversation (inbound and the bot's replies),
// remember the made-up number across reloads, start a conversation again.
(function () {
  const chat = document.getElementById("chat");
  const phone = document.getElementById("phone");
  const errorBox = document.getElementById("error");
  const note = document.getElementById("note");
  const csrf = { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content };
  const STORAGE = "pandawa.simulator.number";  // {phone, key}: the server takes a number back only with its key
  let shown = "";

  // localStorage may be refused (private mode, a policy): the page then works without remembering.
  function stored() {
    let raw = null;
    try {
      raw = window.localStorage.getItem(STORAGE);
    } catch (e) {
      if (!(e instanceof DOMException)) throw e;
    }
    if (!raw) return null;
    try {
      const value = JSON.parse(raw);
      return value && typeof value.phone === "string" && typeof value.key === "string" ? value : null;
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      return null;
    }
  }

  function store(value) {
    try {
      if (value) window.localStorage.setItem(STORAGE, JSON.stringify(value));
      else window.localStorage.removeItem(STORAGE);
    } catch (e) {
      if (!(e instanceof DOMException)) throw e;
    }
  }

  function rememberSelected() {
    const option = phone.selectedOptions[0];
    if (option) store({ phone: option.value, key: option.dataset.key });
  }

  function addNumber(number) {  // {phone, key} from the server
    const option = new Option(number.phone, number.phone, true, true);
    option.dataset.key = number.key;
    phone.append(option);
  }

  // The number used before this reload (or login): selected when the page has it, else taken back.
  async function restore() {
    const previous = stored();
    if (!previous || previous.phone === phone.value) return;
    const known = Array.from(phone.options).find((o) => o.value === previous.phone);
    if (known) {
      known.selected = true;
      return;
    }
    let r;
    try {
      r = await fetch("numbers", { method: "POST", headers: csrf,
                                   body: new URLSearchParams({ phone: previous.phone, key: previous.key }) });
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      return;  // the server is away: the page's own number serves
    }
    if (r.ok) addNumber(await r.json());
    else if (r.status === 403) store(null);  // not this staff member's number (any more)
  }

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
      if (m.direction === "out" && m.draft) {  // answered with the drafts ("Pratinjau draf")
        div.classList.add("draft");
        div.dataset.draft = "1";
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "draf";
        badge.title = "Dijawab dengan draf yang belum diterbitkan (Pratinjau draf)";
        meta.append(badge, " ");
      }
      meta.append(new Date(m.at).toLocaleTimeString() + " · " + m.status);
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
    note.textContent = "";
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
  const to = document.getElementById("to");  // the office number written to, kept by reset() like the box below
  if (to) to.addEventListener("change", () => { for (const o of to.options) o.defaultSelected = o.selected; });
  const preview = document.getElementById("preview");
  if (preview) preview.addEventListener("change", () => { preview.defaultChecked = preview.checked; });  // kept by reset()
  phone.addEventListener("change", () => { rememberSelected(); shown = ""; poll(); });
  document.getElementById("new-number").addEventListener("click", async () => {
    const r = await fetch("numbers", { method: "POST", headers: csrf });
    if (!r.ok) return;
    addNumber(await r.json());
    rememberSelected();
    note.textContent = "";
    shown = "";
    poll();
  });
  document.getElementById("reset").addEventListener("click", async () => {
    errorBox.textContent = "";
    const r = await fetch("reset", { method: "POST", headers: csrf, body: new URLSearchParams({ phone: phone.value }) });
    if (!r.ok) {
      errorBox.textContent = "Gagal memulai ulang percakapan.";
      return;
    }
    note.textContent = "Percakapan dimulai ulang: pesan berikutnya dimulai dari awal.";
    shown = "";
    poll();
  });
  restore().finally(() => {
    rememberSelected();
    shown = "";
    setInterval(poll, 1000);
    poll();
  });
})();
