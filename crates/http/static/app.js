// 校保 — the only script of the pages (vendored, no CDN). Everything works without it;
// it only spares a page load where that is pleasant.
(function () {
  "use strict";

  // Login page: switching the account type tab changes the prompt in place. Without this
  // script each tab is a link (?type=…) to the same page with that type chosen.
  function initTabs(group) {
    var form = document.querySelector("form.form");
    if (!form) return;
    var hidden = form.querySelector("[data-account-type]");
    var label = form.querySelector("[data-name-label]");
    var hint = form.querySelector("[data-name-hint]");
    var input = form.querySelector("#login_name");
    var tabs = group.querySelectorAll("a.tab");
    Array.prototype.forEach.call(tabs, function (tab) {
      tab.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        Array.prototype.forEach.call(tabs, function (other) {
          other.classList.remove("is-active");
          other.removeAttribute("aria-current");
        });
        tab.classList.add("is-active");
        tab.setAttribute("aria-current", "true");
        if (hidden) hidden.value = tab.getAttribute("data-type");
        if (label) label.textContent = tab.getAttribute("data-label");
        if (hint) hint.textContent = tab.getAttribute("data-hint");
        if (input) {
          input.placeholder = tab.getAttribute("data-placeholder");
          input.focus();
        }
        if (window.history && window.history.replaceState) {
          window.history.replaceState(null, "", tab.getAttribute("href"));
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-tabs]"), initTabs);
  });
})();
