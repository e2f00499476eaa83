// Trailmark viewer: the search page's live tail. With "Follow live" on, the
// results table names its stream (data-live); this opens it as server-sent
// events and puts each new change at the top of the table. Cells are filled
// as text, never as HTML (the values are producers' input). The browser
// reconnects by itself and sends the last event id, so the server resumes
// where the stream stopped. Without this script the page reloads itself
// every few seconds instead (<noscript> refresh).
(function () {
  "use strict";
  var table = document.querySelector("table[data-live]");
  if (!table || typeof EventSource === "undefined") {
    return;
  }
  var body = table.tBodies[0];
  var status = document.getElementById("live-status");
  var KEEP = 200;
  if (status) {
    status.textContent = "Following live: new changes appear at the top as they are journaled.";
  }
  function cell(row, text) {
    var td = row.insertCell(-1);
    if (text !== undefined) {
      td.textContent = text;
    }
    return td;
  }
  function link(td, href, text, mono) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (mono) {
      a.className = "mono";
    }
    td.appendChild(a);
  }
  var source = new EventSource(table.getAttribute("data-live"));
  source.addEventListener("open", function () {
    table.setAttribute("data-live-open", "true");
  });
  source.addEventListener("change", function (message) {
    var c;
    try {
      c = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    var row = body.insertRow(0);
    if (/^[a-z]+$/.test(c.operation)) {
      row.className = "op-" + c.operation + " live-new";
    }
    var time = document.createElement("time");
    time.setAttribute("datetime", c.iso);
    time.title = c.iso;
    time.textContent = c.time;
    cell(row).appendChild(time);
    cell(row, c.operation);
    link(cell(row), c.history_href, c.entity, false);
    cell(row, c.author);
    cell(row, c.source);
    link(cell(row), c.event_href, c.event_id, true);
    while (body.rows.length > KEEP) {
      body.deleteRow(body.rows.length - 1);
    }
    if (table.caption) {
      table.caption.textContent = body.rows.length + " change(s), newest first";
    }
    // The local-time toggle (localtime.js) rewrites the new row's time.
    document.dispatchEvent(new Event("trailmark:times-added"));
  });
  source.addEventListener("trouble", function (message) {
    if (status) {
      status.textContent = "Following live: " + message.data;
    }
  });
})();
