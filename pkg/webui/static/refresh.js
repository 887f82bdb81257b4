// Progressive enhancement: refresh the VPN session table every 5 seconds.
// The page works without it (reload to refresh).
(function () {
  "use strict";
  var t = document.getElementById("sessions");
  if (!t || !window.fetch) { return; }
  setInterval(function () {
    fetch("/vpn/sessions", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        // The server escapes everything it puts in the fragment.
        var tmpl = document.createElement("template");
        tmpl.innerHTML = html;
        var n = tmpl.content.getElementById("sessions");
        if (n) { t.replaceWith(n); t = n; }
      })
      .catch(function () {});
  }, 5000);
})();
