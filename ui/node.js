// TimberDB web UI, part 3: the partitions list and the node status page
// (from /health, /ready and /metrics).
"use strict";

// ---- partitions -------------------------------------------------------------

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
}

async function loadPartitions() {
  try {
    partitions = (await apiJson("/api/v1/partitions")).partitions || [];
  } catch (error) {
    partitions = [];
    notice(error.message);
  }
  fillPartitionPicker();
}

function fillPartitionPicker() {
  const picker = $("partition");
  const names = partitions.map((p) => p.name);
  if (state.p && !names.includes(state.p)) names.push(state.p);
  picker.replaceChildren(el("option", { value: "", text: "All partitions" }), ...names.map((n) => el("option", { value: n, text: n })));
  picker.value = state.p;
}

function renderPartitions() {
  const utc = state.tz === "utc";
  const when = (t) => (t ? formatTime(Date.parse(t), utc) : "-");
  const head = el("tr", {}, ...["Partition", "Entries", "Bytes on disk", "Blocks", "Retention", "Size budget", "Oldest", "Newest"]
    .map((c) => el("th", { text: c })));
  const rows = partitions.map((p) => {
    const retention = p.retention || {};
    const days = retention.effective_retention_days;
    return el("tr", { class: "partition-row" },
      el("td", {}, el("a", { href: "#" + new URLSearchParams({ view: "search", range: "all", p: p.name }), text: p.name })),
      el("td", { class: "num", text: String(p.entry_count) }),
      el("td", { class: "num", text: formatBytes(p.bytes_on_disk) }),
      el("td", { class: "num", text: String(p.blocks) }),
      el("td", { text: days ? days + " days" : "forever" }),
      el("td", { text: formatBytes(retention.effective_max_storage_size) }),
      el("td", { text: when(p.oldest_timestamp) }),
      el("td", { text: when(p.newest_timestamp) }));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 8, text: "No partitions yet." })));
  $("partitions-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

// ---- node status ------------------------------------------------------------

// Prometheus text: name -> [{labels, value}].
function parseMetrics(text) {
  const series = new Map();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    if (!series.has(m[1])) series.set(m[1], []);
    series.get(m[1]).push({ labels, value: Number(m[3]) });
  }
  return series;
}

function metricSum(series, name, where) {
  return (series.get(name) || []).filter((s) => !where || where(s.labels)).reduce((a, s) => a + s.value, 0);
}

function card(title, rows) {
  return el("div", { class: "card" }, el("h3", { text: title }),
    el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
}

async function loadStatus() {
  const cards = [];
  try {
    const health = await apiJson("/health");
    cards.push(card("Node", [["node", health.node_id], ["version", health.version], ["shards", String(health.shards)]]));
    let readiness = "ready";
    try {
      await apiJson("/ready");
    } catch (error) {
      readiness = error.status + " " + error.code + ": " + error.message;
    }
    cards.push(card("Readiness", [["/ready", readiness]]));
    const series = parseMetrics(await (await api("/metrics")).text());
    cards.push(...statusCards(series));
  } catch (error) {
    cards.push(card("Error", [["", error.message]]));
  }
  $("status-cards").replaceChildren(...cards);
}

function statusCards(series) {
  const now = performance.now();
  const sample = { now, entries: metricSum(series, "timberdb_ingest_entries_total"), bytes: metricSum(series, "timberdb_ingest_bytes_total") };
  let rate = "measuring… (next refresh in 5 s)";
  if (lastSample && now > lastSample.now) {
    const seconds = (now - lastSample.now) / 1000;
    rate = ((sample.entries - lastSample.entries) / seconds).toFixed(1) + " entries/s · " +
      formatBytes(Math.round((sample.bytes - lastSample.bytes) / seconds)) + "/s";
  }
  lastSample = sample;
  const fs = (directory) => {
    const where = (l) => l.directory === directory;
    const size = metricSum(series, "timberdb_filesystem_size_bytes", where);
    const free = metricSum(series, "timberdb_filesystem_free_bytes", where);
    return size ? formatBytes(size - free) + " used of " + formatBytes(size) + " (" + formatBytes(free) + " free)" : "-";
  };
  const flag = (name) => (metricSum(series, name) ? "yes" : "no");
  return [
    card("Ingest", [["rate", rate], ["entries", String(sample.entries)], ["bytes", formatBytes(sample.bytes)],
      ["rejected requests", String(metricSum(series, "timberdb_ingest_rejected_total"))]]),
    card("Disk", [["data filesystem", fs("data")], ["WAL filesystem", fs("wal")],
      ["partitions on disk", formatBytes(metricSum(series, "timberdb_partition_bytes_on_disk"))],
      ["unsealed in memory", formatBytes(metricSum(series, "timberdb_active_block_bytes"))]]),
    card("Queries", [["queries", String(metricSum(series, "timberdb_query_requests_total"))],
      ["timed out", String(metricSum(series, "timberdb_queries_timed_out_total"))],
      ["HTTP errors", String(metricSum(series, "timberdb_http_errors_total"))]]),
    card("Health", [["writes stopped", flag("timberdb_writes_stopped")], ["disk full", flag("timberdb_disk_full")],
      ["storage limit reached", flag("timberdb_storage_limit_reached")]]),
  ];
}

