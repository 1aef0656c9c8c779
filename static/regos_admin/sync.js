/* A sync run's page: while the run is queued or running, poll its status.json and reload on change. */
(function () {
  "use strict";
  var el = document.getElementById("sync-run");
  if (!el || el.getAttribute("data-active") !== "true") { return; }
  var url = el.getAttribute("data-status-url");
  var stamp = el.getAttribute("data-stamp");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.stamp !== stamp) { window.location.reload(); return; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
}());
