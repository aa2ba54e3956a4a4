// The dashboard's only script: live refresh of the overview, confirmations, select-all.
// Every action also works without it (the server asks for a confirmation page instead).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) {
    live.checked = sessionStorage.getItem("sf-live") !== "off";
    live.addEventListener("change", () => sessionStorage.setItem("sf-live", live.checked ? "on" : "off"));
    setInterval(() => { if (live.checked) { window.location.reload(); } }, 10000);
  }

  document.querySelectorAll("[data-select-all]").forEach((box) => {
    box.addEventListener("change", () => {
      box.closest("form").querySelectorAll("input[name=id]").forEach((item) => { item.checked = box.checked; });
    });
  });

  // A confirmed action carries confirm=yes, so the server does it at once.
  document.querySelectorAll("[data-confirm]").forEach((element) => {
    element.addEventListener("click", (event) => {
      if (!window.confirm(element.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      const form = element.form || element.closest("form");
      let confirmed = form.querySelector("input[name=confirm]");
      if (!confirmed) {
        confirmed = document.createElement("input");
        confirmed.type = "hidden";
        confirmed.name = "confirm";
        form.appendChild(confirmed);
      }
      confirmed.value = "yes";
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.querySelector("input[name=confirm]")) { return; }
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
      const confirmed = document.createElement("input");
      confirmed.type = "hidden"; confirmed.name = "confirm"; confirmed.value = "yes";
      form.appendChild(confirmed);
    });
  });
});
