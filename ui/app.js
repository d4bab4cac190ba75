// TimberDB web UI, part 4: state, the API, search, results and the tail.
// Plain JavaScript over the public HTTP API (docs/API.md); lang.js,
// charts.js and node.js are loaded before it.
//
// Rules this file keeps:
// - Log data is attacker-controlled: the DOM is built with createElement and
//   textContent only, never innerHTML (the page's CSP forbids inline script
//   too).
// - The URL hash holds the whole state (view, query, range, partition,
//   limit, time zone), so a search can be shared and reloaded.
// - Everything kept in the page is bounded (rows of the tail, pages loaded).
"use strict";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "none"];
const BUCKETS_MAX = 120;          // bars in the histogram, at most
const RESULT_ROWS_MAX = 20000;    // entries kept in the result list across pages
const DOWNLOAD_ROWS_MAX = 100000; // entries one download asks for
const TAIL_PENDING_MAX = 2000;    // entries held while the tail is paused
const DEFAULTS = { view: "search", q: "", range: "1h", from: "", to: "", p: "", limit: "100", tz: "local" };

const $ = (id) => document.getElementById(id);
let state = { ...DEFAULTS };
let partitions = [];
let search = { body: null, entries: [], next: null, seq: 0, aggregation: null, terms: null };
let tail = { controller: null, paused: false, pending: [], skipped: 0, seq: 0 };
let statusTimer = null;
let lastSample = null;

// ---- elements -------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  return node;
}

function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

// ---- the API --------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function apiHeaders(extra) {
  const headers = { ...(extra || {}) };
  const key = sessionStorage.getItem("timberdb-key");
  if (key) headers.Authorization = "Bearer " + key;
  return headers;
}

// A request to the API; an error answer becomes an ApiError with the
// server's code and message. 401 asks for a key.
async function api(path, options) {
  const opts = options || {};
  const init = { method: opts.method || "GET", headers: apiHeaders(opts.headers), signal: opts.signal };
  if (opts.json !== undefined) {
    init.method = opts.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.json);
  }
  const response = await fetch(path, init);
  if (response.ok) return response;
  let code = "http_" + response.status;
  let message = response.status + " " + response.statusText;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 401) {
    askForKey("The server needs an API key for this (" + message + ").");
    message = "Not authorised: this server needs an API key. " + message;
  } else if (response.status === 403) {
    message = "Forbidden: the API key does not allow this. " + message;
  }
  throw new ApiError(response.status, code, message);
}

async function apiJson(path, options) {
  return (await api(path, options)).json();
}

function askForKey(reason) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason || "An API key for this server (a key with the query role reads logs).";
  $("key-input").value = "";
  if (!dialog.open) dialog.showModal();
}

// ---- state in the URL ------------------------------------------------------

function readHash() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const next = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) {
    if (params.has(key)) next[key] = params.get(key);
  }
  return next;
}

function writeHash(next) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(next)) {
    if (value !== DEFAULTS[key] || key === "view") params.set(key, value);
  }
  const hash = "#" + params.toString();
  if (location.hash === hash) {
    onHashChange();
  } else {
    location.hash = hash;
  }
}

function controlsToState() {
  const next = { ...state, q: $("q").value.trim(), range: $("range").value, p: $("partition").value,
    limit: $("limit").value, tz: $("utc").checked ? "utc" : "local" };
  if (next.range === "abs") {
    const utc = next.tz === "utc";
    const from = parseTime($("from").value, utc);
    const to = parseTime($("to").value, utc);
    if (Number.isNaN(from) || Number.isNaN(to)) {
      throw new Error("Write times as 2026-12-03 12:00:00 (in " + (utc ? "UTC" : "local time") + ") or RFC 3339.");
    }
    next.from = from === null ? "" : new Date(from).toISOString();
    next.to = to === null ? "" : new Date(to).toISOString();
  } else {
    next.from = "";
    next.to = "";
  }
  return next;
}

function stateToControls() {
  $("q").value = state.q;
  $("range").value = state.range in RANGES || state.range === "all" ? state.range : "abs";
  $("limit").value = state.limit;
  $("utc").checked = state.tz === "utc";
  fillPartitionPicker();
  const win = timeWindow();
  // Seconds are enough to type; the URL keeps the exact instants.
  $("from").value = win.start === null ? "" : formatTime(win.start, state.tz === "utc").slice(0, 19);
  $("to").value = win.end === null ? "" : formatTime(win.end, state.tz === "utc").slice(0, 19);
}

// ---- time windows -----------------------------------------------------------

// The searched window in ms: {start, end}, either null for "unbounded".
function timeWindow() {
  if (state.range in RANGES) {
    const end = Date.now();
    return { start: end - RANGES[state.range] * 1000, end };
  }
  if (state.range === "abs") {
    return { start: state.from ? Date.parse(state.from) : null, end: state.to ? Date.parse(state.to) : null };
  }
  return { start: null, end: null };
}

// The span the histogram draws: the window, or what the partitions hold.
function histogramSpan(window) {
  let { start, end } = window;
  const chosen = partitions.filter((p) => !state.p || p.name === state.p);
  const oldest = chosen.map((p) => p.oldest_timestamp).filter(Boolean).map(Date.parse);
  const newest = chosen.map((p) => p.newest_timestamp).filter(Boolean).map(Date.parse);
  if (start === null) start = oldest.length ? Math.min(...oldest) : null;
  if (end === null) end = newest.length ? Math.max(...newest) + 1 : null;
  if (start === null || end === null || end <= start) return null;
  const [seconds, name] = WIDTHS.find(([s]) => (end - start) / (s * 1000) <= BUCKETS_MAX) || WIDTHS[WIDTHS.length - 1];
  const width = seconds * 1000;
  return { start: Math.floor(start / width) * width, end, width, name };
}

// The message as text nodes, with <mark> around matched words.
function highlighted(message, pattern) {
  const out = document.createDocumentFragment();
  if (!pattern) {
    out.append(message);
    return out;
  }
  let at = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(message); m; m = pattern.exec(message)) {
    if (m[0] === "") {
      pattern.lastIndex++;
      continue;
    }
    out.append(message.slice(at, m.index), el("mark", { text: m[0] }));
    at = m.index + m[0].length;
  }
  out.append(message.slice(at));
  return out;
}

// ---- search -----------------------------------------------------------------

function showQueryError(error, q) {
  const box = $("q-error");
  if (!error) {
    box.hidden = true;
    return;
  }
  $("q-error-message").textContent = error.message;
  const column = /column (\d+)/.exec(error.message);
  const pointer = $("q-error-pointer");
  pointer.textContent = "";
  if (column && q) {
    const at = Number(column[1]);
    pointer.append(q + "\n" + " ".repeat(Math.max(0, at - 1)), el("span", { class: "caret", text: "^ column " + at }));
    $("q").focus();
    $("q").setSelectionRange(Math.max(0, at - 1), Math.min(q.length, at));
  }
  box.hidden = false;
}

// The request body of the current search: the exact one is kept, since a
// cursor only continues the query it came from.
function searchBody() {
  const win = timeWindow();
  const body = { limit: Number(state.limit) || 100 };
  if (state.q) body.q = state.q;
  if (state.p) body.partitions = [state.p];
  if (win.start !== null || win.end !== null) {
    body.filter = { time_range: {
      start: win.start === null ? null : new Date(win.start).toISOString(),
      end: win.end === null ? null : new Date(win.end).toISOString(),
    } };
  }
  return body;
}

async function runSearch() {
  const seq = ++search.seq;
  const body = searchBody();
  search = { body, entries: [], next: null, seq, aggregation: null, terms: highlightPattern(state.q) };
  showQueryError(null);
  notice("");
  $("results").textContent = "";
  $("aggregation").hidden = true;
  $("more").hidden = true;
  $("download").disabled = true;
  $("summary").textContent = "Searching…";
  let answer;
  try {
    answer = await apiJson("/api/v1/query", { json: body });
  } catch (error) {
    if (seq !== search.seq) return;
    $("summary").textContent = "";
    $("histogram").textContent = "";
    if (error.code === "invalid_query" || error.code === "invalid_cursor") showQueryError(error, state.q);
    else notice(error.message);
    return;
  }
  if (seq !== search.seq) return;
  $("download").disabled = false;
  if (answer.columns) {
    search.aggregation = answer;
    $("histogram").textContent = "";
    renderAggregation(answer);
    $("summary").textContent = answer.group_count + " groups over " + answer.total_count + " matching entries · " +
      answer.execution_time_ms.toFixed(1) + " ms" + (answer.groups_truncated ? " · groups truncated" : "");
    return;
  }
  appendPage(answer);
  $("summary").textContent = (answer.total_count_exact ? "" : "at least ") + answer.total_count + " matches · " +
    answer.execution_time_ms.toFixed(1) + " ms";
  loadHistogram(seq, body);
}

function appendPage(answer) {
  const list = $("results");
  for (const entry of answer.entries) {
    if (search.entries.length >= RESULT_ROWS_MAX) break;
    search.entries.push(entry);
    list.append(entryRow(entry, search.terms, true));
  }
  search.next = search.entries.length < RESULT_ROWS_MAX ? answer.next : null;
  $("more").hidden = !search.next;
  if (!answer.entries.length && !search.entries.length) list.append(el("li", { class: "empty", text: "No entries match." }));
}

async function loadMore() {
  const seq = search.seq;
  const body = { ...search.body, cursor: search.next };
  $("more").disabled = true;
  try {
    const answer = await apiJson("/api/v1/query", { json: body });
    if (seq === search.seq) appendPage(answer);
  } catch (error) {
    notice(error.message);
  } finally {
    $("more").disabled = false;
  }
}

// ---- results --------------------------------------------------------------

function entryTime(entry, utc) {
  if (utc && typeof entry.timestamp === "string") return entry.timestamp.slice(0, 23).replace("T", " ");
  return formatTime(entry.timestamp_ns / 1e6, utc);
}

function entryRow(entry, pattern, expandable) {
  const level = entry.level || "none";
  const head = el("div", { class: "entry-head" },
    el("time", { class: "ts", text: entryTime(entry, state.tz === "utc") }),
    el("span", { class: "level lvl-" + level, text: entry.level || "-" }),
    el("span", { class: "source", text: entry.source || "" }),
    el("span", { class: "message" }, highlighted(entry.message || "", pattern)));
  const row = el("li", { class: "entry lvl-" + level }, head);
  if (expandable) {
    head.tabIndex = 0;
    const toggle = () => toggleDetails(row, entry);
    head.addEventListener("click", toggle);
    head.addEventListener("keydown", (e) => { if (e.key === "Enter") toggle(); });
  }
  return row;
}

function toggleDetails(row, entry) {
  const open = row.querySelector(".details");
  if (open) {
    open.remove();
    row.classList.remove("open");
    return;
  }
  row.classList.add("open");
  const table = el("table", { class: "details-table" });
  const line = (key, value, filterKey) => {
    const cell = el("td", {});
    if (filterKey) {
      cell.append(el("button", { type: "button", class: "tag-value", title: "Add " + filterKey + " to the query",
        "data-key": filterKey, text: value, onclick: () => narrow(filterKey, value) }));
    } else {
      cell.append(el("span", { class: "value", text: value }));
    }
    table.append(el("tr", {}, el("th", { text: key }), cell));
  };
  line("id", entry.id);
  line("partition", entry.partition);
  line("timestamp", entry.timestamp + " (" + formatTime(entry.timestamp_ns / 1e6, false) + " local)");
  if (entry.level) line("level", entry.level, "level");
  if (entry.source) line("source", entry.source, "source");
  for (const [key, value] of Object.entries(entry.tags || {})) line("tags." + key, value, key);
  for (const [key, value] of Object.entries(entry.fields || {})) line("fields." + key, JSON.stringify(value));
  row.append(el("div", { class: "details" }, el("pre", { class: "full-message", text: entry.message }), table));
}

function narrow(key, value) {
  writeHash({ ...state, view: "search", q: narrowedQuery(state.q, key, value) });
}

// Downloads the current result as NDJSON (an aggregation's rows as one
// object per row).
async function download() {
  let text;
  try {
    if (search.aggregation) {
      const { columns, rows } = search.aggregation;
      text = rows.map((row) => JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, row[i]])))).join("\n") + "\n";
    } else {
      const body = { ...search.body, limit: DOWNLOAD_ROWS_MAX, format: "ndjson" };
      const lines = (await (await api("/api/v1/query", { json: body })).text()).split("\n").filter(Boolean);
      const last = lines.length ? JSON.parse(lines[lines.length - 1]) : null;
      if (!last || !last.metadata) throw new Error("the download stopped early: " + (last && last.error ? last.error.message : "no end line"));
      text = lines.slice(0, -1).join("\n") + (lines.length > 1 ? "\n" : "");
    }
  } catch (error) {
    notice("Download failed: " + error.message);
    return;
  }
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
  const link = el("a", { href: url, download: "timberdb-" + new Date().toISOString().replace(/[:.]/g, "-") + ".ndjson" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- live tail --------------------------------------------------------------

function setTailStatus(text, live) {
  const status = $("tail-status");
  status.textContent = text;
  status.dataset.state = live ? "live" : "stopped";
}

function stopTail() {
  if (tail.controller) tail.controller.abort();
  tail.controller = null;
}

async function startTail() {
  stopTail();
  const controller = new AbortController();
  tail = { controller, paused: false, pending: [], skipped: 0, pattern: highlightPattern(state.q) };
  $("tail-pause").textContent = "Pause";
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.p) params.set("partitions", state.p);
  setTailStatus("connecting…");
  try {
    const response = await api("/api/v1/tail?" + params, { signal: controller.signal, headers: { Accept: "application/x-ndjson" } });
    setTailStatus("live: new entries appear at the top", true);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) tailLine(JSON.parse(line));
      }
    }
    if (tail.controller === controller) setTailStatus("the server ended the tail");
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error.code === "invalid_query") showQueryError(error, state.q);
    setTailStatus("stopped: " + error.message);
  }
}

function tailLine(line) {
  if (line.dropped) {
    tail.skipped += line.dropped;
    tailCounts();
  }
  if (!line.id) return;
  if (tail.paused) {
    tail.pending.push(line);
    if (tail.pending.length > TAIL_PENDING_MAX) {
      tail.pending.shift();
      tail.skipped++;
    }
    tailCounts();
    return;
  }
  addTailRow(line);
}

function addTailRow(entry) {
  const list = $("tail-rows");
  list.prepend(entryRow(entry, tail.pattern, true));
  const keep = Number($("tail-keep").value);
  while (list.children.length > keep) list.lastChild.remove();
}

function tailCounts() {
  const parts = [];
  if (tail.paused) parts.push("paused, " + tail.pending.length + " waiting");
  if (tail.skipped) parts.push(tail.skipped + " not shown (too fast or over the bound)");
  $("tail-counts").textContent = parts.join(" · ");
}

function togglePause() {
  tail.paused = !tail.paused;
  $("tail-pause").textContent = tail.paused ? "Resume" : "Pause";
  if (!tail.paused) {
    for (const entry of tail.pending) addTailRow(entry);
    tail.pending = [];
  }
  tailCounts();
}

// ---- views and start-up -----------------------------------------------------

function showView(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === view);
  $("search-form").hidden = view !== "search" && view !== "tail";
}

async function onHashChange() {
  state = readHash();
  if (!["search", "tail", "partitions", "status"].includes(state.view)) state.view = "search";
  stopTail();
  clearInterval(statusTimer);
  stateToControls();
  showView(state.view);
  notice("");
  if (state.view === "search") {
    await runSearch();
  } else if (state.view === "tail") {
    startTail();
  } else if (state.view === "partitions") {
    await loadPartitions();
    renderPartitions();
  } else {
    lastSample = null;
    await loadStatus();
    statusTimer = setInterval(loadStatus, 5000);
  }
}

function submit(event) {
  if (event) event.preventDefault();
  try {
    const next = controlsToState();
    writeHash({ ...next, view: state.view === "tail" ? "tail" : "search" });
  } catch (error) {
    notice(error.message);
  }
}

function keyButtonText() {
  $("key-button").textContent = sessionStorage.getItem("timberdb-key") ? "API key ✓" : "API key";
}

function wire() {
  $("search-form").addEventListener("submit", submit);
  for (const id of ["range", "partition", "limit", "utc"]) $(id).addEventListener("change", () => submit());
  for (const id of ["from", "to"]) $(id).addEventListener("input", () => { $("range").value = "abs"; });
  $("more").addEventListener("click", loadMore);
  $("download").addEventListener("click", download);
  $("tail-pause").addEventListener("click", togglePause);
  $("tail-clear").addEventListener("click", () => $("tail-rows").replaceChildren());
  $("key-button").addEventListener("click", () => askForKey());
  $("key-dialog").addEventListener("close", async () => {
    const choice = $("key-dialog").returnValue;
    if (choice === "save" && $("key-input").value.trim()) sessionStorage.setItem("timberdb-key", $("key-input").value.trim());
    if (choice === "forget") sessionStorage.removeItem("timberdb-key");
    keyButtonText();
    if (choice === "save" || choice === "forget") {
      await loadPartitions();
      onHashChange();
    }
  });
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      $("q").focus();
      $("q").select();
    } else if (event.key === "Escape" && document.activeElement === $("q")) {
      $("q").blur();
    }
  });
  window.addEventListener("hashchange", onHashChange);
}

async function start() {
  wire();
  keyButtonText();
  state = readHash();
  await loadPartitions();
  await onHashChange();
}

start();
