// Flow charts (Chart.js, vendored): drawn from the JSON the page carries, then refreshed every 10 s from
// /flow/data with the same filters, without reloading the page.
(function () {
  "use strict";
  var palette = ["#b3261e", "#c2620a", "#0b57d0", "#3c6e47", "#7b3fa0", "#00838f", "#8a8f98"];
  var urgencyColours = { critical: "#b3261e", high: "#c2620a", medium: "#c9a800", low: "#3c6e47" };
  var charts = {};

  function datasets(data) {
    return Object.keys(data.series).map(function (name, i) {
      var colour = urgencyColours[name] || palette[i % palette.length];
      return { label: name, data: data.series[name], borderColor: colour, backgroundColor: colour,
               borderWidth: 2, pointRadius: data.labels.length < 3 ? 4 : 0, tension: 0.2 };
    });
  }

  function labels(data) {
    return data.labels.map(function (iso) { return iso.slice(5, 16).replace("T", " "); });
  }

  function draw(name, data) {
    var canvas = document.querySelector('canvas[data-chart="' + name + '"]');
    if (!canvas || typeof Chart === "undefined") { return; }
    if (charts[name]) {
      charts[name].data.labels = labels(data);
      charts[name].data.datasets = datasets(data);
      charts[name].update("none");
      return;
    }
    charts[name] = new Chart(canvas, {
      type: "line", data: { labels: labels(data), datasets: datasets(data) },
      options: { animation: false, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 8 } } },
                 plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } }
    });
  }

  // The same figures as a table (under each chart, for keyboards and screen readers): the total per line.
  function tabulate(name, data) {
    var body = document.querySelector('table[data-table-for="' + name + '"] tbody');
    if (!body) { return; }
    var rows = Object.keys(data.series).map(function (value) {
      var tr = document.createElement("tr");
      var total = data.series[value].reduce(function (a, b) { return a + b; }, 0);
      [value, String(total)].forEach(function (text) {
        var td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      return tr;
    });
    if (!rows.length) {
      var none = document.createElement("tr");
      none.innerHTML = '<td colspan="2">—</td>';
      rows = [none];
    }
    body.replaceChildren.apply(body, rows);
  }

  function start() {
    var holder = document.getElementById("charts");
    if (!holder) { return; }
    document.querySelectorAll("script[data-for]").forEach(function (el) {
      draw(el.getAttribute("data-for"), JSON.parse(el.textContent));
    });
    setInterval(function () {
      fetch(holder.getAttribute("data-source"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) { return; }
          Object.keys(body.charts).forEach(function (name) {
            draw(name, body.charts[name]);
            tabulate(name, body.charts[name]);
          });
          var total = document.querySelector('[data-testid="flow-total"]');
          if (total) { total.textContent = body.total; }
        })
        .catch(function () { /* the next tick tries again */ });
    }, 10000);
  }

  document.addEventListener("DOMContentLoaded", start);
}());
