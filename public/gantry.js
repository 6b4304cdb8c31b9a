// Gantry's small page behaviour, loaded after htmx. Pages work without it; it adds:
// - the CSRF header on every htmx request (forms also carry a _csrf field),
// - confirmation for buttons marked data-confirm,
// - live tables that keep at most data-keep-rows rows (the newest, swapped in at the top).
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("htmx:config:request", function (event) {
    if (csrf && event.detail && event.detail.ctx && event.detail.ctx.request) {
      event.detail.ctx.request.headers["X-CSRF-Token"] = csrf.getAttribute("content");
    }
  });
  document.addEventListener("htmx:after:swap", function (event) {
    var target = event.target;
    var keep = target && target.getAttribute && Number(target.getAttribute("data-keep-rows"));
    if (!keep) return;
    while (target.children.length > keep) target.removeChild(target.lastElementChild);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter || form.querySelector("[data-confirm]");
    var message = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
