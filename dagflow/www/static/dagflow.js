// dagflow's own script (no inline script anywhere: the CSP forbids it). htmx does the live parts.
"use strict";

// Task groups in the grid: a click on a group row shows or hides its members. Which groups are open
// is kept per DAG in sessionStorage, so a live refresh of the grid keeps them open.
function gridKey(grid) { return "dagflow-grid-open:" + grid.getAttribute("data-dag-id"); }
function openGroups(grid) {
  try { return new Set(JSON.parse(sessionStorage.getItem(gridKey(grid)) || "[]")); } catch (e) { return new Set(); }
}
function applyGroups(grid) {
  const open = openGroups(grid);
  const parentOf = {};
  grid.querySelectorAll("tr.group").forEach(function (row) {
    parentOf[row.getAttribute("data-node")] = row.getAttribute("data-parent-group");
  });
  const shown = function (group) {
    for (let g = group; g; g = parentOf[g]) { if (!open.has(g)) return false; }
    return true;
  };
  grid.querySelectorAll("tr[data-parent-group]").forEach(function (row) {
    row.classList.toggle("hidden", !shown(row.getAttribute("data-parent-group")));
  });
  grid.querySelectorAll("[data-toggle-group]").forEach(function (toggle) {
    toggle.setAttribute("aria-expanded", open.has(toggle.getAttribute("data-toggle-group")) ? "true" : "false");
  });
}
document.addEventListener("click", function (event) {
  const toggle = event.target.closest("[data-toggle-group]");
  if (!toggle) return;
  event.preventDefault();
  const grid = toggle.closest(".grid-wrap");
  const open = openGroups(grid);
  const group = toggle.getAttribute("data-toggle-group");
  if (open.has(group)) open.delete(group); else open.add(group);
  sessionStorage.setItem(gridKey(grid), JSON.stringify(Array.from(open)));
  applyGroups(grid);
});

// A confirm step in the page: a form whose button has data-ask="question" opens a <dialog> (not
// window.confirm); Confirm posts the form with confirmed=1. Without JavaScript the server asks instead.
function ask(form, button) {
  const dialog = document.createElement("dialog");
  dialog.className = "ask";
  const question = document.createElement("p");
  question.textContent = button.getAttribute("data-ask");
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "primary";
  yes.textContent = "Confirm";
  yes.setAttribute("data-ask-confirm", "");
  const no = document.createElement("button");
  no.type = "button";
  no.textContent = "Cancel";
  dialog.append(question, yes, no);
  document.body.append(dialog);
  const close = function () { dialog.close(); dialog.remove(); };
  no.addEventListener("click", close);
  yes.addEventListener("click", function () {
    const confirmed = document.createElement("input");
    confirmed.type = "hidden";
    confirmed.name = "confirmed";
    confirmed.value = "1";
    form.append(confirmed);
    form.dataset.asked = "1";
    close();
    form.requestSubmit(button);
  });
  dialog.showModal();
}
document.addEventListener("submit", function (event) {
  const form = event.target;
  const button = (event.submitter && event.submitter.closest("[data-ask]")) || form.querySelector("[data-ask]");
  if (!button || form.dataset.asked === "1") return;
  event.preventDefault();
  ask(form, button);
});

// "Start from this run's conf" on the trigger form: copy a recent conf into the JSON box.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-use-conf]");
  if (!button) return;
  event.preventDefault();
  const box = document.getElementById("conf");
  if (box) box.value = button.getAttribute("data-use-conf");
});

// A live log keeps its view at the end while new lines arrive (unless the reader scrolled up).
document.addEventListener("htmx:beforeSwap", function (event) {
  const box = event.detail.target && event.detail.target.closest(".log-lines");
  if (box) box.dataset.stick = (box.scrollTop + box.clientHeight >= box.scrollHeight - 20) ? "1" : "0";
});
document.addEventListener("htmx:afterSwap", function (event) {
  const box = event.detail.target && event.detail.target.closest(".log-lines");
  if (box && box.dataset.stick !== "0") box.scrollTop = box.scrollHeight;
});

// Graph: pan with the mouse, zoom with the wheel or the buttons, by changing the SVG's viewBox.
function initGraph(wrap) {
  const svg = wrap.querySelector("svg");
  if (!svg || svg.dataset.ready) return;
  svg.dataset.ready = "1";
  let box = svg.getAttribute("viewBox").split(" ").map(Number);
  const full = box.slice();
  const apply = function () { svg.setAttribute("viewBox", box.join(" ")); };
  const zoom = function (factor, cx, cy) {
    const w = box[2] * factor, h = box[3] * factor;
    box = [cx - (cx - box[0]) * factor, cy - (cy - box[1]) * factor, w, h];
    apply();
  };
  const point = function (event) {
    const r = svg.getBoundingClientRect();
    return [box[0] + (event.clientX - r.left) / r.width * box[2], box[1] + (event.clientY - r.top) / r.height * box[3]];
  };
  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    const p = point(event);
    zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, p[0], p[1]);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", function (event) { drag = [event.clientX, event.clientY, box[0], box[1]]; });
  window.addEventListener("mouseup", function () { drag = null; });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    box[0] = drag[2] - (event.clientX - drag[0]) / r.width * box[2];
    box[1] = drag[3] - (event.clientY - drag[1]) / r.height * box[3];
    apply();
  });
  wrap.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      const how = button.getAttribute("data-zoom");
      if (how === "fit") { box = full.slice(); apply(); return; }
      zoom(how === "in" ? 1 / 1.3 : 1.3, box[0] + box[2] / 2, box[1] + box[3] / 2);
    });
  });
}
function initAll() {
  document.querySelectorAll(".graph-wrap").forEach(initGraph);
  document.querySelectorAll(".grid-wrap[data-dag-id]").forEach(applyGroups);
}
document.addEventListener("DOMContentLoaded", initAll);
document.addEventListener("htmx:afterSettle", initAll);
