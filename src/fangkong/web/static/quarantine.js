// Fangkong quarantine pages: capacity by region as stacked bars.
// <div data-stacked-chart='{"names": [...], "series": [{"name", "colour", "values": [...]}]}'>,
// drawn like app.js draws data-chart (the page loads ECharts in its head block).
(function () {
  "use strict";

  function drawStacked(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-stacked-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var data = JSON.parse(el.dataset.stackedChart);
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: { top: 0 },
        grid: { left: 8, right: 8, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.names, axisLabel: { rotate: data.names.length > 6 ? 40 : 0 } },
        yAxis: { type: "value", minInterval: 1 },
        series: data.series.map(function (s) {
          return { type: "bar", stack: "rooms", name: s.name, data: s.values, itemStyle: { color: s.colour } };
        })
      });
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawStacked(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawStacked(event.target); });
})();
