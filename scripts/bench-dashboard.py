#!/usr/bin/env python3
"""Benchmark the dashboard (/dashboard) on loopback and print the figures:
 (a) login: GET the form + POST the credentials up to the redirect (median, p95 of 20);
 (b) time to first byte and full response of every project page as the demo user
     (median, p95 of 10), and of the Instances page with BENCH_SERVERS (default 200)
     stopped servers in the project (one real server is booted with QEMU as the
     template; the rest are written into the database while onestack is stopped, as
     scripts/bench-compute.sh does);
 (c) with headless Chromium (when installed): the browser's full load (navigation
     timing, loadEventEnd) of the login and of that Instances page, and a screenshot of
     it (docs/dashboard-instances-200.png with BENCH_SCREENSHOTS=docs);
 (d) the size of the templates and assets embedded in the binary.
Figures only, no pass/fail on timings. Needs qemu-system-x86_64 and the test image.
Usage: $(scripts/venv.sh)/bin/python scripts/bench-dashboard.py
       (env: ONESTACK_BIN, ONESTACK_TEST_IMAGE, BENCH_SERVERS=200, BENCH_SCREENSHOTS)
Loopback only, dataplane off; the VMM it started is killed by pid, onestack is stopped by
pid and the temp dir removed on exit.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ONESTACK_BIN") or next(
    (str(p) for p in (ROOT / "target/release/onestack", ROOT / "target/debug/onestack") if p.exists()), "")
IMAGE = os.environ.get("ONESTACK_TEST_IMAGE") or str(ROOT / "target/test-image/test-image.qcow2")
N = int(os.environ.get("BENCH_SERVERS", "200"))
if not BIN or not Path(IMAGE).is_file() or not shutil.which("qemu-system-x86_64"):
    sys.exit("needs a built onestack, the test image (scripts/build-test-image.sh) and qemu")

WORK = Path(tempfile.mkdtemp(prefix="onestack-bench-dashboard."))
STATE = WORK / "state"
PORT = 18000 + os.getpid() % 1000
BASE = f"http://127.0.0.1:{PORT}"
proc = None


def start():
    global proc
    text = (ROOT / "profiles/default.toml").read_text()
    text = text.replace('dataplane = "host"', 'dataplane = "off"').replace('hypervisor = "auto"', 'hypervisor = "qemu"')
    text = re.sub(r'(?m)^bootstrap_image = ".*"$', f'bootstrap_image = "{IMAGE}"', text)
    (WORK / "profile.toml").write_text(text)
    proc = subprocess.Popen([BIN, "up", "--state-dir", str(STATE), "--listen", f"127.0.0.1:{PORT}",
                             "--profile", str(WORK / "profile.toml")],
                            stdout=open(WORK / "server.log", "ab"), stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            if requests.get(f"{BASE}/identity/v3", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    sys.exit("onestack did not start")


def stop():
    global proc
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc = None


def kill_vmms():
    inst = STATE / "instances"
    for d in inst.iterdir() if inst.is_dir() else []:
        try:
            pid = int((d / "qemu.pid").read_text().strip())
            if d.name in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def creds(user):
    c = json.loads((STATE / "credentials.json").read_text())
    return user, c[f"{user}_password"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def login(s, user, password):
    r = s.get(f"{BASE}/dashboard/auth/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text).group(1)
    r = s.post(f"{BASE}/dashboard/auth/login", allow_redirects=False,
               data={"csrf": csrf, "domain": "Default", "username": user, "password": password})
    assert r.status_code == 303, (r.status_code, r.text[:300])


def timed_page(s, path, n=10):
    ttfb, full = [], []
    for _ in range(n):
        t = time.monotonic()
        r = s.get(f"{BASE}{path}", stream=True, allow_redirects=False)
        first = time.monotonic()
        body = r.content
        end = time.monotonic()
        assert r.status_code == 200, (path, r.status_code, body[:300])
        ttfb.append((first - t) * 1000)
        full.append((end - t) * 1000)
    return statistics.median(ttfb), pct(ttfb, 95), statistics.median(full), pct(full, 95), len(body)


try:
    start()
    user, password = creds("demo")
    # Boot one real server as demo: the template of the listed ones.
    tok = requests.post(f"{BASE}/identity/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}, "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}).headers["X-Subject-Token"]
    h = {"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.37"}
    for _ in range(600):
        imgs = requests.get(f"{BASE}/image/v2/images?name=cirros", headers=h).json()["images"]
        if imgs and imgs[0]["status"] == "active":
            break
        time.sleep(0.1)
    r = requests.post(f"{BASE}/compute/v2.1/servers", headers=h, json={"server": {
        "name": "bench-template", "imageRef": imgs[0]["id"], "flavorRef": "42", "networks": "none"}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    for _ in range(1200):
        sv = requests.get(f"{BASE}/compute/v2.1/servers/{sid}", headers=h).json()["server"]
        if sv["status"] == "ACTIVE" and not sv["OS-EXT-STS:task_state"]:
            break
        assert sv["status"] != "ERROR", sv
        time.sleep(0.25)

    print("== (a) login and (b) project pages, demo user, 1 server", flush=True)
    fig = {}
    ms = []
    for _ in range(20):
        s = requests.Session()
        t = time.monotonic()
        login(s, user, password)
        ms.append((time.monotonic() - t) * 1000)
    fig["login"] = (statistics.median(ms), pct(ms, 95))
    s = requests.Session()
    login(s, user, password)
    pages = ["overview", "instances", "instances/launch", "images", "volumes", "networks", "topology",
             "routers", "security-groups", "floating-ips", "key-pairs", "containers", "stacks",
             "api-access", f"instances/{sid}"]
    for p in pages:
        fig[p.replace(sid, "{id}")] = timed_page(s, f"/dashboard/project/{p}")

    db = sqlite3.connect(f"file:{STATE}/state.db?mode=ro", uri=True)
    template = json.loads(db.execute("SELECT doc FROM servers WHERE id = ?", (sid,)).fetchone()[0])
    db.close()
    requests.post(f"{BASE}/compute/v2.1/servers/{sid}/action", headers=h, json={"os-stop": None})
    time.sleep(3)
    stop()
    kill_vmms()
    db = sqlite3.connect(f"{STATE}/state.db")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with db:
        for i in range(N - 1):
            sv = dict(template)
            nid = str(uuid.uuid4())
            sv.update(id=nid, name=f"bench-{i:03d}", hostname=f"bench-{i:03d}", vm_state="stopped",
                      task_state=None, power_state=4, ports=[], requested_networks="none",
                      fault=None, deleted_at=None, terminated_at=None, progress=0, locked=False,
                      locked_reason=None, locked_by=None, server_group=None, created_at=now,
                      updated_at=now, generation=0, instance_name="")
            cur = db.execute("INSERT INTO servers (id, project_id, user_id, name, created_at, generation, doc) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (nid, sv["project_id"], sv["user_id"], sv["name"], now, 0, json.dumps(sv)))
            sv.update(instance_name=f"instance-{cur.lastrowid:08x}", generation=1)
            db.execute("UPDATE servers SET generation = 1, doc = ? WHERE id = ?", (json.dumps(sv), nid))
    db.close()
    start()
    s = requests.Session()
    login(s, user, password)
    fig["instances-N"] = timed_page(s, "/dashboard/project/instances")
    assert s.get(f"{BASE}/dashboard/project/instances").text.count("<tr data-id=") == N

    browser = {}
    if Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists():
        from selenium import webdriver
        from selenium.webdriver.common.by import By
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1280,860", f"--user-data-dir={WORK / 'chromium'}"):
            opts.add_argument(a)
        drv = webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=opts)
        try:
            nav = "var t=performance.getEntriesByType('navigation')[0];return [t.responseStart, t.loadEventEnd];"
            drv.get(f"{BASE}/dashboard/auth/login")
            drv.find_element(By.ID, "username").send_keys(user)
            drv.find_element(By.ID, "password").send_keys(password)
            t = time.monotonic()
            drv.find_element(By.ID, "login-button").click()
            while "/project/overview" not in drv.current_url or drv.execute_script(nav)[1] == 0:
                time.sleep(0.01)
            browser["login click -> overview loaded"] = (time.monotonic() - t) * 1000
            loads = []
            for _ in range(5):
                drv.get(f"{BASE}/dashboard/project/instances")
                loads.append(drv.execute_script(nav))
            browser[f"instances ({N} servers) TTFB"] = statistics.median(x[0] for x in loads)
            browser[f"instances ({N} servers) full load"] = statistics.median(x[1] for x in loads)
            shots = os.environ.get("BENCH_SCREENSHOTS")
            if shots:
                drv.save_screenshot(str(Path(shots) / f"dashboard-instances-{N}.png"))
        finally:
            drv.quit()

    print(f"{'page':<34}{'TTFB med':>10}{'p95':>8}{'full med':>10}{'p95':>8}{'bytes':>9}")
    print(f"{'login (form + POST)':<34}{'':>10}{'':>8}{fig['login'][0]:>10.1f}{fig['login'][1]:>8.1f}")
    for p in [p.replace(sid, "{id}") for p in pages] + ["instances-N"]:
        label = f"instances ({N} servers)" if p == "instances-N" else p
        a = fig[p]
        print(f"{label:<34}{a[0]:>10.1f}{a[1]:>8.1f}{a[2]:>10.1f}{a[3]:>8.1f}{a[4]:>9}")
    for k, v in browser.items():
        print(f"browser: {k}: {v:.0f} ms")
    embedded = [p for d in ("templates", "assets") for p in (ROOT / "src/dashboard" / d).iterdir()]
    print(f"embedded templates and assets: {sum(p.stat().st_size for p in embedded)} bytes in {len(embedded)} files")
    print(f"binary: {BIN}")
finally:
    stop()
    kill_vmms()
    shutil.rmtree(WORK, ignore_errors=True)
