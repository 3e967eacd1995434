// Fangkong: the little JavaScript the pages need. Everything works without it
// (plain links and forms); with htmx loaded, forms and pagers swap #main.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries this session's CSRF token.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Charts: <div data-chart='{"names": [...], "values": [...], "title": "...", "kind": "bar"|"line"}'>.
  function drawCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var data = JSON.parse(el.dataset.chart);
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 8, top: 16, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.names, axisLabel: { rotate: data.names.length > 6 ? 40 : 0 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: data.kind === "line" ? "line" : "bar", name: data.title || "", data: data.values, itemStyle: { color: "#b3261e" } }]
      });
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // Exposure graphs: <div data-graph='{"nodes": [{"id", "name", "kind"}], "links": [{"source", "target", "transmission"}]}'>;
  // kind: case (red), close (orange), secondary (yellow), other (grey).
  var NODE_COLOURS = { "case": "#b3261e", "close": "#e8710a", "secondary": "#f9ab00", "other": "#80868b" };
  function drawGraphs(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-graph]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var data = JSON.parse(el.dataset.graph);
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        tooltip: {},
        series: [{
          type: "graph", layout: "force", roam: true, draggable: true,
          force: { repulsion: 160, edgeLength: 70 },
          label: { show: true, position: "right" },
          edgeSymbol: ["none", "arrow"],
          data: data.nodes.map(function (n) {
            return { id: String(n.id), name: n.name, symbolSize: n.kind === "case" ? 22 : 14,
                     itemStyle: { color: NODE_COLOURS[n.kind] || NODE_COLOURS.other } };
          }),
          links: data.links.map(function (l) {
            return { source: String(l.source), target: String(l.target),
                     lineStyle: { width: l.transmission ? 3 : 1, type: l.transmission ? "solid" : "dashed" } };
          })
        }]
      });
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); drawGraphs(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); drawGraphs(event.target); });
})();
