// bulkprov serve: the page's only script (served from the app, so the CSP can say script-src 'self').
// It polls a run's progress, and disables a form's button once it has been submitted.
"use strict";

(function () {
  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }

  function pollProgress(box) {
    var url = box.getAttribute("data-progress-url");
    function show(p) {
      var bar = document.getElementById("bar");
      if (bar) { bar.value = p.percent; }
      text("pct", p.percent + "%");
      text("done", p.done);
      text("failed", p.failed);
      text("total", p.total);
      text("requests", p.requests);
      text("eta", p.eta_text);
      text("phase", p.phase);
      if (p.state !== "running") {
        window.location.reload();  // the finished page is rendered by the server
        return;
      }
      window.setTimeout(poll, 400);
    }
    function poll() {
      fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(show)
        .catch(function () { window.setTimeout(poll, 2000); });
    }
    poll();
  }

  function guardForms() {
    var forms = document.querySelectorAll("form[method=post]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
      });
    });
  }

  function checkFileSize() {
    var input = document.getElementById("file");
    if (!input) { return; }
    input.addEventListener("change", function () {
      var max = parseInt(input.getAttribute("data-max-bytes"), 10);
      var file = input.files && input.files[0];
      var hint = document.getElementById("file-hint");
      if (file && max && file.size > max) {
        if (hint) { hint.textContent = input.getAttribute("data-too-large"); }  // worded by the page, in its language
      } else if (hint) {
        hint.textContent = "";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("progress");
    if (box && box.getAttribute("data-state") === "running") { pollProgress(box); }
    guardForms();
    checkFileSize();
  });
}());
