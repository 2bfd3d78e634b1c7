// Live updates: server-sent events from /live. Each event fires `csmslive` on the body, which
// the page's htmx parts listen for (they re-fetch themselves); the overview lists the events.
// EventSource reconnects by itself and sends Last-Event-ID, so the server replays what was missed.
(function () {
  "use strict";
  if (!window.EventSource || !document.body || !document.body.dataset.live) {
    return;
  }
  var source = new EventSource("/live");
  // Open: the server is bound to the events by now (tests wait on this attribute).
  source.addEventListener("open", function () { document.body.dataset.liveOpen = "1"; });
  // `csmslive` at most once a second, and always once after the last event: the page's parts
  // re-read themselves on it, so a burst (a transaction starts, its connector turns Charging)
  // costs one read, and the read after the burst sees its last change. (htmx's own throttle
  // drops the events of the second after a read, the last one too.)
  var SPACING_MS = 1000;
  var lastFired = 0;
  var timer = null;
  var pending = null;
  function fire(detail) {
    pending = detail;
    if (timer !== null) { return; }
    timer = setTimeout(function () {
      timer = null;
      lastFired = Date.now();
      var latest = pending;
      pending = null;
      document.body.dispatchEvent(new CustomEvent("csmslive", { detail: latest }));
    }, Math.max(0, lastFired + SPACING_MS - Date.now()));
  }
  function describe(event) {
    var parts = [event.at || "", event.event || "", event.chargePointId || ""];
    if (event.connectorId !== undefined) { parts.push("#" + event.connectorId); }
    if (event.status) { parts.push(event.status); }
    if (event.transactionId !== undefined) { parts.push("transaction " + event.transactionId); }
    return parts.join(" ").trim();
  }
  source.addEventListener("change", function (message) {
    var event = JSON.parse(message.data);
    fire(event);
    var list = document.getElementById("live-events");
    if (list) {
      var item = document.createElement("li");
      item.textContent = describe(event);  // text, never HTML
      list.insertBefore(item, list.firstChild);
      while (list.children.length > 20) { list.removeChild(list.lastChild); }
    }
  });
  source.addEventListener("resync", function () { fire({}); });
  // The session ended (logout, disabled, expired): stop, and let the reload go to the login.
  source.addEventListener("ended", function () { source.close(); window.location.reload(); });
})();
