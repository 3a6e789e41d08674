// Lists with bulk actions (/runs, /task-instances): "all on this page" ticks every row's checkbox.
"use strict";
document.addEventListener("change", function (event) {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  const form = all.closest("form");
  if (!form) return;
  form.querySelectorAll('input[type="checkbox"][name="key"]').forEach(function (box) { box.checked = all.checked; });
});
