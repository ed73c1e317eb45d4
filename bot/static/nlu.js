// The NLU models page: while a retraining runs, its progress bar follows the job (polled every two
// seconds); when it ends the page reloads to show the scores and the publish button. A page that
// cannot reach the server keeps polling quietly (the job goes on without it).
(function () {
  const box = document.getElementById("training");
  if (!box) return;
  const bar = document.getElementById("training-bar");
  const stage = document.getElementById("training-stage");
  const percent = document.getElementById("training-percent");
  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data) return;
        bar.value = data.progress;
        percent.textContent = data.progress + "%";
        stage.textContent = data.stage || data.label;
        const badge = document.getElementById("model-" + box.dataset.model + "-status");
        if (badge) badge.textContent = data.label;
        if (!data.running) window.location.reload();
      })
      .catch(() => {})
      .finally(() => setTimeout(poll, 2000));
  }
  setTimeout(poll, 2000);
})();
