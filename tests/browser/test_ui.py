"""The web UI in headless Chromium against the real server.

Starts the release binary on 127.0.0.1:0 with a fresh data directory,
ingests known entries (timestamps in the last 30 minutes), and checks in the
browser: a search finds the expected rows, newest first, with matched words
highlighted; the download holds them as NDJSON; the UTC box; the
histogram's bars sum to the total, and dragging over it narrows the range to
the entries inside; paging by cursor; an expanded entry shows its tags;
clicking a tag narrows the query; an attacker's message stays text; GROUP BY
shows a table and a bar chart; the live tail shows a newly ingested line and
holds lines while paused; the partitions (with bytes on disk) and status
pages; `/` focuses the query and Enter runs it; phone width does not
overflow; no console errors; an invalid query shows the server's error with
its column; with auth on the page asks for a key, then works, and shows a
403 for a partition outside the key's grant.

With UI_SCREENSHOTS=DIR each view is saved there as a PNG (docs/ui/ holds
the README's). Every wait polls with a deadline; nothing asserts a timing.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.common.exceptions import WebDriverException

BIN = os.environ.get("TIMBERDB_BIN", "target/release/timberdb")
WORK = os.environ.get("BROWSER_WORK", "target/browser")
SHOTS = os.environ.get("UI_SCREENSHOTS", "")
DEADLINE_S = 60
DB_ENTRIES = []  # the db partition's known entries, for counting by time


class Server:
    """A timberdb process on a free loopback port."""

    def __init__(self, env=None, data_dir=None):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="data.", dir=WORK)
        self.log = open(os.path.join(self.data_dir, "server.log"), "w")
        full_env = dict(os.environ, **(env or {}))
        full_env.pop("TIMBERDB_CONFIG", None)
        self.process = subprocess.Popen(
            [BIN, "--data-dir", self.data_dir, "--listen", "127.0.0.1:0", "--shards", "2"],
            stdout=subprocess.PIPE, stderr=self.log, env=full_env, text=True)
        found = {}

        def watch():
            for line in self.process.stdout:
                if line.startswith("timberdb listening on http://"):
                    found["addr"] = line.split("http://", 1)[1].split()[0]

        threading.Thread(target=watch, daemon=True).start()
        self.base = "http://" + wait_for(lambda: found.get("addr"), "the server's address")
        self.key = None

    def stop(self):
        """Stops the server; its data directory goes too, unless the
        suite failed (then its log is printed and the directory kept)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        if sys.exc_info()[0] is None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        else:
            with open(os.path.join(self.data_dir, "server.log")) as log:
                print(f"server log ({self.data_dir}):\n" + log.read()[-4000:], file=sys.stderr)

    def call(self, method, path, body=None, content_type="application/json"):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.key:
            request.add_header("Authorization", "Bearer " + self.key)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ingest(self, partition, entries):
        body = "".join(json.dumps(e) + "\n" for e in entries).encode()
        status, answer = self.call("POST", f"/api/v1/partitions/{partition}/logs", body,
                                   "application/x-ndjson")
        assert status == 200, answer


def wait_for(check, what, deadline_s=DEADLINE_S):
    end = time.monotonic() + deadline_s
    last_error = None
    while time.monotonic() < end:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # the page may be between renders
            last_error = error
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def known_entries(now):
    """80 entries over the last 30 minutes, and one attacker's message."""
    web, db = [], []
    for i in range(60):
        level = ["info", "info", "warn", "error"][i % 4]
        message = (f"connection reset by peer while serving request {i}" if level == "error"
                   else f"request {i} took {i * 3} ms")
        web.append({"timestamp": rfc3339(now - timedelta(seconds=60 + i * 20)), "level": level,
                    "source": f"web-{i % 3 + 1}", "message": message,
                    "tags": {"host": f"web-{i % 3 + 1}", "component": ["auth", "api"][i % 2]},
                    "duration_ms": i * 3})
    for i in range(20):
        db.append({"timestamp": rfc3339(now - timedelta(seconds=90 + i * 60)),
                   "level": ["info", "error"][i % 2], "source": "db-1",
                   "message": f"slow query {i} on table orders", "tags": {"host": "db-1"}})
    web.append({"timestamp": rfc3339(now - timedelta(seconds=30)), "level": "fatal",
                "source": "<b>evil</b>", "message": "<img src=x onerror=\"window.pwned=1\"> injected",
                "tags": {"host": "<script>window.pwned=2</script>"}})
    return web, db


def browser(width=1280, height=800):
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument("--hide-scrollbars")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Starting Chromium on a loaded machine occasionally fails ("session
    # not created"); that says nothing about the UI, so it is retried.
    for attempt in range(3):
        try:
            driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
            break
        except WebDriverException as error:
            print(f"starting chromium failed (attempt {attempt + 1}): {error.msg}", file=sys.stderr)
            if attempt == 2:
                raise
            time.sleep(1)
    driver.set_window_size(width, height)
    return driver


def shot(driver, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def rows(driver, list_id="results"):
    return driver.find_elements(By.CSS_SELECTOR, f"#{list_id} li.entry")


def open_search(driver, server, **state):
    params = urllib.parse.urlencode({"view": "search", **state}, quote_via=urllib.parse.quote)
    driver.get(server.base + "/#" + params)
    # The page reloads state from the hash; wait for this search's histogram.
    return wait_for(lambda: driver.find_element(By.ID, "hist-total").get_attribute("data-total")
                    and driver.find_element(By.ID, "hist-total"), "the histogram")


def histogram_sum(driver):
    bars = driver.find_elements(By.CSS_SELECTOR, "#histogram rect.bar")
    return sum(int(b.get_attribute("data-count")) for b in bars)


def check_search(driver, server, web):
    total = open_search(driver, server, q='"connection reset"', range="1h")
    expected = [e for e in web if e["level"] == "error"]
    wait_for(lambda: len(rows(driver)) == len(expected), f"{len(expected)} rows")
    assert int(total.get_attribute("data-total")) == len(expected)
    assert histogram_sum(driver) == len(expected), histogram_sum(driver)
    times = [r.find_element(By.CSS_SELECTOR, ".ts").text for r in rows(driver)]
    assert times == sorted(times, reverse=True), "newest first"
    marks = {m.text.lower() for m in driver.find_elements(By.CSS_SELECTOR, "#results mark")}
    assert marks == {"connection", "reset"}, marks
    assert all("lvl-error" in r.get_attribute("class") for r in rows(driver))
    print("ok: a phrase search finds its", len(expected), "rows, newest first, highlighted")
    check_download(driver, expected)
    check_utc_toggle(driver, web)

    total = open_search(driver, server, q="", range="1h", limit="50")
    everything = len(web) + 20
    assert int(total.get_attribute("data-total")) == everything
    assert histogram_sum(driver) == everything, histogram_sum(driver)
    levels = {b.get_attribute("data-level") for b in
              driver.find_elements(By.CSS_SELECTOR, "#histogram rect.bar")}
    assert {"info", "warn", "error", "fatal"} <= levels, levels
    assert len(rows(driver)) == 50
    shot(driver, "search")
    more = driver.find_element(By.ID, "more")
    assert more.is_displayed()
    more.click()
    wait_for(lambda: len(rows(driver)) == everything, "the next page by cursor")
    ids = [r.find_element(By.CSS_SELECTOR, ".ts").text for r in rows(driver)]
    assert ids == sorted(ids, reverse=True)
    assert driver.execute_script("return window.pwned") is None, "the attacker's markup ran"
    evil = driver.find_elements(By.XPATH, "//*[contains(text(), '<img src=x')]")
    assert evil, "the attacker's message is shown as text"
    print("ok: the histogram's bars sum to", everything, "; paging by cursor; markup stays text")
    check_drag(driver, web)


def check_download(driver, expected):
    folder = tempfile.mkdtemp(prefix="download.", dir=os.path.abspath(WORK))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": folder})
    driver.find_element(By.ID, "download").click()
    name = wait_for(lambda: [f for f in os.listdir(folder) if f.endswith(".ndjson")], "the download")[0]
    with open(os.path.join(folder, name)) as file:
        lines = [json.loads(line) for line in file if line.strip()]
    assert len(lines) == len(expected), len(lines)
    assert all("connection reset" in line["message"] and line["id"] for line in lines)
    shutil.rmtree(folder, ignore_errors=True)
    print("ok: the download holds the", len(lines), "matching entries as NDJSON")


def check_utc_toggle(driver, web):
    """The UTC box re-renders times in UTC and goes into the URL."""
    target = web[0]
    driver.find_element(By.ID, "q").clear()
    driver.find_element(By.ID, "q").send_keys('"request 0 took"', Keys.ENTER)
    wait_for(lambda: len(rows(driver)) == 1, "the one entry")
    driver.find_element(By.ID, "utc").click()
    wait_for(lambda: "tz=utc" in driver.current_url, "tz=utc in the URL")
    utc_text = target["timestamp"][:23].replace("T", " ")
    wait_for(lambda: rows(driver)[0].find_element(By.CSS_SELECTOR, ".ts").text == utc_text,
             f"the time in UTC, {utc_text}")
    driver.find_element(By.ID, "utc").click()
    wait_for(lambda: "tz=utc" not in driver.current_url, "local time again")
    print("ok: the UTC box shows times in UTC and is kept in the URL")


def check_drag(driver, web):
    """Dragging over the right half of the histogram narrows the range to
    what was dragged over; the bars then sum to the entries in it."""
    chart = driver.find_element(By.CSS_SELECTOR, "#histogram svg")
    width = chart.size["width"]
    ActionChains(driver).move_to_element_with_offset(chart, 0, 0).click_and_hold() \
        .move_by_offset(int(width * 0.45), 0).release().perform()
    wait_for(lambda: "range=abs" in driver.current_url, "an absolute range in the URL")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).fragment)
    start = datetime.fromisoformat(state["from"][0].replace("Z", "+00:00"))
    end = datetime.fromisoformat(state["to"][0].replace("Z", "+00:00"))
    stamps = [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in web]
    stamps += [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in DB_ENTRIES]
    inside = len([t for t in stamps if start <= t < end])
    assert 0 < inside < len(stamps), (start, end, inside)
    wait_for(lambda: driver.find_element(By.ID, "hist-total").get_attribute("data-total") == str(inside),
             f"{inside} entries between {start} and {end}")
    assert histogram_sum(driver) == inside
    print("ok: dragging over the histogram narrows the range to", inside, "entries")


def check_expand_and_narrow(driver, server, web):
    open_search(driver, server, q="level:error", range="1h")
    wait_for(lambda: len(rows(driver)) == 25, "25 errors")
    first = rows(driver)[0]
    first.find_element(By.CSS_SELECTOR, ".entry-head").click()
    details = wait_for(lambda: first.find_element(By.CSS_SELECTOR, ".details"), "the details")
    keys = {b.get_attribute("data-key"): b.text for b in
            details.find_elements(By.CSS_SELECTOR, ".tag-value")}
    assert "host" in keys and "component" in keys, keys
    assert "fields.duration_ms" in details.text
    shot(driver, "expanded")
    host = keys["host"]
    expected = len([e for e in web if e["level"] == "error" and e["tags"]["host"] == host])
    details.find_element(By.CSS_SELECTOR, '.tag-value[data-key="host"]').click()
    wait_for(lambda: f"host:{host}" in driver.find_element(By.ID, "q").get_attribute("value"),
             "the tag in the query")
    wait_for(lambda: len(rows(driver)) == expected
             and driver.find_element(By.ID, "hist-total").get_attribute("data-total") == str(expected),
             f"{expected} rows of {host}")
    assert "host%3A" in driver.current_url or "host:" in urllib.parse.unquote(driver.current_url)
    print("ok: an expanded entry shows its tags; clicking host", host, "narrows to", expected)


def check_keyboard_and_aggregation(driver, server):
    open_search(driver, server, q="", range="1h")
    driver.find_element(By.TAG_NAME, "body").send_keys("/")
    query = driver.switch_to.active_element
    assert query.get_attribute("id") == "q"
    query.send_keys("SELECT source, count(*) GROUP BY source ORDER BY count(*) DESC", Keys.ENTER)
    table = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#aggregation table"), "the table")
    body_rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(body_rows) == 5, [r.text for r in body_rows]
    first = [c.text for c in body_rows[0].find_elements(By.TAG_NAME, "td")]
    assert first[1] == "20", first
    bars = driver.find_elements(By.CSS_SELECTOR, "#aggregation rect.agg-bar")
    assert len(bars) == 5
    assert sum(int(b.get_attribute("data-count")) for b in bars) == 81
    print("ok: / focuses the query, Enter runs it; GROUP BY shows a table and a bar chart")
    shot(driver, "aggregation")


def check_tail(driver, server):
    driver.get(server.base + "/#view=tail&q=tailmarker")
    wait_for(lambda: driver.find_element(By.ID, "tail-status").get_attribute("data-state") == "live",
             "the tail to be live")
    server.ingest("web", [{"level": "warn", "source": "web-9", "message": "tailmarker fresh line one",
                           "tags": {"host": "web-9"}}])
    wait_for(lambda: "tailmarker fresh line one" in driver.find_element(By.ID, "tail-rows").text,
             "the new line in the tail")
    driver.find_element(By.ID, "tail-pause").click()
    server.ingest("web", [{"level": "error", "source": "web-9", "message": "tailmarker while paused"}])
    wait_for(lambda: "1 waiting" in driver.find_element(By.ID, "tail-counts").text, "a held line")
    assert "while paused" not in driver.find_element(By.ID, "tail-rows").text
    driver.find_element(By.ID, "tail-pause").click()
    wait_for(lambda: "tailmarker while paused" in driver.find_element(By.ID, "tail-rows").text,
             "the held line after resuming")
    server.ingest("web", [{"level": "info", "source": "web-9", "message": "not a match"}])
    assert len(rows(driver, "tail-rows")) == 2
    print("ok: the live tail shows new lines, holds them while paused")
    shot(driver, "tail")


def check_partitions_and_status(driver, server):
    # A snapshot seals every block held in memory: bytes on disk show.
    status, answer = server.call("POST", "/api/v1/admin/snapshots", {"name": "ui"})
    assert status == 201, answer
    driver.get(server.base + "/#view=partitions")
    table = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#partitions-table tr.partition-row"),
                     "the partitions")
    cells = {r.find_elements(By.TAG_NAME, "td")[0].text: [c.text for c in r.find_elements(By.TAG_NAME, "td")[1:5]]
             for r in table}
    assert {name: c[0] for name, c in cells.items()} == {"web": "64", "db": "20"}, cells
    for name, (_, on_disk, blocks, retention) in cells.items():
        assert on_disk.endswith("KiB") and int(blocks) > 0 and retention == "forever", (name, cells)
    shot(driver, "partitions")
    driver.get(server.base + "/#view=status")
    wait_for(lambda: "entries/s" in driver.find_element(By.ID, "status-cards").text, "a second sample",
             deadline_s=30)
    text = driver.find_element(By.ID, "status-cards").text
    for word in ["Readiness", "ready", "Ingest", "Disk", "data filesystem", "Queries"]:
        assert word in text, (word, text)
    print("ok: the partitions page lists both with their counts; the status page reads /metrics")
    shot(driver, "status")


def check_phone(server):
    driver = browser(390, 844)
    try:
        open_search(driver, server, q="level:error", range="1h")
        wait_for(lambda: len(rows(driver)) == 26, "rows at phone width (with the tail's error)")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the page is {overflow} px wider than a phone"
        assert not console_errors(driver), console_errors(driver)
        shot(driver, "phone")
        print("ok: phone width renders without sideways scrolling")
    finally:
        driver.quit()


def check_invalid_query(driver, server):
    q = "SELECT * WHERE level ="
    status, answer = server.call("GET", "/api/v1/query?" + urllib.parse.urlencode({"q": q}))
    assert status == 400, answer
    column = answer["error"]["message"].split("column ", 1)[1].split(":", 1)[0]
    open_search_page = server.base + "/#" + urllib.parse.urlencode({"q": q}, quote_via=urllib.parse.quote)
    driver.get(open_search_page)
    box = wait_for(lambda: driver.find_element(By.ID, "q-error").is_displayed()
                   and driver.find_element(By.ID, "q-error"), "the error")
    assert answer["error"]["message"] in box.text, box.text
    assert f"^ column {column}" in box.text, box.text
    field = driver.find_element(By.ID, "q")
    assert field.get_attribute("selectionStart") == str(int(column) - 1)
    print("ok: an invalid query shows the server's error at column", column)


def check_auth():
    data_dir = tempfile.mkdtemp(prefix="auth.", dir=WORK)
    key = subprocess.run([BIN, "keys", "create", "--offline", "--role", "query", "--partition", "web",
                          "--data-dir", data_dir],
                         check=True, capture_output=True, text=True).stdout.strip()
    admin = subprocess.run([BIN, "keys", "create", "--offline", "--role", "admin", "--data-dir", data_dir],
                           check=True, capture_output=True, text=True).stdout.strip()
    server = Server({"TIMBERDB_AUTH_ENABLED": "true"}, data_dir)
    server.key = admin
    for name in ["web", "db"]:
        status, answer = server.call("POST", "/api/v1/partitions/create", {"name": name})
        assert status == 201, answer
    driver = browser()
    try:
        driver.get(server.base + "/#q=anything")
        dialog = wait_for(lambda: driver.find_element(By.ID, "key-dialog").get_attribute("open") is not None
                          and driver.find_element(By.ID, "key-dialog"), "the key dialog")
        assert "API key" in dialog.text
        driver.find_element(By.ID, "key-input").send_keys(key)
        driver.find_element(By.ID, "key-save").click()
        wait_for(lambda: "0 matches" in driver.find_element(By.ID, "summary").text
                 or "No entries" in driver.find_element(By.ID, "results").text, "a search with the key")
        assert driver.find_element(By.ID, "key-button").text.endswith("✓")
        driver.get(server.base + "/#q=anything&p=db")
        notice = wait_for(lambda: driver.find_element(By.ID, "notice").is_displayed()
                          and driver.find_element(By.ID, "notice"), "the 403")
        assert "Forbidden" in notice.text and "db" in notice.text, notice.text
        print("ok: with auth on the page asks for a key, searches with it, and shows a 403")
    finally:
        driver.quit()
        server.stop()


def main():
    os.makedirs(WORK, exist_ok=True)
    server = Server()
    driver = None
    try:
        for name in ["web", "db"]:
            status, answer = server.call("POST", "/api/v1/partitions/create", {"name": name})
            assert status == 201, answer
        web, db = known_entries(datetime.now(timezone.utc))
        DB_ENTRIES.extend(db)
        server.ingest("web", web[:-1])
        server.ingest("db", db)
        server.ingest("web", web[-1:])
        driver = browser()
        check_search(driver, server, web[:-1] + web[-1:])
        check_expand_and_narrow(driver, server, web[:-1])
        check_keyboard_and_aggregation(driver, server)
        check_tail(driver, server)
        check_partitions_and_status(driver, server)
        errors = console_errors(driver)
        assert not errors, errors
        print("ok: no console errors")
        check_phone(server)
        check_invalid_query(driver, server)
        check_auth()
    finally:
        if driver:
            driver.quit()
        server.stop()
    print("web UI browser suite: all checks passed")


if __name__ == "__main__":
    sys.exit(main())
