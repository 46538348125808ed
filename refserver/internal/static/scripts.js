// Historia — progressive enhancement only. Every page works without this
// file: forms post to the server, links navigate. Loaded with `defer` from
// 'self' (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";

  // Ask before destructive or irreversible actions (buttons and forms
  // marked data-confirm="question").
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var q = f.getAttribute("data-confirm") ||
      (ev.submitter && ev.submitter.getAttribute("data-confirm"));
    if (q && !window.confirm(q)) {
      ev.preventDefault();
    }
  });

  // Idle time-out: the server refuses an idle session anyway; this only
  // takes the user to the login page when the session has lapsed.
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  if (idle > 0) {
    var timer;
    var reset = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        window.location.assign("/login?expired=1");
      }, idle * 1000);
    };
    ["click", "keydown", "scroll"].forEach(function (e) {
      document.addEventListener(e, reset, { passive: true });
    });
    reset();
  }

  // Filter a table client-side as the user types (the server search still
  // works without it).
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) { return; }
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
})();
