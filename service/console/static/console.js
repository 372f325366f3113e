// 选学 staff console: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // a changed filter applies at once (the 筛选 button stays for keyboard users)
  const filters = document.getElementById("filters");
  if (filters) {
    filters.querySelectorAll("select").forEach((el) => {
      el.addEventListener("change", () => filters.submit());
    });
  }
  // solving a menu takes a moment: say so instead of looking frozen
  const menu = document.getElementById("menu-form");
  if (menu) {
    menu.addEventListener("submit", () => {
      const button = menu.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "正在生成…"; }
    });
  }
});
