/* Live console pages: every few seconds (the rate the operator picks, kept in localStorage) htmx fetches the
   page's own URL, every filter kept, and swaps in its #ops-live region (ballast/ops/templates/admin/ops/_base.html).
   Pause stops it. A refresh never throws away what the operator is doing: it waits while a form control in the
   region has focus or holds an edit, and keeps the window's scroll, each table's own scroll and open details. */
(function () {
  "use strict";
  var controls = document.getElementById("ops-live-controls");
  if (!controls || typeof htmx === "undefined") return;
  var rate = document.getElementById("ops-refresh-rate");
  var pause = document.getElementById("ops-refresh-pause");
  var status = document.getElementById("ops-live-status");
  var RATE = "ballast.ops.refresh.rate";
  var PAUSED = "ballast.ops.refresh.paused";

  function load(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function save(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  var saved = load(RATE);
  if (saved && rate.querySelector('option[value="' + saved + '"]')) rate.value = saved;
  var paused = load(PAUSED) === "1";
  var held = false;
  var problem = "";
  var updated = "";
  var timer = null;
  controls.hidden = false;

  function region() { return document.getElementById("ops-live"); }

  function describe() {
    var state = paused ? "paused" : held ? "held" : problem ? "error" : "live";
    status.dataset.state = state;
    status.textContent = {
      paused: "Paused: this page does not refresh.",
      held: "Waiting while you edit a form here (submit it, or press Resume to drop the edit).",
      error: problem,
      live: "Live" + (updated ? ", updated " + updated + " UTC" : "") + ".",
    }[state];
    pause.textContent = paused || held ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused || held));
  }

  function schedule() {
    clearInterval(timer);
    timer = paused ? null : setInterval(tick, Number(rate.value) * 1000);
    describe();
  }

  function editing() {
    var active = document.activeElement;
    var live = region();
    return !!(live && active && live.contains(active) && active.matches("input, select, textarea"));
  }

  function tick() {
    if (paused || held || document.hidden || editing() || !region()) return;
    htmx.trigger(document.body, "ops-refresh");
  }

  rate.addEventListener("change", function () { save(RATE, rate.value); schedule(); });
  pause.addEventListener("click", function () {
    if (held) { held = false; paused = false; } else { paused = !paused; }
    save(PAUSED, paused ? "1" : "0");
    schedule();
  });
  ["input", "change"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var live = region();
      if (live && live.contains(event.target)) { held = true; describe(); }
    });
  });

  // What the swap would lose, taken from the old region and given to the new one.
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target !== region()) return;
    if (event.detail.xhr.responseText.indexOf('id="ops-live"') === -1) {
      event.detail.shouldSwap = false;  // e.g. the login page once the session has ended
      problem = "Refresh failed: the page answered without its content (signed out?). Reload the page.";
      describe();
      return;
    }
    var live = region();
    kept = {
      x: window.scrollX,
      y: window.scrollY,
      tables: Array.prototype.map.call(live.querySelectorAll("table"), function (t) { return t.scrollLeft; }),
      open: Array.prototype.map.call(live.querySelectorAll("details"), function (d) { return d.open; }),
    };
  });
  document.addEventListener("htmx:afterSettle", function () {
    var live = region();
    if (!kept || !live) return;
    live.querySelectorAll("table").forEach(function (t, i) { if (kept.tables[i]) t.scrollLeft = kept.tables[i]; });
    live.querySelectorAll("details").forEach(function (d, i) { if (kept.open[i]) d.open = true; });
    if (window.scrollX !== kept.x || window.scrollY !== kept.y) window.scrollTo(kept.x, kept.y);
    kept = null;
    problem = "";
    updated = new Date().toISOString().slice(11, 19);
    status.dataset.refreshes = String(Number(status.dataset.refreshes || "0") + 1);
    describe();
  });
  document.addEventListener("htmx:responseError", function (event) {
    problem = "Refresh failed (HTTP " + event.detail.xhr.status + "); retrying.";
    describe();
  });
  document.addEventListener("htmx:sendError", function () {
    problem = "The server cannot be reached; retrying.";
    describe();
  });
  schedule();
})();
