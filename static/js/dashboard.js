/* The dashboard: draw the server-built Plotly figures, and keep the filter query string tidy.
 * Figures arrive as JSON in <script type="application/json" id="figure-KEY"> next to <div data-figure="figure-KEY">;
 * they are drawn on page load and after every htmx swap (filters, back button). */
(function () {
  "use strict";

  var PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function topojsonURL() {
    var root = document.querySelector("[data-topojson-url]");
    return root ? root.getAttribute("data-topojson-url") : undefined;
  }

  function drawCharts(scope) {
    if (typeof Plotly === "undefined") return;
    var config = Object.assign({}, PLOT_CONFIG, { topojsonURL: topojsonURL() });
    (scope || document).querySelectorAll("[data-figure]").forEach(function (element) {
      if (element.getAttribute("data-drawn") === "true") return;
      var source = document.getElementById(element.getAttribute("data-figure"));
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      element.setAttribute("data-drawn", "true");
      Plotly.newPlot(element, figure.data, figure.layout, config);
    });
  }

  // Dates typed by hand make the period custom; a preset drops the dates from the URL (the preset says it all).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.form || target.form.id !== "dashboard-filters") return;
    if (target.name === "from" || target.name === "to") {
      target.form.elements.preset.value = "custom";
    }
  }, true);

  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "dashboard-filters") return;
    var params = event.detail.parameters;
    if (params.preset && params.preset !== "custom") {
      delete params.from;
      delete params.to;
    }
    ["from", "to", "channel", "category", "region", "store"].forEach(function (name) {
      var value = params[name];
      if (value === "" || (Array.isArray(value) && value.length === 0)) delete params[name];
    });
  });

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
  document.addEventListener("htmx:historyRestore", function () { drawCharts(document); });
})();
