// TimberDB web UI, part 2: the time histogram (stacked by level, drag to
// zoom) and the charts and tables of aggregations, drawn by hand in SVG.
// SVG text goes in with textContent, like every other piece of data.
"use strict";

// ---- histogram ------------------------------------------------------------

function windowOf(body) {
  const range = body.filter && body.filter.time_range;
  if (!range) return { start: null, end: null };
  return { start: range.start ? Date.parse(range.start) : null, end: range.end ? Date.parse(range.end) : null };
}

async function loadHistogram(seq, body) {
  const box = $("histogram");
  box.textContent = "";
  const span = histogramSpan(windowOf(body));
  if (!span) return;
  const request = { ...body, q: histogramQuery(state.q, span.name), limit: 10000 };
  try {
    const answer = await apiJson("/api/v1/query", { json: request });
    if (seq === search.seq) renderHistogram(span, answer.rows);
  } catch (error) {
    if (seq === search.seq) box.append(el("p", { class: "hint", text: "No histogram: " + error.message }));
  }
}

function renderHistogram(span, rows) {
  const box = $("histogram");
  const bucketCount = Math.max(1, Math.ceil((span.end - span.start) / span.width));
  const stacks = Array.from({ length: bucketCount }, () => ({}));
  let total = 0;
  for (const [bucket, level, count] of rows) {
    const index = Math.floor((Date.parse(bucket) - span.start) / span.width);
    if (index < 0 || index >= bucketCount || !count) continue;
    const key = level || "none";
    stacks[index][key] = (stacks[index][key] || 0) + count;
    total += count;
  }
  const highest = Math.max(1, ...stacks.map((s) => Object.values(s).reduce((a, b) => a + b, 0)));
  const width = 1000;
  const height = 100;
  const step = width / bucketCount;
  const chart = svg("svg", { viewBox: "0 0 " + width + " " + height, preserveAspectRatio: "none", class: "hist-chart", role: "img" });
  const utc = state.tz === "utc";
  stacks.forEach((stack, index) => {
    let y = height;
    for (const level of LEVELS) {
      const count = stack[level];
      if (!count) continue;
      const h = (count / highest) * (height - 4);
      y -= h;
      const bar = svg("rect", { x: index * step + step * 0.08, y, width: Math.max(0.5, step * 0.84), height: h,
        class: "bar lvl-" + level, "data-count": count, "data-level": level });
      bar.append(svg("title", { text: formatTime(span.start + index * span.width, utc) + " · " + level + ": " + count }));
      chart.append(bar);
    }
  });
  const selection = svg("rect", { class: "selection", x: 0, y: 0, width: 0, height });
  chart.append(selection);
  dragToNarrow(chart, selection, span, bucketCount);
  const axis = el("div", { class: "hist-axis" },
    el("span", { text: formatTime(span.start, utc).slice(0, 19) }),
    el("span", { class: "hist-total", id: "hist-total", "data-total": total,
      text: total + " matches · " + span.name + " buckets · drag to zoom" }),
    el("span", { text: formatTime(span.start + bucketCount * span.width, utc).slice(0, 19) }));
  box.append(chart, axis);
}

// Dragging over the histogram (or clicking one bar) narrows the range.
function dragToNarrow(chart, selection, span, bucketCount) {
  let from = null;
  const offset = (event) => {
    const box = chart.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  };
  chart.addEventListener("pointerdown", (event) => {
    from = offset(event);
    chart.setPointerCapture(event.pointerId);
  });
  chart.addEventListener("pointermove", (event) => {
    if (from === null) return;
    const to = offset(event);
    selection.setAttribute("x", Math.min(from, to) * 1000);
    selection.setAttribute("width", Math.abs(to - from) * 1000);
  });
  chart.addEventListener("pointerup", (event) => {
    if (from === null) return;
    const to = offset(event);
    const full = bucketCount * span.width;
    let start = span.start + Math.min(from, to) * full;
    let end = span.start + Math.max(from, to) * full;
    if (Math.abs(to - from) * chart.getBoundingClientRect().width < 4) {
      start = span.start + Math.min(bucketCount - 1, Math.floor(from * bucketCount)) * span.width;
      end = start + span.width;
    }
    from = null;
    writeHash({ ...state, range: "abs", from: new Date(Math.floor(start)).toISOString(), to: new Date(Math.ceil(end)).toISOString() });
  });
}

// ---- aggregations -------------------------------------------------------------

function cellText(value) {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderAggregation(answer) {
  const box = $("aggregation");
  box.textContent = "";
  box.hidden = false;
  const { columns, rows } = answer;
  if (columns.length === 2 && /^count\(/i.test(columns[1]) && rows.length) box.append(barChart(rows));
  const head = el("tr", {}, ...columns.map((c) => el("th", { text: c })));
  const body = el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((v) => el("td", { text: cellText(v) })))));
  box.append(el("div", { class: "table-wrap" }, el("table", { class: "grid agg-table" }, el("thead", {}, head), body)));
}

function barChart(rows) {
  const shown = rows.slice(0, 50);
  const highest = Math.max(1, ...shown.map((r) => Number(r[1]) || 0));
  const rowHeight = 22;
  const chart = svg("svg", { viewBox: "0 0 1000 " + shown.length * rowHeight, class: "bar-chart", role: "img" });
  shown.forEach(([key, count], i) => {
    const y = i * rowHeight;
    const label = cellText(key);
    chart.append(svg("text", { x: 290, y: y + 15, "text-anchor": "end", class: "bar-label",
      text: label.length > 40 ? label.slice(0, 39) + "…" : label }));
    chart.append(svg("rect", { x: 300, y: y + 3, height: rowHeight - 6, width: Math.max(1, ((Number(count) || 0) / highest) * 600),
      class: "agg-bar", "data-count": count }));
    chart.append(svg("text", { x: 310 + ((Number(count) || 0) / highest) * 600, y: y + 15, class: "bar-value", text: cellText(count) }));
  });
  return chart;
}

