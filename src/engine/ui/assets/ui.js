// ferrostream web UI: fills the pages from the JSON API (/api/v1, Spark's field names) and keeps
// them current without a reload. Charts: Chart.js (vendored, served from /static).
"use strict";
(function () {
  const body = document.body.dataset;
  const api = "/api/v1/applications/" + encodeURIComponent(body.app);
  const REFRESH_MS = 1000;

  function getJSON(url) {
    return fetch(url, { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function pad(n, w) { return String(n).padStart(w || 2, "0"); }

  // As Spark's UIUtils.formatDate: 2026/01/31 12:00:00 (local time).
  // With milliseconds when batches are shorter than a second (as Spark's batch tables).
  function formatTime(ms, millis) {
    const d = new Date(ms);
    return d.getFullYear() + "/" + pad(d.getMonth() + 1) + "/" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (millis ? "." + pad(d.getMilliseconds(), 3) : "");
  }

  function clockTime(ms) {
    const d = new Date(ms);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  // As Spark's UIUtils.formatDuration: 15 ms, 1.2 s, 2.0 min, 1.5 h.
  function formatDuration(ms) {
    if (ms === undefined || ms === null) { return "-"; }
    if (ms < 100) { return ms + " ms"; }
    const s = ms / 1000;
    if (s < 60) { return s.toFixed(1) + " s"; }
    const m = s / 60;
    if (m < 60) { return m.toFixed(1) + " min"; }
    return (m / 60).toFixed(1) + " h";
  }

  function formatRate(r) {
    return r === undefined || r === null ? "-" : r.toFixed(2) + " records/sec";
  }

  function text(s) {
    const span = document.createElement("span");
    span.textContent = s === undefined || s === null ? "" : String(s);
    return span.innerHTML;
  }

  function fillRows(table, rows) {
    const tbody = document.querySelector(table + " tbody");
    tbody.innerHTML = rows.map(function (cells) {
      return "<tr>" + cells.map(function (c) { return "<td>" + c + "</td>"; }).join("") + "</tr>";
    }).join("");
  }

  function updateUptime() {
    const el = document.getElementById("uptime");
    if (el) { el.textContent = formatDuration(Date.now() - Number(body.start)); }
    document.querySelectorAll(".time[data-ms]").forEach(function (t) {
      t.textContent = formatTime(Number(t.dataset.ms));
    });
  }

  // -- charts -------------------------------------------------------------------------

  const charts = {};

  function chart(id, kind, unit) {
    if (charts[id]) { return charts[id]; }
    const canvas = document.getElementById(id);
    const timeline = kind === "line";
    charts[id] = new Chart(canvas, {
      type: kind,
      data: { labels: [], datasets: [{ data: [], label: unit, borderColor: "#4682b4",
        backgroundColor: timeline ? "rgba(70,130,180,0.15)" : "rgba(70,130,180,0.6)",
        pointRadius: 2, fill: timeline, tension: 0 }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: timeline ? {
          x: { type: "linear", ticks: { callback: function (v) { return clockTime(v); }, maxTicksLimit: 6 } },
          y: { beginAtZero: true, title: { display: true, text: unit } }
        } : {
          x: { title: { display: true, text: unit } },
          y: { beginAtZero: true, title: { display: true, text: "batches" }, ticks: { precision: 0 } }
        }
      }
    });
    return charts[id];
  }

  function histogram(values, bins) {
    if (values.length === 0) { return { labels: [], counts: [] }; }
    const lo = Math.min.apply(null, values);
    const hi = Math.max.apply(null, values);
    const width = hi > lo ? (hi - lo) / bins : 1;
    const counts = new Array(hi > lo ? bins : 1).fill(0);
    values.forEach(function (v) {
      counts[Math.min(counts.length - 1, Math.floor((v - lo) / width))] += 1;
    });
    const labels = counts.map(function (_, i) {
      return (lo + i * width).toFixed(width < 10 ? 1 : 0);
    });
    return { labels: labels, counts: counts };
  }

  function drawMetric(name, unit, points) {
    const line = chart("timeline-" + name, "line", unit);
    line.data.datasets[0].data = points.map(function (p) { return { x: p[0], y: p[1] }; });
    line.update("none");
    const h = histogram(points.map(function (p) { return p[1]; }), 10);
    const bars = chart("histogram-" + name, "bar", unit);
    bars.data.labels = h.labels;
    bars.data.datasets[0].data = h.counts;
    bars.update("none");
    document.getElementById("timeline-" + name).dataset.points = String(points.length);
  }

  // -- Streaming tab ------------------------------------------------------------------

  function opsCell(b) {
    let s = b.numCompletedOutputOps + "/" + b.numTotalOutputOps;
    if (b.numFailedOutputOps > 0) { s += " <span class=\"failed\">(" + b.numFailedOutputOps + " failed)</span>"; }
    return s;
  }

  function batchLink(b) {
    return "<a href=\"/streaming/batch/?id=" + b.batchId + "\">" +
      formatTime(b.batchId, b.batchDuration < 1000) + "</a>";
  }

  function refreshStreaming() {
    return Promise.all([
      getJSON(api + "/streaming/statistics"),
      getJSON(api + "/streaming/batches"),
      getJSON(api + "/streaming/receivers")
    ]).then(function (all) {
      const stats = all[0], batches = all[1], receivers = all[2];
      const started = Date.parse(stats.startTime.replace("GMT", "Z"));
      if (started < 0) {
        document.getElementById("summary").textContent = "The StreamingContext has not started yet.";
        return;
      }
      document.getElementById("summary").innerHTML =
        "Running batches of <strong>" + formatDuration(stats.batchDuration) + "</strong> for <strong>" +
        formatDuration(Date.now() - started) + "</strong> since <strong>" + formatTime(started) +
        "</strong> (<strong>" + stats.numTotalCompletedBatches + "</strong> completed batches, <strong>" +
        stats.numReceivedRecords + "</strong> records)";
      const done = batches.filter(function (b) { return b.status === "COMPLETED"; }).reverse();
      const secs = stats.batchDuration / 1000;
      drawMetric("inputRate", "records/sec", done.map(function (b) { return [b.batchId, b.inputSize / secs]; }));
      drawMetric("schedulingDelay", "ms", done.map(function (b) { return [b.batchId, b.schedulingDelay]; }));
      drawMetric("processingTime", "ms", done.map(function (b) { return [b.batchId, b.processingTime]; }));
      drawMetric("totalDelay", "ms", done.map(function (b) { return [b.batchId, b.totalDelay]; }));
      document.getElementById("avg-inputRate").textContent = "Avg: " + formatRate(stats.avgInputRate);
      document.getElementById("avg-schedulingDelay").textContent = "Avg: " + formatDuration(stats.avgSchedulingDelay);
      document.getElementById("avg-processingTime").textContent = "Avg: " + formatDuration(stats.avgProcessingTime);
      document.getElementById("avg-totalDelay").textContent = "Avg: " + formatDuration(stats.avgTotalDelay);
      fillRows("#receivers", receivers.map(function (r) {
        return [text(r.streamName),
          r.isActive === undefined ? "-" : (r.isActive ? "ACTIVE" : "INACTIVE"),
          text(r.executorHost || "-"), formatRate(r.avgEventRate),
          r.lastErrorTime ? formatTime(Date.parse(r.lastErrorTime.replace("GMT", "Z"))) : "-",
          "<div class=\"error\">" + text(r.lastErrorMessage || "-") + "</div>"];
      }));
      const active = batches.filter(function (b) { return b.status !== "COMPLETED"; });
      document.getElementById("active-title").textContent = "Active Batches (" + active.length + ")";
      fillRows("#active-batches", active.map(function (b) {
        return [batchLink(b), b.inputSize + " records", formatDuration(b.schedulingDelay),
          formatDuration(b.processingTime), opsCell(b), b.status.toLowerCase()];
      }));
      document.getElementById("completed-title").textContent = "Completed Batches (last " +
        stats.numRetainedCompletedBatches + " out of " + stats.numTotalCompletedBatches + ")";
      fillRows("#completed-batches", done.slice().reverse().map(function (b) {
        return [batchLink(b), b.inputSize + " records", formatDuration(b.schedulingDelay),
          formatDuration(b.processingTime), formatDuration(b.totalDelay), opsCell(b)];
      }));
    });
  }

  // -- one batch ----------------------------------------------------------------------

  function refreshBatch() {
    const id = new URLSearchParams(window.location.search).get("id");
    return Promise.all([
      getJSON(api + "/streaming/batches/" + id),
      getJSON(api + "/streaming/batches/" + id + "/operations")
    ]).then(function (all) {
      const b = all[0], ops = all[1];
      document.querySelector("main h2").textContent =
        "Details of batch at " + formatTime(b.batchId, b.batchDuration < 1000);
      document.getElementById("batch-facts").innerHTML =
        "<li><strong>Batch Duration:</strong> " + formatDuration(b.batchDuration) + "</li>" +
        "<li><strong>Input data size:</strong> " + b.inputSize + " records</li>" +
        "<li><strong>Scheduling delay:</strong> " + formatDuration(b.schedulingDelay) + "</li>" +
        "<li><strong>Processing time:</strong> " + formatDuration(b.processingTime) + "</li>" +
        "<li><strong>Total delay:</strong> " + formatDuration(b.totalDelay) + "</li>" +
        "<li><strong>Status:</strong> " + b.status + "</li>";
      fillRows("#operations", ops.map(function (o) {
        const status = o.failureReason ? "<span class=\"failed\">Failed</span>" :
          (o.endTime ? "Succeeded" : "Running");
        return [String(o.outputOpId), text(o.description), formatDuration(o.duration), status,
          "<div class=\"error\">" + text(o.failureReason || "") + "</div>"];
      }));
    });
  }

  function loop(refresh) {
    const again = function () { window.setTimeout(function () { loop(refresh); }, REFRESH_MS); };
    refresh().then(again, function (e) { console.warn(e); again(); });
  }

  updateUptime();
  window.setInterval(updateUptime, 1000);
  if (body.page === "streaming") { loop(refreshStreaming); }
  if (body.page === "batch") { loop(refreshBatch); }
})();
