// The live campaign dashboard: the server renders every figure; this file only asks for them
// again. A websocket event (static/js/live.js reconnects and calls onOpen after every reconnect)
// makes htmx re-fetch the figures fragment ("campaign_activity") or the status bar ("campaign"),
// at most a few times a second; the fragment also refreshes itself on a slow interval, so a lost
// message costs at most that interval. After each swap the chart is drawn from the canvas's data-chart.
(function () {
  "use strict";
  const MIN_GAP_MS = 500;
  const COLOURS = {
    connected: "#2e7d32",
    abandoned: "#c62828",
    answered: "#f9a825",
    not_reached: "#78909c",
    in_progress: "#1e88e5",
  };
  let chart = null;

  function drawChart() {
    const canvas = document.querySelector("#figures canvas.attempts-chart");
    if (!canvas || !window.Chart) return;
    let data;
    try {
      data = JSON.parse(canvas.dataset.chart);
    } catch (error) {
      return;
    }
    if (chart) chart.destroy();
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map((set) => ({
          label: set.label,
          data: set.data,
          backgroundColor: COLOURS[set.key] || "#999",
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function throttled(eventName) {
    let last = 0;
    let timer = null;
    return function () {
      if (timer) return;
      const wait = Math.max(0, last + MIN_GAP_MS - Date.now());
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        if (window.htmx) window.htmx.trigger(document.body, eventName);
      }, wait);
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("campaign-dashboard");
    if (!root) return;
    const figures = document.getElementById("figures");
    const refreshFigures = throttled("campaign-activity");
    const refreshStatus = throttled("campaign-changed");
    drawChart();
    figures.addEventListener("htmx:afterSwap", drawChart);
    window.Live.connect({
      path: root.dataset.socket,
      onOpen: () => {
        refreshFigures();
        refreshStatus();
      },
      onEvent: (event) => {
        if (event.kind === "campaign") {
          refreshStatus();
          refreshFigures();
        } else if (event.kind === "campaign_activity") {
          refreshFigures();
        }
      },
    });
  });
})();
