/* Draws each trend of a console page (ballast/ops/templates/admin/ops/_chart.html) with uPlot, vendored under
   ops/vendor/: points placed by time on a UTC time axis, the unit on the value axis, durations humanised
   ("13 min"), and the time and value under the pointer in the legend. Draws again after each live refresh. */
(function () {
  "use strict";

  var STEPS = [[86400000, "d"], [3600000, "h"], [60000, "min"], [1000, "s"]];

  // The rule of ballast/ops/durations.py: the largest unit the duration fills, one decimal under ten.
  function duration(ms) {
    var size = Math.abs(ms);
    for (var i = 0; i < STEPS.length; i++) {
      if (size >= STEPS[i][0]) {
        var amount = ms / STEPS[i][0];
        return (Math.abs(amount) >= 10 ? amount.toFixed(0) : amount.toFixed(1).replace(/\.0$/, "")) + " " + STEPS[i][1];
      }
    }
    return (size >= 10 || size === 0 ? ms.toFixed(0) : ms.toFixed(1)) + " ms";
  }

  function format(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "%") return (value * 100).toFixed(1) + " %";
    if (unit === "ms") return duration(value);
    var text = value.toLocaleString("en", { maximumFractionDigits: 1 });
    return unit ? text + " " + unit : text;
  }

  function utc(seconds) {
    return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");
  }

  function draw(figure) {
    var box = figure.querySelector(".ops-chart-plot");
    if (!figure.dataset.series || !box || typeof uPlot === "undefined") return;
    var spec = JSON.parse(figure.dataset.series);
    var stamp = uPlot.fmtDate("{YYYY}-{MM}-{DD} {HH}:{mm}");
    box.textContent = "";
    var options = {
      width: Math.max(160, box.clientWidth || figure.clientWidth || 300),
      height: 150,
      tzDate: utc,
      legend: { live: true },
      scales: {
        x: { time: true, range: function (u, min, max) { return spec.start ? [spec.start, spec.end] : [min, max]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } },
      },
      series: [
        { label: "UTC", value: function (u, ts) { return ts === null ? "–" : stamp(utc(ts)); } },
        {
          label: spec.title,
          stroke: "#417690",
          width: 1.5,
          points: { show: spec.x.length <= 60 },
          value: function (u, v) { return format(v, spec.unit); },
        },
      ],
      axes: [{}, { size: 64, values: function (u, splits) { return splits.map(function (v) { return format(v, spec.unit); }); } }],
    };
    figure.opsPlot = new uPlot(options, [spec.x, spec.y], box);
    figure.dataset.drawn = "true";
  }

  function drawAll(root) {
    root.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      if (!figure.opsPlot) draw(figure);
    });
  }

  function destroyAll(root) {
    root.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      if (figure.opsPlot) figure.opsPlot.destroy();
      figure.opsPlot = null;
    });
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
        var box = figure.querySelector(".ops-chart-plot");
        if (figure.opsPlot && box) figure.opsPlot.setSize({ width: Math.max(160, box.clientWidth), height: 150 });
      });
    }, 150);
  });
  document.addEventListener("htmx:beforeSwap", function (event) { destroyAll(event.detail.target); });
  document.addEventListener("htmx:afterSettle", function () { drawAll(document); });
  drawAll(document);
})();
