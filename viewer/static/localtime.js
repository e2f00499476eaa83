// Trailmark viewer: the local-time toggle. The server renders every time in
// UTC (<time datetime="…Z">); with the toggle pressed this rewrites their
// text in the browser's time zone, with its offset, and the "UTC" labels
// (.tz) to that offset. The full UTC instant stays on hover (title). The
// choice is kept in this browser (localStorage). Without this script the
// pages show UTC, and nothing else depends on it.
(function () {
  "use strict";
  var KEY = "trailmark.localTime";
  var button = document.getElementById("time-toggle");
  if (!button) {
    return;
  }
  function pad(n) {
    return String(n).padStart(2, "0");
  }
  function offset(d) {
    var minutes = -d.getTimezoneOffset();
    var sign = minutes < 0 ? "-" : "+";
    minutes = Math.abs(minutes);
    return "UTC" + sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }
  function local(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function remember(el) {
    if (el.dataset.utc === undefined) {
      el.dataset.utc = el.textContent;
    }
    return el.dataset.utc;
  }
  function apply(on) {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var utc = remember(t);
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) {
        continue;
      }
      t.textContent = on ? local(d) : utc;
    }
    var zone = offset(new Date());
    var labels = document.querySelectorAll(".tz");
    for (var j = 0; j < labels.length; j++) {
      var utcLabel = remember(labels[j]);
      labels[j].textContent = on ? zone : utcLabel;
    }
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.title = on ? "Times are in this browser's zone (" + zone + "); press for UTC"
                      : "Times are in UTC; press for this browser's zone (" + zone + ")";
  }
  var on = false;
  try {
    on = window.localStorage.getItem(KEY) === "1";
  } catch (e) {
    on = false;
  }
  button.hidden = false;
  apply(on);
  button.addEventListener("click", function () {
    on = !on;
    try {
      window.localStorage.setItem(KEY, on ? "1" : "0");
    } catch (e) {
      // Storage refused (private mode): the toggle still works on this page.
    }
    apply(on);
  });
  // Times added after the page loaded (the live tail's rows) follow the
  // toggle too.
  document.addEventListener("trailmark:times-added", function () {
    apply(on);
  });
})();
