// Draws every <figure class="chart" data-src="/api/..."> from the JSON it names, with
// Chart.js (served from this app: no CDN), and puts the numbers in the table beside it.
// Text goes in through textContent only; no inline styles, no eval (the page's CSP).
"use strict";

const PALETTE = ["#2e6da4", "#e08a1e", "#3a9a5b", "#8c8c8c", "#c0392b"];

function fillTable(table, data) {
  const head = table.createTHead().insertRow();
  const body = table.createTBody();
  let columns;
  let rows;
  if (data.table) {
    columns = data.table.columns;
    rows = data.table.rows;
  } else {
    columns = ["week"].concat(data.series.map((s) => s.label));
    rows = data.labels.map((label, i) => [label].concat(data.series.map((s) => s.values[i])));
  }
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = column;
    head.appendChild(th);
  }
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) {
      tr.insertCell().textContent = String(value);
    }
  }
}

function draw(figure, data) {
  const canvas = figure.querySelector("canvas");
  const stacked = Boolean(data.stacked);
  const datasets = data.series.map((s, i) => ({
    label: s.label,
    type: s.type || "bar",
    data: s.values,
    backgroundColor: s.color || PALETTE[i % PALETTE.length],
    borderColor: s.color || PALETTE[i % PALETTE.length],
    borderWidth: s.type === "line" ? 2 : 0,
    pointRadius: s.type === "line" ? 2 : 0,
    order: s.type === "line" ? 0 : 1,
  }));
  const y = { stacked: stacked, beginAtZero: true };
  if (data.unit === "%") {
    y.ticks = { callback: (v) => v + "%" };
    if (stacked) {
      y.max = 100;
    }
  }
  new window.Chart(canvas, {
    data: { labels: data.labels, datasets: datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: { stacked: stacked }, y: y },
      plugins: { legend: { position: "bottom" } },
    },
  });
  figure.classList.add("drawn");
}

async function load(figure) {
  try {
    const response = await fetch(figure.dataset.src, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(response.status + " " + response.statusText);
    }
    const data = await response.json();
    fillTable(figure.querySelector("table"), data);
    draw(figure, data);
  } catch (error) {
    const note = document.createElement("p");
    note.className = "error";
    note.textContent = "The chart could not be drawn: " + error.message;
    figure.appendChild(note);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("figure.chart[data-src]")) {
    load(figure);
  }
});
