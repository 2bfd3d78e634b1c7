// The charge point page's Messages section follows the message log: server-sent events from the
// table's `data-live` URL, one rendered row per frame (the server's HTML, escaped there: never
// built here from a record's text). A row already shown (same data-position) is skipped, which
// covers the few seconds the server reads again. One stream at a time: the section swapped out
// (a message id, "show all", a resync) closes it.
(function () {
  "use strict";
  var KEPT = 200;
  var RESYNC_GAP_MS = 5000;  // a flood reloads the section at most this often
  var current = null;  // {table, source}
  var lastResync = 0;

  function close() {
    if (current) {
      current.source.close();
      current = null;
    }
  }

  function shown(tbody, position) {
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-position") === position) { return true; }
    }
    return false;
  }

  function insert(table, html) {
    var tbody = table.tBodies[0];
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    var row = holder.querySelector("tr[data-position]");
    if (!tbody || !row || shown(tbody, row.getAttribute("data-position"))) { return; }
    var empty = tbody.querySelector("tr[data-empty]");
    if (empty) { empty.remove(); }
    tbody.insertBefore(row, tbody.firstChild);
    if (window.htmx) { window.htmx.process(row); }  // its message id link
    while (tbody.rows.length > KEPT) { tbody.deleteRow(-1); }
  }

  function resync(table) {
    close();
    var wait = Math.max(0, lastResync + RESYNC_GAP_MS - Date.now());
    setTimeout(function () {
      lastResync = Date.now();
      if (table.isConnected && window.htmx) {
        window.htmx.ajax("GET", table.getAttribute("data-section"), "#cp-messages");
      }
    }, wait);
  }

  function follow() {
    var table = document.getElementById("cp-messages-table");
    if (current && current.table === table) { return; }
    close();
    if (!window.EventSource || !table || !table.getAttribute("data-live")) { return; }
    var source = new EventSource(table.getAttribute("data-live"));
    current = { table: table, source: source };
    // Open: frames logged from now on reach the table (tests wait on this attribute).
    source.addEventListener("open", function () { table.setAttribute("data-live-open", "1"); });
    source.addEventListener("frame", function (message) {
      if (!table.isConnected) { close(); return; }
      insert(table, message.data);
    });
    source.addEventListener("resync", function () { resync(table); });
    source.addEventListener("ended", function () { close(); });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (current && event.detail.target && event.detail.target.contains(current.table)) { close(); }
  });
  document.addEventListener("htmx:afterSettle", follow);
  follow();
})();
