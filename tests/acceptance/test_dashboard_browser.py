"""The dashboard in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by selenium against the real onestack binary with a real QEMU
guest. Logs in, creates a network, launches an instance and sees it ACTIVE, opens its
console page, creates a key pair, checks that a member cannot open admin pages, that a
wrong password fails, that forms without the CSRF token are refused and that logout
ends the session server-side. Screenshots go to $ONESTACK_SCREENSHOT_DIR (docs/ when
refreshing the README's pictures), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, OnestackServer, unique

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MARKER = "onestack-guest ready"
BOOT_TIMEOUT = 240
TIMINGS: list[str] = []
CREATED: dict[str, str] = {}

webdriver = pytest.importorskip("selenium.webdriver", reason="SKIP: selenium is not in the venv")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException, TimeoutException, WebDriverException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


def _test_image() -> Path | None:
    for cand in (os.environ.get("ONESTACK_TEST_IMAGE"), "/work/test-image/test-image.qcow2",
                 str(REPO_ROOT / "target" / "test-image" / "test-image.qcow2")):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def _kill_guests(state_dir: Path) -> None:
    """Kill each guest VMM this module's onestack started, by the PID in its pid file."""
    inst = state_dir / "instances"
    if not inst.is_dir():
        return
    for d in inst.iterdir():
        for name in ("qemu.pid", "vmm.pid"):
            try:
                pid = int((d / name).read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except (OSError, ValueError):
                continue
            if d.name in cmdline:
                os.kill(pid, 9)


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    for path, why in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            pytest.skip(f"SKIP: {path} missing (apt-get install {why})")
    image = _test_image()
    if image is None:
        pytest.skip("SKIP: no test guest image (run scripts/build-test-image.sh and set "
                    "ONESTACK_TEST_IMAGE)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("SKIP: qemu-system-x86_64 is not installed (run scripts/ensure-qemu.sh)")
    base = tmp_path_factory.mktemp("dashboard")
    text = (REPO_ROOT / "profiles" / "default.toml").read_text()
    text = text.replace('dataplane = "host"', 'dataplane = "off"')
    text = text.replace('hypervisor = "auto"', 'hypervisor = "qemu"')
    text = re.sub(r'(?m)^bootstrap_image = ".*"$', f'bootstrap_image = "{image}"', text)
    profile = base / "profile.toml"
    profile.write_text(text)
    srv = OnestackServer(base / "state", base / "onestack.log", profile=str(profile))
    srv.start()
    srv.shots = Path(os.environ.get("ONESTACK_SCREENSHOT_DIR") or base / "screenshots")
    srv.shots.mkdir(parents=True, exist_ok=True)
    yield srv
    rc = srv.stop()
    _kill_guests(srv.state_dir)
    print(f"\nonestack (dashboard) stopped, exit code {rc}; log at {srv.log_path}")
    for t in TIMINGS:
        print(t)


@pytest.fixture(scope="module")
def browser(dash, tmp_path_factory):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1280,860",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    drv = webdriver.Chrome(service=service, options=opts)
    drv.set_page_load_timeout(60)
    # A click on a form's button returns before the page its POST answers has loaded:
    # looking an element up waits (up to 5 s) for it to exist on that page.
    drv.implicitly_wait(5)
    yield drv
    drv.quit()


def creds(dash: OnestackServer, user: str) -> tuple[str, str]:
    env = dash.openrc(user)
    return env["OS_USERNAME"], env["OS_PASSWORD"]


def login(drv, dash, user: str, password: str) -> None:
    drv.get(f"{dash.base_url}/dashboard/auth/login")
    drv.find_element(By.ID, "username").send_keys(user)
    drv.find_element(By.ID, "password").send_keys(password)
    _submit(drv, drv.find_element(By.ID, "login-button"))


def logout(drv, dash) -> None:
    drv.get(f"{dash.base_url}/dashboard/project/overview")
    _submit(drv, drv.find_element(By.ID, "logout"))
    _until(drv, 10).until(lambda d: "/auth/login" in d.current_url)


def shot(drv, dash, name: str) -> None:
    drv.save_screenshot(str(dash.shots / f"dashboard-{name}.png"))


def session_cookie(drv) -> str:
    c = drv.get_cookie("onestack_session")
    assert c, "no session cookie after login"
    assert c["httpOnly"] and c.get("sameSite") == "Strict", c
    return c["value"]


def open_form(drv, form_id: str):
    form = drv.find_element(By.ID, form_id)
    details = form.find_element(By.XPATH, "./ancestor::details")
    if not details.get_attribute("open"):
        details.find_element(By.TAG_NAME, "summary").click()
    return form


def test_wrong_password_fails(dash, browser):
    user, _ = creds(dash, "demo")
    login(browser, dash, user, "not-the-password")
    # The click only starts the form's POST: wait for the answer page, not the form.
    err = _until(browser, 30).until(
        lambda d: d.find_elements(By.ID, "login-error"),
        message=f"no login error shown; page: {browser.current_url}",
    )[0].text
    assert "Invalid credentials" in err
    assert "/auth/login" in browser.current_url
    assert browser.get_cookie("onestack_session") is None


def test_a_project_workflow(dash, browser):
    user, password = creds(dash, "demo")
    t0 = time.monotonic()
    login(browser, dash, user, password)
    _until(browser, 20).until(lambda d: "/project/overview" in d.current_url)
    TIMINGS.append(f"browser: login to overview rendered {time.monotonic() - t0:.2f}s")
    sid = session_cookie(browser)
    assert browser.find_element(By.ID, "usage").text, "quota usage shown"
    assert sid not in browser.page_source, "the session id is not in the page"
    shot(browser, dash, "overview")

    # A network with a subnet.
    net = unique("dashnet")
    browser.get(f"{dash.base_url}/dashboard/project/networks")
    form = open_form(browser, "network-create")
    form.find_element(By.NAME, "name").send_keys(net)
    form.find_element(By.NAME, "cidr").send_keys("192.168.77.0/24")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    # The click leaves the form page: read the table of the page the POST answers
    # (the old page's table goes stale under the reader).
    def new_table(d):
        t = d.find_element(By.ID, "networks").text
        return t if net in t else False
    table = _until(browser, 30).until(new_table)
    assert net in table and "192.168.77.0/24" in table, table

    # Launch an instance on it with the test image.
    name = unique("dashvm")
    browser.get(f"{dash.base_url}/dashboard/project/instances/launch")
    launch = browser.find_element(By.ID, "launch")
    launch.find_element(By.NAME, "name").send_keys(name)
    Select(launch.find_element(By.NAME, "image")).select_by_visible_text("cirros")
    flavor = Select(launch.find_element(By.NAME, "flavor"))
    flavor.select_by_index(0)
    assert "m1.nano" in flavor.first_selected_option.text
    for box in launch.find_elements(By.NAME, "network"):
        if box.is_selected():
            box.click()
    launch.find_element(By.XPATH, f".//label[contains(., '{net}')]/input").click()
    t_click = time.monotonic()
    _submit(browser, browser.find_element(By.ID, "launch-submit"))
    _until(browser, 20).until(lambda d: d.current_url.endswith("/project/instances"))
    row = f"//table[@id='instances']//tr[td/a[text()='{name}']]"

    def active(d):
        cells = d.find_elements(By.XPATH, row + "/td")
        if not cells:
            return False
        assert cells[3].text != "ERROR", f"instance went to ERROR: {[c.text for c in cells]}"
        return cells[3].text == "ACTIVE" and cells[4].text == ""
    # The page refreshes itself while the instance builds: no reload here.
    _until(browser, BOOT_TIMEOUT, poll_frequency=0.5).until(active)
    TIMINGS.append(f"browser: Launch click -> ACTIVE shown in the list {time.monotonic() - t_click:.1f}s")
    assert "192.168.77." in browser.find_element(By.XPATH, row).text
    CREATED["server"] = browser.find_element(By.XPATH, row).get_attribute("data-id")
    CREATED["server_name"] = name
    shot(browser, dash, "instances")

    # Its page: details, console log with the guest's ready line, serial console.
    _submit(browser, browser.find_element(By.XPATH, row + "/td/a"))
    _until(browser, 10).until(lambda d: d.find_elements(By.ID, "console-log"))
    deadline = time.monotonic() + BOOT_TIMEOUT
    while MARKER not in browser.find_element(By.ID, "console-log").text:
        assert time.monotonic() < deadline, "guest ready line never in the console log"
        time.sleep(2)
        browser.refresh()
    browser.find_element(By.ID, "console-connect").click()
    _until(browser, 30).until(
        lambda d: d.find_element(By.ID, "console-state").text in ("connected", "closed")
        or "could not" in d.find_element(By.ID, "console-state").text)
    assert browser.find_element(By.ID, "console-state").text == "connected", \
        browser.find_element(By.ID, "console-state").text
    _until(browser, 30).until(lambda d: d.find_element(By.ID, "serial-console").text.strip())
    shot(browser, dash, "console")

    # The topology picture shows the network and the instance.
    browser.get(f"{dash.base_url}/dashboard/project/topology")
    svg = browser.find_element(By.ID, "topology").get_attribute("outerHTML")
    assert net in svg and name in svg
    shot(browser, dash, "topology")

    # A key pair, whose private key is shown once.
    browser.get(f"{dash.base_url}/dashboard/project/key-pairs")
    kp = unique("dashkey")
    form = open_form(browser, "keypair-create")
    form.find_element(By.NAME, "name").send_keys(kp)
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    # The click only starts the POST (key generation takes a moment): wait for the answer.
    secret = _until(browser, 30).until(lambda d: d.find_elements(By.ID, "notice-secret"))[0]
    assert "PRIVATE KEY" in secret.get_attribute("value")
    assert kp in browser.find_element(By.ID, "keypairs").text

    # A member is refused the admin pages (403) and sees no admin menu.
    assert "Hypervisors" not in browser.find_element(By.TAG_NAME, "nav").text
    for page in ("hypervisors", "instances", "projects", "users", "flavors", "images",
                 "networks", "routers", "groups", "roles", "defaults", "info"):
        url = f"{dash.base_url}/dashboard/admin/{page}"
        browser.get(url)
        assert browser.find_element(By.ID, "error-title").text == "Forbidden", page
        r = requests.get(url, cookies={"onestack_session": sid}, timeout=10,
                         allow_redirects=False)
        assert r.status_code == 403, (page, r.status_code)

    # A POST without the CSRF token is refused, with the session cookie or without.
    r = requests.post(f"{dash.base_url}/dashboard/project/key-pairs", data={"name": "x"},
                      cookies={"onestack_session": sid}, timeout=10, allow_redirects=False)
    assert r.status_code == 403, r.status_code
    # The Keystone token is in no page.
    assert "gAAAA" not in browser.page_source

    logout(browser, dash)
    r = requests.get(f"{dash.base_url}/dashboard/project/instances",
                     cookies={"onestack_session": sid}, timeout=10, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/auth/login"), \
        "the old session must be dead server-side after logout"


class _Settling(WebDriverWait):
    """A wait that retries through the page's own refresh. Chromium reports an element
    read while its page is being replaced either as a stale element or as the generic
    "Node with given id does not belong to the document"; both mean "look again"."""

    def until(self, method, message: str = ""):
        def settled(d):
            try:
                return method(d)
            except WebDriverException as e:
                if "does not belong to the document" in (e.msg or ""):
                    return False
                raise
        return super().until(settled, message)


def _until(browser, timeout, poll_frequency=0.5):
    return _Settling(browser, timeout, poll_frequency=poll_frequency,
                     ignored_exceptions=(StaleElementReferenceException,))


def _submit(browser, button, confirm: bool = False, timeout: float = 30) -> None:
    """Clicks a button or link that leaves the page (a form's POST, a link, a script's
    reload), accepting its confirmation when asked, and returns only once the page it
    left is gone and the one that answered has loaded. A read right after a click
    would otherwise see the old page (its table, its form) while the new one loads."""
    old = browser.find_element(By.TAG_NAME, "html")
    button.click()
    if confirm:
        WebDriverWait(browser, 10).until(EC.alert_is_present()).accept()

    def left(d):
        try:
            old.tag_name
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in (e.msg or ""):
                return True
            raise
    WebDriverWait(browser, timeout, poll_frequency=0.2).until(
        left, message=f"the page was never replaced after the click ({browser.current_url})")
    WebDriverWait(browser, timeout, poll_frequency=0.2).until(
        lambda d: d.execute_script("return document.readyState") == "complete",
        message=f"the answer page never finished loading ({browser.current_url})")


def _login_as(browser, dash, who: str = "demo") -> None:
    """A fresh login, whatever session the browser had."""
    browser.get(f"{dash.base_url}/dashboard/auth/login")
    if browser.find_elements(By.ID, "logout"):
        logout(browser, dash)
    user, password = creds(dash, who)
    login(browser, dash, user, password)
    _until(browser, 20).until(lambda d: "/project/overview" in d.current_url)


def _fact(browser, name: str) -> str:
    return browser.find_element(
        By.XPATH, f"//table[@id='facts']//tr[th[text()='{name}']]/td").text


def _timed_get(browser, dash, path: str, what: str) -> None:
    t0 = time.monotonic()
    browser.get(f"{dash.base_url}{path}")
    TIMINGS.append(f"browser: {what} page loaded {time.monotonic() - t0:.2f}s")


def _wait_status(browser, want: str, timeout: int = BOOT_TIMEOUT) -> None:
    """Waits (the page refreshes itself while a task runs) for the instance page's
    status with no task left; fails at once on ERROR."""
    def ok(d):
        err = d.find_elements(By.ID, "error-message")
        assert not err, f"the dashboard shows an error: {err[0].text}"
        st = _fact(d, "Status")
        assert st != "ERROR", f"instance went to ERROR: {d.find_element(By.ID, 'facts').text}"
        return st == want and _fact(d, "Task") == ""
    try:
        _until(browser, timeout, poll_frequency=1).until(ok)
    except TimeoutException:
        pytest.fail(f"instance never {want}: {browser.find_element(By.ID, 'facts').text}")


def _op(browser, op: str) -> None:
    _submit(browser, browser.find_element(By.CSS_SELECTOR, f"#instance-ops button[data-op='{op}']"))


def test_instance_actions(dash, browser):
    """Lock and unlock, snapshot, attach and detach an interface, resize with revert
    and with confirm, and rebuild, each from the instance's page."""
    if "server" not in CREATED:
        pytest.skip("SKIP: the workflow test did not create its instance")
    _login_as(browser, dash)
    here = f"/dashboard/project/instances/{CREATED['server']}"
    _timed_get(browser, dash, here, "instance detail")
    _wait_status(browser, "ACTIVE")

    _op(browser, "lock")
    _until(browser, 20).until(lambda d: _fact(d, "Locked") == "yes")
    _op(browser, "unlock")
    _until(browser, 20).until(lambda d: _fact(d, "Locked") == "no")

    # A snapshot lands on the images page and becomes active there.
    snap = unique("dashsnap")
    form = open_form(browser, "instance-snapshot")
    form.find_element(By.NAME, "name").send_keys(snap)
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    _until(browser, 20).until(lambda d: d.current_url.endswith("/project/images"))
    deadline = time.monotonic() + 180
    while True:
        row = browser.find_elements(By.XPATH, f"//table[@id='images']//tr[td[.='{snap}']]")
        if row and "active" in row[0].text:
            break
        assert time.monotonic() < deadline, f"snapshot {snap} never active: {row[0].text if row else 'absent'}"
        time.sleep(2)
        browser.refresh()
    CREATED["snapshot_name"] = snap
    # An active image's name downloads its data (streamed): a qcow2 file.
    href = row[0].find_element(By.XPATH, f".//a[text()='{snap}']").get_attribute("href")
    sid = browser.get_cookie("onestack_session")["value"]
    with requests.get(href, cookies={"onestack_session": sid}, timeout=120, stream=True) as r:
        assert r.status_code == 200, r.status_code
        assert f'filename="{snap}.qcow2"' in r.headers["content-disposition"]
        first = next(r.iter_content(4096))
        assert first[:4] == b"QFI\xfb", first[:16]
        got = len(first) + sum(len(c) for c in r.iter_content(1 << 20))
    assert got == int(r.headers["content-length"]), (got, r.headers["content-length"])

    # A second network, attached as an interface and detached again.
    net2 = unique("dashnet2")
    browser.get(f"{dash.base_url}/dashboard/project/networks")
    form = open_form(browser, "network-create")
    form.find_element(By.NAME, "name").send_keys(net2)
    form.find_element(By.NAME, "cidr").send_keys("192.168.78.0/24")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    _until(browser, 30).until(lambda d: net2 in d.find_element(By.ID, "networks").text)
    browser.get(f"{dash.base_url}{here}")
    rows = lambda d: d.find_elements(By.XPATH, "//table[@id='interfaces']/tbody/tr[@data-id]")
    try:
        _until(browser, 30, poll_frequency=1).until(lambda d: len(rows(d)) == 1 or d.refresh())
    except TimeoutException:
        pytest.fail("the instance has not exactly one interface: "
                    + browser.find_element(By.ID, "main").text[:1500])
    form = open_form(browser, "instance-attach-interface")
    Select(form.find_element(By.NAME, "network")).select_by_visible_text(net2)
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    _until(browser, 120, poll_frequency=1).until(
        lambda d: len(rows(d)) == 2 or d.refresh(), message="the interface never appeared")
    assert "192.168.78." in browser.find_element(By.ID, "interfaces").text
    shot(browser, dash, "instance-actions")
    new_port = next(r for r in rows(browser) if "192.168.78." in r.text)
    _submit(browser, new_port.find_element(By.CSS_SELECTOR, "button[data-action='detach']"), confirm=True)
    _until(browser, 180, poll_frequency=2).until(
        lambda d: len(rows(d)) == 1 or d.refresh(), message="the interface was never detached")

    # Resize, revert; resize, confirm: the flavor is the new one.
    _wait_status(browser, "ACTIVE")
    old_flavor = _fact(browser, "Flavor")
    for op in ("revert-resize", "confirm-resize"):
        form = open_form(browser, "instance-resize")
        sel = Select(form.find_element(By.NAME, "flavor"))
        target = next(o.text.split(" ")[0] for o in sel.options if o.text.startswith("m1.micro"))
        sel.select_by_index([o.text.split(" ")[0] for o in sel.options].index(target))
        _submit(browser, form.find_element(By.TAG_NAME, "button"))
        _wait_status(browser, "VERIFY_RESIZE")
        _op(browser, op)
        _wait_status(browser, "ACTIVE")
        want = old_flavor if op == "revert-resize" else target
        _until(browser, 30, poll_frequency=1).until(
            lambda d: _fact(d, "Flavor") == want or d.refresh(),
            message=f"flavor after {op} is not {want}")

    # Rebuild with the same image: the guest boots again.
    form = open_form(browser, "instance-rebuild")
    Select(form.find_element(By.NAME, "image")).select_by_visible_text("cirros")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    _until(browser, 30, poll_frequency=1).until(
        lambda d: _fact(d, "Status") == "REBUILD" or _fact(d, "Task") != "" or d.refresh())
    _wait_status(browser, "ACTIVE")


def test_volume_snapshots(dash, browser):
    _login_as(browser, dash)
    vol, snap, clone = unique("dashvol"), unique("dashvsnap"), unique("dashclone")
    _timed_get(browser, dash, "/dashboard/project/volumes", "volumes")
    form = open_form(browser, "volume-create")
    form.find_element(By.NAME, "name").send_keys(vol)
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    row = lambda table, name: f"//table[@id='{table}']//tr[td[text()='{name}']]"

    def status_of(table, name):
        def check(d):
            d.refresh()
            r = d.find_elements(By.XPATH, row(table, name))
            return r[0].text if r else ""
        return check
    _until(browser, 60, poll_frequency=1).until(
        lambda d: "available" in status_of("volumes", vol)(d))
    r = browser.find_element(By.XPATH, row("volumes", vol))
    f = r.find_element(By.XPATH, ".//form[.//button[@data-action='create snapshot']]")
    f.find_element(By.NAME, "name").send_keys(snap)
    _submit(browser, f.find_element(By.TAG_NAME, "button"))
    _until(browser, 60, poll_frequency=1).until(
        lambda d: "available" in status_of("snapshots", snap)(d))
    r = browser.find_element(By.XPATH, row("snapshots", snap))
    assert vol in r.text
    f = r.find_element(By.XPATH, ".//form[.//button[@data-action='create volume']]")
    f.find_element(By.NAME, "name").send_keys(clone)
    _submit(browser, f.find_element(By.TAG_NAME, "button"))
    _until(browser, 60, poll_frequency=1).until(
        lambda d: "available" in status_of("volumes", clone)(d))
    shot(browser, dash, "volumes")
    _submit(browser, browser.find_element(By.XPATH, row("snapshots", snap)).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    _until(browser, 60, poll_frequency=1).until(
        lambda d: not d.find_elements(By.XPATH, row("snapshots", snap)) or d.refresh())


def test_object_store(dash, browser, tmp_path):
    _login_as(browser, dash)
    cont = unique("dashcont")
    _timed_get(browser, dash, "/dashboard/project/containers", "containers")
    assert "Containers" in browser.find_element(By.TAG_NAME, "nav").text
    form = open_form(browser, "container-create")
    form.find_element(By.NAME, "name").send_keys(cont)
    form.find_element(By.NAME, "public").click()
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    row = f"//table[@id='containers']//tr[@data-id='{cont}']"
    _until(browser, 10).until(lambda d: d.find_elements(By.XPATH, row))
    assert "public" in browser.find_element(By.XPATH, row).text
    # Public: anyone may list it, without a token.
    project = dash.openrc("demo")
    tok = dash.issue_token(project["OS_USERNAME"], project["OS_PASSWORD"], project["OS_PROJECT_NAME"])
    acct = requests.get(f"{dash.identity_v3}/auth/projects", headers={"X-Auth-Token": tok},
                        timeout=10).json()["projects"]
    pid = next(p["id"] for p in acct if p["name"] == project["OS_PROJECT_NAME"])
    swift = f"{dash.base_url}/object-storage/v1/AUTH_{pid}/{cont}"
    assert requests.get(swift, timeout=10).status_code in (200, 204)
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='make private']"))
    _until(browser, 10).until(lambda d: "private" in d.find_element(By.XPATH, row).text)
    assert requests.get(swift, timeout=10).status_code == 401

    # A folder, a file uploaded into it, downloaded back, deleted.
    _submit(browser, browser.find_element(By.XPATH, row + "//a"))
    form = open_form(browser, "folder-create")
    form.find_element(By.NAME, "name").send_keys("docs")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    # The folder shows on the page the POST answers, not the one the click leaves.
    docs = _until(browser, 10).until(
        lambda d: d.find_elements(By.XPATH, "//table[@id='objects']//a[text()='docs/']"))[0]
    _submit(browser, docs)
    _until(browser, 10).until(lambda d: "prefix=docs" in d.current_url)
    payload = os.urandom(200_000)
    src = tmp_path / "notes.bin"
    src.write_bytes(payload)
    browser.find_element(By.ID, "object-file").send_keys(str(src))
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "#object-upload button"), timeout=60)
    obj = "//table[@id='objects']//tr[@data-id='docs/notes.bin']"
    _until(browser, 60).until(lambda d: d.find_elements(By.XPATH, obj),
                                     message="the uploaded object is never listed")
    assert browser.find_element(By.ID, "crumbs").text.endswith(f"{cont} / docs")
    shot(browser, dash, "objects")
    href = browser.find_element(By.XPATH, obj + "//a").get_attribute("href")
    sid = browser.get_cookie("onestack_session")["value"]
    r = requests.get(href, cookies={"onestack_session": sid}, timeout=30)
    assert r.status_code == 200 and r.content == payload
    assert 'filename="notes.bin"' in r.headers["content-disposition"]
    # Another project's user cannot read it through the dashboard.
    _submit(browser, browser.find_element(By.XPATH, obj).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    _until(browser, 20).until(lambda d: not d.find_elements(By.XPATH, obj))
    assert "prefix=docs" in browser.current_url

    # A container with objects is refused deletion with Swift's 409, shown.
    browser.get(f"{dash.base_url}/dashboard/project/containers")
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    title = _until(browser, 20).until(lambda d: d.find_elements(By.ID, "error-title"))[0]
    assert title.text == "Conflict"
    browser.get(f"{dash.base_url}/dashboard/project/containers/{cont}/?prefix=")
    _submit(browser, browser.find_element(By.XPATH, "//table[@id='objects']//a[text()='docs/']"))
    _until(browser, 10).until(lambda d: "prefix=docs" in d.current_url)
    # The folder marker is the only object left; delete it through the API, then the
    # container through the page.
    r = requests.delete(f"{swift}/docs/", headers={"X-Auth-Token": tok}, timeout=10)
    assert r.status_code == 204, r.status_code
    browser.get(f"{dash.base_url}/dashboard/project/containers")
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    _until(browser, 10).until(lambda d: not d.find_elements(By.XPATH, row))


STACK_TEMPLATE = """heat_template_version: 2018-08-31
description: a dashboard test stack
parameters:
  net_name:
    type: string
    default: unused
resources:
  secret:
    type: OS::Heat::RandomString
    properties:
      length: 12
  net:
    type: OS::Neutron::Net
    properties:
      name: {get_param: net_name}
outputs:
  net_id:
    description: the network's id
    value: {get_resource: net}
  secret_length:
    value: {get_attr: [secret, value]}
"""


def test_stacks(dash, browser, tmp_path):
    _login_as(browser, dash)
    stack, net = unique("dashstack"), unique("stacknet")
    _timed_get(browser, dash, "/dashboard/project/stacks", "stacks")
    assert "Stacks" in browser.find_element(By.TAG_NAME, "nav").text
    tpl = tmp_path / "lab.yaml"
    tpl.write_text(STACK_TEMPLATE)
    form = open_form(browser, "stack-launch")
    form.find_element(By.NAME, "stack_name").send_keys(stack)
    # The template comes from a file: the page's script puts it in the text area.
    form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(tpl))
    _until(browser, 10).until(
        lambda d: "OS::Heat::RandomString" in form.find_element(By.NAME, "template").get_attribute("value"))
    form.find_element(By.NAME, "parameters").send_keys(f"net_name={net}")
    _submit(browser, form.find_element(By.XPATH, ".//button[@type='submit']"))
    _until(browser, 20).until(lambda d: "/project/stacks/" in d.current_url)
    _until(browser, 120, poll_frequency=1).until(
        lambda d: "CREATE_COMPLETE" in d.find_element(By.ID, "stack-facts").text,
        message="the stack never completed")
    resources = browser.find_element(By.ID, "stack-resources").text
    assert "OS::Neutron::Net" in resources and "OS::Heat::RandomString" in resources
    assert "net_id" in browser.find_element(By.ID, "stack-outputs").text
    assert "CREATE_COMPLETE" in browser.find_element(By.ID, "stack-events").text
    assert "OS::Heat::RandomString" in browser.find_element(By.ID, "stack-template").text
    # The topology picture has a box per resource.
    topo = browser.find_element(By.ID, "stack-topology").get_attribute("outerHTML")
    assert ">net<" in topo and ">secret<" in topo, topo[:500]

    # An update adds a resource; the page follows it to UPDATE_COMPLETE. The form
    # holds the current template and parameters (net_name stays).
    form = open_form(browser, "stack-update")
    assert f"net_name={net}" in form.find_element(By.NAME, "parameters").get_attribute("value")
    area = form.find_element(By.NAME, "template")
    area.clear()
    area.send_keys(STACK_TEMPLATE.replace(
        "outputs:", "  extra:\n    type: OS::Heat::RandomString\n    properties:\n      length: 4\noutputs:"))
    _submit(browser, form.find_element(By.XPATH, ".//button[@type='submit']"))

    def updated(d):
        facts = d.find_element(By.ID, "stack-facts").text
        assert "UPDATE_FAILED" not in facts, facts
        return "UPDATE_COMPLETE" in facts
    _until(browser, 120, poll_frequency=1).until(updated, message="the update never completed")
    assert "extra" in browser.find_element(By.ID, "stack-resources").text
    assert ">extra<" in browser.find_element(By.ID, "stack-topology").get_attribute("outerHTML")
    shot(browser, dash, "stack")
    browser.get(f"{dash.base_url}/dashboard/project/networks")
    assert net in browser.find_element(By.ID, "networks").text, "the parameter reached the net"

    # A template Heat refuses: its message, readable.
    browser.get(f"{dash.base_url}/dashboard/project/stacks")
    form = open_form(browser, "stack-launch")
    form.find_element(By.NAME, "stack_name").send_keys(unique("badstack"))
    form.find_element(By.NAME, "template").send_keys("heat_template_version: 2018-08-31\nresources:\n  x:\n    type: OS::No::Such\n")
    _submit(browser, form.find_element(By.XPATH, ".//button[@type='submit']"))
    _until(browser, 30).until(lambda d: d.find_elements(By.ID, "error-title"))
    assert browser.find_element(By.ID, "error-title").text == "Request refused"
    assert "OS::No::Such" in browser.find_element(By.ID, "error-message").text

    browser.get(f"{dash.base_url}/dashboard/project/stacks")
    row = f"//table[@id='stacks']//tr[td/a[text()='{stack}']]"
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    _until(browser, 120, poll_frequency=1).until(
        lambda d: not d.find_elements(By.XPATH, row) or d.refresh(),
        message="the stack was never deleted")
    browser.get(f"{dash.base_url}/dashboard/project/networks")
    assert net not in browser.find_element(By.ID, "networks").text


def test_api_access(dash, browser):
    _login_as(browser, dash)
    _timed_get(browser, dash, "/dashboard/project/api-access", "API access")
    endpoints = browser.find_element(By.ID, "endpoints").text
    for kind in ("identity", "compute", "object-store", "orchestration"):
        assert kind in endpoints, kind
    sid = browser.get_cookie("onestack_session")["value"]
    for link, needle in (("download-openrc", "export OS_AUTH_URL="),
                         ("download-clouds-yaml", "auth_url:")):
        href = browser.find_element(By.ID, link).get_attribute("href")
        r = requests.get(href, cookies={"onestack_session": sid}, timeout=10)
        assert r.status_code == 200 and needle in r.text, r.text[:300]
        assert "attachment" in r.headers["content-disposition"]
        assert "gAAAA" not in r.text and creds(dash, "demo")[1] not in r.text, \
            "no token or password in the file"
    # The openrc works with the real CLI: source it, answer the password prompt.
    venv = os.environ.get("ONESTACK_VENV")
    if venv and Path(venv, "bin", "openstack").exists():
        rc = Path(dash.state_dir).parent / "demo-openrc.sh"
        rc.write_text(requests.get(f"{dash.base_url}/dashboard/project/api-access/openrc",
                                   cookies={"onestack_session": sid}, timeout=10).text)
        import subprocess
        out = subprocess.run(["bash", "-c", f"source {rc} >/dev/null && {venv}/bin/openstack token issue -f value -c project_id"],
                             input=creds(dash, "demo")[1] + "\n", capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip(), out.stderr[-500:]
    shot(browser, dash, "api-access")


def test_admin_sees_admin_pages(dash, browser):
    _login_as(browser, dash, "admin")
    browser.get(f"{dash.base_url}/dashboard/admin/hypervisors")
    assert browser.find_element(By.ID, "hypervisors").text.count("QEMU") >= 1
    browser.get(f"{dash.base_url}/dashboard/admin/instances")
    assert "demo" in browser.find_element(By.ID, "all-instances").text
    shot(browser, dash, "admin-instances")
    # Every other admin page renders its tables without an error.
    for page, table, needle in (
            ("flavors", "flavors", "m1.nano"), ("images", "images", "cirros"),
            ("networks", "networks", "public"), ("routers", "routers", ""),
            ("groups", "groups", ""), ("roles", "roles", "member"),
            ("roles", "role-assignments", "admin"),
            ("defaults", "compute-defaults", "instances"),
            ("defaults", "network-defaults", "floatingip"),
            ("info", "services", "compute"), ("info", "service-states", "nova-compute"),
            ("projects", "projects", "demo"), ("users", "users", "demo")):
        _timed_get(browser, dash, f"/dashboard/admin/{page}", f"admin {page}")
        assert not browser.find_elements(By.ID, "error-title"), page
        assert needle in browser.find_element(By.ID, table).text, (page, table)
    shot(browser, dash, "admin-info")
    logout(browser, dash)


def test_admin_creates_and_edits(dash, browser):
    """Projects (edit, members), users (create with a role, new password), flavors
    (extra specs), any project's images (protect) and networks (shared, subnet),
    through the admin pages; the new user then logs in."""
    _login_as(browser, dash, "admin")
    base = f"{dash.base_url}/dashboard/admin"

    def create(page: str, form_id: str, fields: dict[str, str], selects=None):
        browser.get(f"{base}/{page}")
        form = open_form(browser, form_id)
        for k, v in fields.items():
            el = form.find_element(By.NAME, k)
            el.clear()
            el.send_keys(v)
        for k, v in (selects or {}).items():
            Select(form.find_element(By.NAME, k)).select_by_visible_text(v)
        _submit(browser, form.find_element(By.TAG_NAME, "button"))
        assert not browser.find_elements(By.ID, "error-title"), \
            browser.find_element(By.ID, "error-message").text

    def save(form_id: str, fields: dict[str, str]):
        form = browser.find_element(By.ID, form_id)
        for k, v in fields.items():
            el = form.find_element(By.NAME, k)
            el.clear()
            el.send_keys(v)
        _submit(browser, form.find_element(By.TAG_NAME, "button"))

    # A project: created (its page opens), described, demo made a member.
    proj = unique("dashproj")
    create("projects", "project-create", {"name": proj})
    assert browser.current_url.startswith(f"{base}/projects/"), browser.current_url
    save("project-edit", {"description": "for a class"})
    assert browser.find_element(By.ID, "project-edit").find_element(
        By.NAME, "description").get_attribute("value") == "for a class"
    form = browser.find_element(By.ID, "project-member-add")
    Select(form.find_element(By.NAME, "user")).select_by_visible_text("demo")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    members = browser.find_element(By.ID, "project-members").text
    assert "demo" in members and "member" in members, members
    proj_url = browser.current_url

    # A user with the project as its primary one (member there), then a new password.
    user, pw = unique("dashuser"), "first-pw-123"
    create("users", "user-create", {"name": user, "password": pw}, {"project": proj})
    assert browser.current_url.startswith(f"{base}/users/"), browser.current_url
    assert f"project {proj}" in browser.find_element(By.ID, "user-roles").text
    save("user-edit", {"password": "second-pw-456", "email": "u@example.org"})
    assert browser.find_element(By.ID, "user-edit").find_element(
        By.NAME, "email").get_attribute("value") == "u@example.org"
    s = _requests_login(dash, user, "second-pw-456")
    assert s.get(f"{dash.base_url}/dashboard/project/overview", timeout=30).status_code == 200
    shot(browser, dash, "admin-user")

    # A flavor with an extra spec, which is then removed, then the flavor.
    flavor = unique("dashflavor")
    create("flavors", "flavor-create", {"name": flavor, "ram": "256", "disk": "1"})
    assert browser.current_url.startswith(f"{base}/flavors/"), browser.current_url
    form = browser.find_element(By.ID, "extra-spec-set")
    form.find_element(By.NAME, "key").send_keys("hw:cpu_policy")
    form.find_element(By.NAME, "value").send_keys("dedicated")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    specs = browser.find_element(By.ID, "extra-specs").text
    assert "hw:cpu_policy" in specs and "dedicated" in specs, specs
    _submit(browser, browser.find_element(
        By.CSS_SELECTOR, "#extra-specs button[data-action='delete']"), confirm=True)
    assert "hw:cpu_policy" not in browser.find_element(By.ID, "extra-specs").text
    browser.get(f"{base}/flavors")
    row = f"//table[@id='flavors']//tr[td/a[text()='{flavor}']]"
    assert "256" in browser.find_element(By.XPATH, row).text
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    assert not browser.find_elements(By.XPATH, row)

    # An image protected: Glance refuses its deletion, and says why; unprotected again.
    browser.get(f"{base}/images")
    row = "//table[@id='images']//tr[td/a[text()='cirros']]"
    _submit(browser, browser.find_element(By.XPATH, row + "//a"))
    browser.find_element(By.ID, "image-edit").find_element(By.NAME, "protected").click()
    save("image-edit", {})
    assert browser.find_element(By.ID, "image-edit").find_element(
        By.NAME, "protected").is_selected()
    image_page = browser.current_url
    browser.get(f"{base}/images")
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    assert browser.find_element(By.ID, "error-title").text == "Forbidden"
    assert "protected" in browser.find_element(By.ID, "error-message").text
    browser.get(image_page)
    browser.find_element(By.ID, "image-edit").find_element(By.NAME, "protected").click()
    save("image-edit", {})
    assert not browser.find_element(By.ID, "image-edit").find_element(
        By.NAME, "protected").is_selected()

    # A shared network with a subnet for the new project, made unshared, deleted.
    net = unique("dashadmnet")
    browser.get(f"{base}/networks")
    form = open_form(browser, "admin-network-create")
    form.find_element(By.NAME, "name").send_keys(net)
    Select(form.find_element(By.NAME, "project")).select_by_visible_text(proj)
    form.find_element(By.NAME, "shared").click()
    form.find_element(By.NAME, "cidr").send_keys("192.168.91.0/24")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    assert "192.168.91.0/24" in browser.find_element(By.ID, "admin-subnets").text
    shared = browser.find_element(By.ID, "admin-network-edit").find_element(By.NAME, "shared")
    assert shared.is_selected()
    shared.click()
    save("admin-network-edit", {})
    assert not browser.find_element(By.ID, "admin-network-edit").find_element(
        By.NAME, "shared").is_selected()
    browser.get(f"{base}/networks")
    row = f"//table[@id='networks']//tr[td/a[text()='{net}']]"
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    assert not browser.find_elements(By.XPATH, row)

    # A group and a role, created and deleted from their lists.
    group, role = unique("dashgroup"), unique("dashrole")
    create("groups", "group-create", {"name": group})
    create("roles", "role-create", {"name": role})
    for page, name in (("groups", group), ("roles", role)):
        browser.get(f"{base}/{page}")
        row = f"//table[@id='{page}']//tr[td[text()='{name}']]"
        assert browser.find_elements(By.XPATH, row), (page, name)
        _submit(browser, browser.find_element(By.XPATH, row).find_element(
            By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
        assert not browser.find_elements(By.XPATH, row), page

    # The user, then the project, deleted from their lists.
    for page, name in (("users", user), ("projects", proj)):
        browser.get(f"{base}/{page}")
        row = f"//table[@id='{page}']//tr[td/a[text()='{name}']]"
        _submit(browser, browser.find_element(By.XPATH, row).find_element(
            By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
        assert not browser.find_elements(By.XPATH, row), page
    browser.get(proj_url)
    assert browser.find_element(By.ID, "error-title").text == "Not found"
    logout(browser, dash)


def _launch(browser, dash, name: str, source: str, selects: dict[str, str],
            boxes: dict[str, bool], texts: dict[str, str]) -> str:
    """Launches `name` from the wizard with boot source `source` (the option's text;
    `selects` by option value), waits for ACTIVE in the list and returns its id."""
    browser.get(f"{dash.base_url}/dashboard/project/instances/launch")
    launch = browser.find_element(By.ID, "launch")
    launch.find_element(By.NAME, "name").send_keys(name)
    Select(launch.find_element(By.NAME, "source")).select_by_visible_text(source)
    for k, v in selects.items():
        Select(launch.find_element(By.NAME, k)).select_by_value(v)
    for k, v in boxes.items():
        box = launch.find_element(By.NAME, k)
        if box.is_selected() != v:
            box.click()
    for k, v in texts.items():
        el = launch.find_element(By.NAME, k)
        el.clear()
        el.send_keys(v)
    Select(launch.find_element(By.NAME, "flavor")).select_by_index(0)
    # On the project's own network (other tests add more: Nova wants one named).
    for box in launch.find_elements(By.NAME, "network"):
        if box.is_selected():
            box.click()
    launch.find_element(By.XPATH, ".//label[normalize-space(.)='private']/input").click()
    t_click = time.monotonic()
    _submit(browser, browser.find_element(By.ID, "launch-submit"))
    err = browser.find_elements(By.ID, "error-message")
    assert not err, err[0].text
    row = f"//table[@id='instances']//tr[td/a[text()='{name}']]"

    def active(d):
        cells = d.find_elements(By.XPATH, row + "/td")
        if not cells:
            return False
        assert cells[3].text != "ERROR", f"instance went to ERROR: {[c.text for c in cells]}"
        return cells[3].text == "ACTIVE" and cells[4].text == ""
    _until(browser, BOOT_TIMEOUT).until(active, message=f"{name} never ACTIVE")
    TIMINGS.append(f"browser: Launch click -> ACTIVE shown, boot source {source!r} "
                   f"{time.monotonic() - t_click:.1f}s")
    return _until(browser, 10).until(
        lambda d: d.find_element(By.XPATH, row).get_attribute("data-id"))


def _delete_instance(browser, dash, name: str) -> None:
    browser.get(f"{dash.base_url}/dashboard/project/instances")
    row = f"//table[@id='instances']//tr[td/a[text()='{name}']]"
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    # The list refreshes itself while the instance is deleted.
    _until(browser, 120).until(lambda d: not d.find_elements(By.XPATH, row),
                               message=f"{name} never left the list")


def _volumes_until(browser, dash, want, message: str):
    """Re-reads the volumes page until `want({id: row text})` is true; returns it."""
    def check(d):
        d.get(f"{dash.base_url}/dashboard/project/volumes")
        rows = d.find_elements(By.XPATH, "//table[@id='volumes']/tbody/tr[@data-id]")
        return want({r.get_attribute("data-id"): r.text for r in rows})
    return _until(browser, 120, poll_frequency=1).until(check, message=message)


def test_launch_from_volumes(dash, browser):
    """The wizard's volume boot sources, as Horizon offers them: the image on a new
    volume (kept after the instance, as asked), then that volume itself as the boot
    source, deleted with its instance."""
    _login_as(browser, dash)
    first, second = unique("dashbfv"), unique("dashvolboot")
    browser.get(f"{dash.base_url}/dashboard/project/instances/launch")
    image = next(o.get_attribute("value") for o in Select(browser.find_element(
        By.ID, "launch").find_element(By.NAME, "image")).options if o.text == "cirros")
    _launch(browser, dash, first, "Image (on a new volume)", {"image": image},
            {"delete_on_termination": False}, {"volume_size": "1"})
    # Its root volume: 1 GB, bootable, attached to it.
    vol = _volumes_until(browser, dash, lambda rows: next(
        (i for i, r in rows.items() if first in r and "in-use" in r), False),
        f"no volume in use by {first}")
    _delete_instance(browser, dash, first)
    # Kept (delete on termination off): available again, and offered as a source.
    _volumes_until(browser, dash, lambda rows: "available" in rows.get(vol, ""),
                   f"volume {vol} never available after its instance went")
    shot(browser, dash, "boot-volume-kept")
    _launch(browser, dash, second, "Volume", {"volume": vol},
            {"delete_on_termination": True}, {})
    _volumes_until(browser, dash, lambda rows: second in rows.get(vol, ""),
                   f"volume {vol} not attached to {second}")
    _delete_instance(browser, dash, second)
    # Deleted with its instance.
    _volumes_until(browser, dash, lambda rows: vol not in rows,
                   f"volume {vol} outlived {second}")


def _save_form(browser, form_id: str, fields: dict[str, str]) -> None:
    """Types `fields` into the form and posts it (the page it answers has loaded)."""
    form = browser.find_element(By.ID, form_id)
    for k, v in fields.items():
        el = form.find_element(By.NAME, k)
        el.clear()
        el.send_keys(v)
    _submit(browser, form.find_element(By.TAG_NAME, "button"))


def _value(browser, form_id: str, name: str) -> str:
    return _until(browser, 10).until(lambda d: d.find_element(By.ID, form_id).find_element(
        By.NAME, name).get_attribute("value"))


def test_admin_edits_quotas(dash, browser):
    """A project's compute, network and volume quotas and the compute and volume
    defaults, edited by the admin; a value the service refuses shows its message and
    changes nothing."""
    _login_as(browser, dash, "admin")
    base = f"{dash.base_url}/dashboard/admin"
    browser.get(f"{base}/projects")
    row = browser.find_element(By.XPATH, "//table[@id='projects']//tr[td/a[text()='demo']]")
    _submit(browser, row.find_element(By.LINK_TEXT, "Quotas"))
    here = browser.current_url
    assert here.endswith("/quotas"), here
    for form, key, want in (("compute-quotas", "instances", "17"),
                            ("network-quotas", "floatingip", "33"),
                            ("volume-quotas", "volumes", "19")):
        old = _value(browser, form, key)
        _save_form(browser, form, {key: want})
        assert not browser.find_elements(By.ID, "error-title"), \
            browser.find_element(By.ID, "error-message").text
        assert browser.current_url == here
        assert _value(browser, form, key) == want, (form, key)
        _save_form(browser, form, {key: old})
        assert _value(browser, form, key) == old, (form, key)
    # Nova's own validation, shown; the limit is unchanged.
    _save_form(browser, "compute-quotas", {"cores": "-5"})
    assert browser.find_element(By.ID, "error-title").text == "Request refused"
    msg = browser.find_element(By.ID, "error-message").text
    assert "cores" in msg and "-1" in msg, msg
    browser.get(here)
    assert _value(browser, "compute-quotas", "cores") != "-5"
    shot(browser, dash, "admin-quotas")

    # The defaults (the `default` quota class): compute and volume edited, network shown.
    browser.get(f"{base}/defaults")
    assert "floatingip" in browser.find_element(By.ID, "network-defaults").text
    for form, key in (("compute-defaults", "key_pairs"), ("volume-defaults", "snapshots")):
        old = _value(browser, form, key)
        want = str(int(old) + 7)
        _save_form(browser, form, {key: want})
        assert not browser.find_elements(By.ID, "error-title"), \
            browser.find_element(By.ID, "error-message").text
        assert _value(browser, form, key) == want, (form, key)
        _save_form(browser, form, {key: old})
        assert _value(browser, form, key) == old, (form, key)
    _save_form(browser, "volume-defaults", {"gigabytes": "lots"})
    assert browser.find_element(By.ID, "error-title").text == "Request refused"
    assert "gigabytes" in browser.find_element(By.ID, "error-message").text
    logout(browser, dash)


def test_admin_routers_and_flavor_edit(dash, browser):
    """Every project's routers with their gateway set, cleared and the router
    deleted; a private flavor's sizes edited (remade with its extra specs and its
    project access), a refused edit leaving it as it was, its access list edited."""
    demo_user, demo_pw = creds(dash, "demo")
    tok = dash.issue_token(demo_user, demo_pw, "demo")
    name = unique("dashadmrouter")
    r = requests.post(f"{dash.base_url}/networking/v2.0/routers", timeout=10,
                      headers={"X-Auth-Token": tok}, json={"router": {"name": name}})
    assert r.status_code == 201, r.text
    _login_as(browser, dash, "admin")
    base = f"{dash.base_url}/dashboard/admin"
    row = f"//table[@id='routers']//tr[td[text()='{name}']]"
    browser.get(f"{base}/routers")
    assert "demo" in browser.find_element(By.XPATH, row).text
    form = browser.find_element(By.XPATH, row).find_element(
        By.XPATH, ".//form[.//button[@data-action='set gateway']]")
    Select(form.find_element(By.NAME, "network")).select_by_visible_text("public")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    gw = browser.find_element(By.XPATH, row + "/td[3]").text
    assert gw.startswith("public "), gw
    shot(browser, dash, "admin-routers")
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='clear gateway']"), confirm=True)
    assert browser.find_element(By.XPATH, row + "/td[3]").text == ""
    _submit(browser, browser.find_element(By.XPATH, row).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    assert not browser.find_elements(By.XPATH, row)

    # A private flavor with an extra spec, demo given access.
    flavor = unique("dashedit")
    browser.get(f"{base}/flavors")
    form = open_form(browser, "flavor-create")
    form.find_element(By.NAME, "name").send_keys(flavor)
    form.find_element(By.NAME, "public").click()
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    page = browser.current_url
    assert page.startswith(f"{base}/flavors/"), page
    _save_form(browser, "extra-spec-set", {"key": "hw:cpu_policy", "value": "shared"})
    form = browser.find_element(By.ID, "flavor-access-add")
    Select(form.find_element(By.NAME, "project")).select_by_visible_text("demo")
    _submit(browser, form.find_element(By.TAG_NAME, "button"))
    assert "demo" in browser.find_element(By.ID, "flavor-access").text

    def facts():
        return browser.find_element(By.ID, "flavor-facts").text
    # Edited: remade with the same id, spec and access.
    _save_form(browser, "flavor-edit", {"ram": "384", "vcpus": "2"})
    assert not browser.find_elements(By.ID, "error-title"), \
        browser.find_element(By.ID, "error-message").text
    assert browser.current_url == page
    assert "RAM (MB) 384" in facts() and "vCPUs 2" in facts(), facts()
    assert "hw:cpu_policy" in browser.find_element(By.ID, "extra-specs").text
    assert "demo" in browser.find_element(By.ID, "flavor-access").text
    # Refused by Nova (no vCPUs): shown, and the flavor is as it was.
    _save_form(browser, "flavor-edit", {"vcpus": "0"})
    assert "vcpus" in browser.find_element(By.ID, "error-message").text.lower()
    browser.get(page)
    assert "RAM (MB) 384" in facts() and "vCPUs 2" in facts(), facts()
    assert "hw:cpu_policy" in browser.find_element(By.ID, "extra-specs").text
    assert "demo" in browser.find_element(By.ID, "flavor-access").text
    # Access removed, then the flavor.
    _submit(browser, browser.find_element(
        By.CSS_SELECTOR, "#flavor-access button[data-action='remove']"), confirm=True)
    assert "demo" not in browser.find_element(By.ID, "flavor-access").text
    browser.get(f"{base}/flavors")
    frow = f"//table[@id='flavors']//tr[td/a[text()='{flavor}']]"
    _submit(browser, browser.find_element(By.XPATH, frow).find_element(
        By.CSS_SELECTOR, "button[data-action='delete']"), confirm=True)
    assert not browser.find_elements(By.XPATH, frow)
    logout(browser, dash)


def test_pages_need_a_session(dash):
    for path in ("project/overview", "project/instances", "admin/hypervisors"):
        r = requests.get(f"{dash.base_url}/dashboard/{path}", timeout=10, allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/auth/login"), path
    # A forged session id is no session.
    r = requests.get(f"{dash.base_url}/dashboard/project/overview", timeout=10,
                     cookies={"onestack_session": "0" * 64}, allow_redirects=False)
    assert r.status_code == 303
    # The login form itself wants its CSRF cookie.
    r = requests.post(f"{dash.base_url}/dashboard/auth/login", timeout=10,
                      data={"username": "demo", "password": "x", "csrf": "abc"})
    assert r.status_code == 403


def _requests_login(dash, user: str, password: str) -> requests.Session:
    s = requests.Session()
    r = s.get(f"{dash.base_url}/dashboard/auth/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text).group(1)
    r = s.post(f"{dash.base_url}/dashboard/auth/login", timeout=30, allow_redirects=False,
               data={"csrf": csrf, "domain": "Default", "username": user, "password": password})
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return s


def test_another_project_sees_nothing_of_demo(dash):
    if "server" not in CREATED:
        pytest.skip("SKIP: the workflow test did not create its instance")
    admin_user, admin_pw = creds(dash, "admin")
    tok = dash.issue_token(admin_user, admin_pw, "admin")
    h = {"X-Auth-Token": tok}
    v3 = dash.identity_v3
    proj = requests.post(f"{v3}/projects", headers=h, timeout=10,
                         json={"project": {"name": unique("other"), "domain_id": "default"}}).json()["project"]
    name, pw = unique("otheruser"), "other-secret-pw"
    user = requests.post(f"{v3}/users", headers=h, timeout=10, json={"user": {
        "name": name, "password": pw, "domain_id": "default",
        "default_project_id": proj["id"]}}).json()["user"]
    role = requests.get(f"{v3}/roles?name=member", headers=h, timeout=10).json()["roles"][0]
    r = requests.put(f"{v3}/projects/{proj['id']}/users/{user['id']}/roles/{role['id']}",
                     headers=h, timeout=10)
    assert r.status_code == 204, r.text
    s = _requests_login(dash, name, pw)
    page = s.get(f"{dash.base_url}/dashboard/project/instances", timeout=30).text
    assert CREATED["server_name"] not in page
    # Typing demo's instance id into the URL: the compute API's 404, shown as such.
    r = s.get(f"{dash.base_url}/dashboard/project/instances/{CREATED['server']}", timeout=30)
    assert r.status_code == 404, r.status_code
    r = s.get(f"{dash.base_url}/dashboard/project/topology", timeout=30)
    assert r.status_code == 200 and CREATED["server_name"] not in r.text
