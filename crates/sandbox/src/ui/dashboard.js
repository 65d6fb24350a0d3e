// The dashboard's only behaviour: call the sandbox's own control endpoints,
// say what happened, and reload. Everything shown is rendered (escaped) by
// the server; nothing here writes HTML.
(function () {
  "use strict";
  var toast = document.getElementById("toast");

  function say(text, ok) {
    toast.textContent = text;
    toast.className = "toast " + (ok ? "toast-ok" : "toast-bad");
    toast.hidden = false;
  }

  function summary(status, body) {
    try {
      var value = JSON.parse(body);
      if (value.error) { return value.error; }
      if (value.delivery) {
        var d = value.delivery;
        // M-Pesa reports its result as {name, code}.
        var outcome = value.outcome && typeof value.outcome === "object" ? value.outcome.name : value.outcome;
        if (d.status) { return value.provider + " " + value.id + " " + outcome + "; notification answered " + d.status; }
        return value.provider + " " + value.id + " " + outcome + "; notification not delivered: " + (d.error || "no URL");
      }
      if (typeof value.cleared === "number") { return "cleared " + value.cleared; }
    } catch (e) { /* not JSON */ }
    return "HTTP " + status;
  }

  function call(method, url, body) {
    var init = { method: method, headers: {} };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        say(summary(response.status, text), response.ok);
        if (response.ok) { setTimeout(function () { location.reload(); }, 700); }
      });
    }).catch(function (err) { say(String(err), false); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-call]");
    if (!button) { return; }
    var parts = button.getAttribute("data-call").split(" ");
    button.disabled = true;
    call(parts[0], parts[1]);
  });

  var form = document.getElementById("fault-form");
  function showFields() {
    var kind = form.elements.kind.value;
    form.querySelectorAll(".for-slow").forEach(function (el) { el.hidden = kind !== "slow"; });
    form.querySelectorAll(".for-status").forEach(function (el) { el.hidden = kind !== "status"; });
  }
  form.elements.kind.addEventListener("change", showFields);
  showFields();
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var e = form.elements;
    var fault = { target: e.target.value, kind: e.kind.value, times: e.times.value === "" ? null : Number(e.times.value) };
    if (fault.kind === "slow") { fault.delay_ms = Number(e.delay_ms.value); }
    if (fault.kind === "status") { fault.status = Number(e.status.value); fault.body = e.body.value; }
    call("POST", "/_sandbox/faults", fault);
  });

  var auto = document.getElementById("auto-refresh");
  auto.checked = localStorage.getItem("finconnect-sandbox-refresh") === "on";
  auto.addEventListener("change", function () {
    localStorage.setItem("finconnect-sandbox-refresh", auto.checked ? "on" : "off");
    if (auto.checked) { location.reload(); }
  });
  if (auto.checked) { setTimeout(function () { location.reload(); }, 3000); }
})();
