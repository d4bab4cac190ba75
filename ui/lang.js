// TimberDB web UI, part 1: time and the query language, pure functions
// (no DOM, no state), used by app.js.
"use strict";

const RANGES = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 };
// Histogram bucket widths the server's bucket() takes, narrowest first.
const WIDTHS = [[1, "1s"], [5, "5s"], [10, "10s"], [30, "30s"], [60, "1m"], [300, "5m"], [600, "10m"],
  [1800, "30m"], [3600, "1h"], [10800, "3h"], [21600, "6h"], [43200, "12h"], [86400, "1d"], [604800, "7d"]];

// ---- time -----------------------------------------------------------------

function pad(n, width) {
  return String(n).padStart(width || 2, "0");
}

// "YYYY-MM-DD HH:MM:SS.mmm" in UTC or local time.
function formatTime(ms, utc) {
  const d = new Date(ms);
  const parts = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  return parts[0] + "-" + pad(parts[1]) + "-" + pad(parts[2]) + " " + pad(parts[3]) + ":" + pad(parts[4]) + ":" +
    pad(parts[5]) + "." + pad(parts[6], 3);
}

// Milliseconds since the epoch; null for an empty text, NaN when unreadable.
function parseTime(text, utc) {
  const t = text.trim();
  if (!t) return null;
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3})\d*)?)?)?$/.exec(t);
  if (m) {
    const n = m.slice(1).map((v) => (v === undefined ? 0 : Number(v)));
    const ms = m[7] ? Number(m[7].padEnd(3, "0")) : 0;
    return utc ? Date.UTC(n[0], n[1] - 1, n[2], n[3], n[4], n[5], ms)
      : new Date(n[0], n[1] - 1, n[2], n[3], n[4], n[5], ms).getTime();
  }
  return /[zZ]|[+-]\d\d:\d\d$/.test(t) ? Date.parse(t) : NaN;
}

// ---- the query language ----------------------------------------------------

const isSql = (q) => /^\s*select\b/i.test(q);

function sqlString(text) {
  return "'" + text.replace(/'/g, "''") + "'";
}

// The top-level clauses of `SELECT * [FROM ..] [WHERE ..] [ORDER BY ..]
// [LIMIT ..] [OFFSET ..]`, found outside quotes and parentheses.
function sqlClauses(q) {
  const marks = [];
  let depth = 0;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (c === "'" || c === '"') {
      const end = q.indexOf(c, i + 1);
      if (end < 0) break;
      i = end;
      continue;
    }
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && /\s/.test(q[i - 1] || " ")) {
      const word = /^(from|where|order\s+by|group\s+by|limit|offset)\b/i.exec(q.slice(i));
      if (word) marks.push([word[1].toLowerCase().replace(/\s+/, " "), i, i + word[0].length]);
    }
  }
  const clauses = {};
  marks.forEach(([name, , bodyStart], k) => {
    const end = k + 1 < marks.length ? marks[k + 1][1] : q.length;
    clauses[name] = q.slice(bodyStart, end).trim();
  });
  return clauses;
}

// The histogram's aggregation for the user's query.
function histogramQuery(q, bucketName) {
  const head = "SELECT bucket(timestamp, " + sqlString(bucketName) + ") AS t, level, count(*)";
  const tailText = " GROUP BY t, level";
  if (!q) return head + tailText;
  if (!isSql(q)) return head + " WHERE SEARCH(" + sqlString(q) + ")" + tailText;
  const clauses = sqlClauses(q);
  return head + (clauses.from ? " FROM " + clauses.from : "") + (clauses.where ? " WHERE " + clauses.where : "") + tailText;
}

// Escapes what the search form would read as syntax (as the server's
// display of a query does).
function searchEscape(text) {
  return text.replace(/[^\p{L}\p{N}_.\-@]/gu, (c) => "\\" + c);
}

// The query with `key = value` added, in the query's own form.
function narrowedQuery(q, key, value) {
  if (!isSql(q)) return (q ? q + " " : "") + searchEscape(key) + ":" + searchEscape(value);
  const field = key === "level" || key === "source" ? key : "tags." + key;
  const condition = field + " = " + sqlString(value);
  const clauses = sqlClauses(q);
  let out = "SELECT *" + (clauses.from ? " FROM " + clauses.from : "");
  out += " WHERE " + (clauses.where ? "(" + clauses.where + ") AND " : "") + condition;
  for (const name of ["order by", "limit", "offset"]) {
    if (clauses[name]) out += " " + name.toUpperCase() + " " + clauses[name];
  }
  return out;
}

// The words a query looks for in messages, as one regular expression.
function highlightPattern(q) {
  const terms = [];
  const fromSearch = (text) => {
    const tokens = text.match(/-?"(?:[^"\\]|\\.)*"|-?\/(?:[^/\\]|\\.)*\/|[^\s()]+/g) || [];
    for (const token of tokens) {
      if (/^(-|NOT$|OR$|AND$)/.test(token) || /^[\p{L}_][^:\s]*:/u.test(token) || token.startsWith("/")) continue;
      if (token.startsWith('"')) {
        terms.push(...token.slice(1, -1).replace(/\\(.)/g, "$1").split(/[^\p{L}\p{N}_]+/u).filter(Boolean));
      } else {
        terms.push(token.replace(/\\(.)/g, "$1").replace(/~\d?$/, ""));
      }
    }
  };
  if (isSql(q)) {
    // CONTAINS and LIKE match inside words: marked "=" for no boundaries.
    for (const m of q.matchAll(/\b(?:contains|like)\s+'((?:[^']|'')*)'/gi)) {
      terms.push(...m[1].replace(/''/g, "'").split(/[%_]/).filter(Boolean).map((t) => "=" + t));
    }
    for (const m of q.matchAll(/\bsearch\s*\(\s*'((?:[^']|'')*)'/gi)) fromSearch(m[1].replace(/''/g, "'"));
  } else {
    fromSearch(q);
  }
  const literal = (t) => t.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const parts = terms.filter((t) => t.trim() && t !== "=").map((t) => {
    if (t.startsWith("=")) return literal(t.slice(1));
    const body = t.split(/([*?])/).map((p) => (p === "*" ? "[\\p{L}\\p{N}_]*" : p === "?" ? "[\\p{L}\\p{N}_]" : literal(p))).join("");
    return "(?<![\\p{L}\\p{N}_])" + body + (/\*$/.test(t) ? "" : "(?![\\p{L}\\p{N}_])");
  });
  if (!parts.length) return null;
  try {
    return new RegExp(parts.join("|"), "giu");
  } catch (_) {
    return null;
  }
}

