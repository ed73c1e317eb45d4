// Admin pages: a live "n/1600" counter under each bot text (red above WhatsApp's limit), a filter on the
// text keys and their descriptions, confirmations, and the flow editor's collapsible steps: the map's
// boxes open their step, a step marked for removal is shown struck through (untick to keep it), and
// adding a step can be cancelled. Characters are counted as the server counts them (code points).
(function () {
  document.querySelectorAll("textarea[data-max][data-counter]").forEach((area) => {
    const out = document.getElementById(area.dataset.counter);
    if (!out) return;
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
        const text = (box.dataset.search || box.dataset.key).toLowerCase();
        box.hidden = q !== "" && !text.includes(q);
      });
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });

  // -- the flow editor ------------------------------------------------------------------------------
  function openStep() {
    const id = decodeURIComponent(window.location.hash.slice(1));
    if (!id.startsWith("step-")) return;
    const step = document.getElementById(id);
    if (step && step.tagName === "DETAILS") {
      step.open = true;
      step.scrollIntoView({ block: "start" });
    }
  }
  window.addEventListener("hashchange", openStep);
  openStep();

  document.querySelectorAll("input.remove-step").forEach((box) => {
    const step = box.closest("details");
    const show = () => step.classList.toggle("removing", box.checked);
    box.addEventListener("change", show);
    show();
  });

  const steps = () => document.querySelectorAll("details.step");
  const openAll = document.getElementById("open-all");
  const closeAll = document.getElementById("close-all");
  if (openAll) openAll.addEventListener("click", () => steps().forEach((d) => { d.open = true; }));
  if (closeAll) closeAll.addEventListener("click", () => steps().forEach((d) => { d.open = false; }));

  const cancelAdd = document.getElementById("cancel-add");
  if (cancelAdd) {
    cancelAdd.addEventListener("click", () => {
      const adding = document.getElementById("add-step");
      adding.querySelectorAll("input, textarea").forEach((field) => { field.value = ""; });
      adding.querySelectorAll("select").forEach((field) => {
        const initial = Array.from(field.options).findIndex((o) => o.defaultSelected);
        field.selectedIndex = initial < 0 ? 0 : initial;
      });
      adding.open = false;
    });
  }
})();
