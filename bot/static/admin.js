// Admin pages: a live "n/1600" counter under each bot text (red above WhatsApp's limit) and a filter
// on the text keys. Characters are counted as the server counts them (code points, not UTF-16 units).
(function () {
  document.querySelectorAll("textarea[data-max]").forEach((area) => {
    const out = document.getElementById(area.dataset.counter);
    const max = Number(area.dataset.max);
    function update() {
      const n = Array.from(area.value).length;
      out.textContent = n + "/" + max;
      out.classList.toggle("over", n > max);
    }
    area.addEventListener("input", update);
    update();
  });

  const filter = document.getElementById("text-filter");
  if (filter) {
    filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      document.querySelectorAll(".text-field[data-key]").forEach((box) => {
        box.hidden = q !== "" && !box.dataset.key.toLowerCase().includes(q);
      });
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
})();
