"""Run tempest against onestack; see scripts/tempest.sh for the interface.

Runs in the tempest venv (stdlib + tempest's own dependencies: stestr, python-subunit,
testtools). One `tempest run` per invocation over the union of the selected services
(stestr balances the classes over the workers), results split per service afterwards.
"""

from __future__ import annotations

import argparse
import configparser
import http.server
import threading
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXPECTED = REPO / "tests" / "tempest" / "expected-failures.txt"
TODO_REASON = "TODO: reason"

SERVICES = ["identity", "image", "network", "compute", "volume", "object_storage",
            "orchestration"]
# What `all` and `smoke` run.
DEFAULT_SERVICES = ["identity", "image", "network", "compute", "volume", "object_storage"]
# The test package per service: tempest.api.<service>, and for orchestration (tempest has
# no Heat tests of its own) the API tests of the heat-tempest-plugin package (gabbi).
PACKAGES = {s: f"tempest.api.{s}." for s in SERVICES}
PACKAGES["orchestration"] = "heat_tempest_plugin.tests.api."

# DevStack (devstack/lib/tempest) turns these on; onestack does not have the feature, so
# tempest.conf says so and tempest skips the tests with its own reason.
DISABLED_FEATURES = {
    ("validation", "run_validation"):
        "the test guest (scripts/build-test-image.sh) has no SSH server",
    ("identity-feature-enabled", "security_compliance"):
        "no PCI-DSS password rules (lockout, password history, minimum age)",
    ("compute-feature-enabled", "vnc_console"):
        "onestack offers the serial console only (no VNC/noVNC proxy)",
}


def log(msg: str) -> None:
    print(f"tempest: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- HTTP

class Api:
    """Just enough Keystone/Nova/Glance/Neutron to prepare a run (stdlib only)."""

    def __init__(self, auth_url: str, user: str, password: str, project: str,
                 user_domain: str = "Default", project_domain: str = "Default"):
        self.auth_url = auth_url.rstrip("/")
        if not self.auth_url.endswith("/v3"):
            self.auth_url += "/v3"
        self.user, self.password, self.project = user, password, project
        self.user_domain, self.project_domain = user_domain, project_domain
        self.token = ""
        self.catalog: list = []
        self.authenticate()

    def authenticate(self) -> None:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "password": self.password,
                "domain": {"name": self.user_domain}}}},
            "scope": {"project": {"name": self.project,
                                  "domain": {"name": self.project_domain}}}}}
        status, headers, data = self.raw("POST", f"{self.auth_url}/auth/tokens", body,
                                         token=None)
        if status != 201:
            raise SystemExit(f"tempest: cannot authenticate as {self.user}: {status} {data}")
        self.token = headers["X-Subject-Token"]
        self.catalog = data["token"]["catalog"]

    def endpoint(self, service_type: str) -> str | None:
        for svc in self.catalog:
            if svc["type"] == service_type:
                for ep in svc["endpoints"]:
                    if ep["interface"] == "public":
                        return ep["url"].rstrip("/")
        return None

    def raw(self, method: str, url: str, body=None, token: str | None = "",
            headers: dict | None = None, data: bytes | None = None):
        hdrs = {"Accept": "application/json"}
        if token is not None:
            hdrs["X-Auth-Token"] = token or self.token
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, rh, text = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, rh, text = e.code, e.headers, e.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return status, rh, parsed

    def call(self, method: str, service: str, path: str, body=None, want=(200,), **kw):
        base = self.endpoint(service)
        if base is None:
            raise SystemExit(f"tempest: no {service} endpoint in the catalog")
        status, _, data = self.raw(method, base + path, body, **kw)
        if status not in want:
            raise SystemExit(f"tempest: {method} {service}{path}: {status} {data}")
        return data


# --------------------------------------------------------------------------- the cloud

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_host_dataplane() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "not root"
    for tool in ("ip", "nft", "dnsmasq"):
        if shutil.which(tool) is None:
            return False, f"{tool} not installed"
    return True, ""


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains `text` (our unique state directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


class ImageServer:
    """Serves the test guest image over HTTP on a loopback port: the source of
    tempest's `http_image` (Glance's web-download and `/v2/tasks` imports), so the
    cloud under test never fetches from anywhere but this machine."""

    def __init__(self, image: Path):
        data = image.read_bytes()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path.split("?")[0] != "/cirros.qcow2":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/cirros.qcow2"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Cloud:
    """A throwaway onestack: temp state dir, free loopback port, its own namespaces."""

    def __init__(self, out: Path, dataplane: str):
        self.out = out
        self.tag = "tp" + uuid.uuid4().hex[:6]
        self.host_ns = f"{self.tag}-host"
        self.dataplane = dataplane
        self.state = Path(tempfile.mkdtemp(prefix="onestack-tempest-"))
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.images: ImageServer | None = None

    def profile(self, image: Path) -> str:
        text = (REPO / "profiles" / "default.toml").read_text()
        assert 'dataplane = "host"' in text and 'hypervisor = "auto"' in text
        if self.dataplane == "host":
            dp = (f'dataplane = "host"\nhost_netns = "{self.host_ns}"\n'
                  f'namespace_prefix = "{self.tag}-"')
        else:
            dp = 'dataplane = "off"'
        text = (text.replace('dataplane = "host"', dp)
                .replace("masquerade = true", "masquerade = false")
                .replace('hypervisor = "auto"', 'hypervisor = "qemu"'))
        text = re.sub(r'^bootstrap_image = ".*"$', f'bootstrap_image = "{image}"', text,
                      flags=re.M)
        # Imports from URLs (web-download, /v2/tasks) may reach the loopback image
        # server only: Glance's import filter narrowed to it.
        if self.images is not None:
            text = re.sub(r'^import_allowed_hosts = .*$', 'import_allowed_hosts = ["127.0.0.1"]',
                          text, flags=re.M)
            text = re.sub(r'^import_allowed_ports = .*$',
                          f'import_allowed_ports = [{self.images.port}]', text, flags=re.M)
        return text

    def start(self) -> None:
        binary = Path(os.environ.get("ONESTACK_BIN", REPO / "target" / "debug" / "onestack"))
        if not binary.exists():
            raise SystemExit(f"tempest: {binary} not built (cargo build)")
        image = Path(os.environ.get("ONESTACK_TEST_IMAGE",
                                    REPO / "target" / "test-image" / "test-image.qcow2"))
        if not image.is_file():
            raise SystemExit(f"tempest: no test guest at {image} "
                             "(scripts/build-test-image.sh target/test-image)")
        if self.dataplane == "host":
            subprocess.run(["ip", "netns", "add", self.host_ns], check=True)
            subprocess.run(["ip", "-n", self.host_ns, "link", "set", "lo", "up"], check=True)
        self.images = ImageServer(image)
        profile = self.state / "profile.toml"
        profile.write_text(self.profile(image))
        logf = open(self.out / "onestack.log", "wb")
        port = free_port()
        cmd = [str(binary), "--state-dir", str(self.state), "up",
               "--listen", f"127.0.0.1:{port}", "--profile", str(profile)]
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, env=env)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"tempest: onestack exited with {self.proc.returncode}; "
                                 f"see {self.out / 'onestack.log'}")
            try:
                with urllib.request.urlopen(f"{self.base}/identity/v3", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("tempest: onestack did not answer within 60 s")
            time.sleep(0.1)
        log(f"onestack up at {self.base} (state {self.state}, dataplane {self.dataplane}"
            + (f" in namespace {self.host_ns})" if self.dataplane == "host" else ")"))

    def admin_password(self) -> str:
        creds = json.loads((self.state / "credentials.json").read_text())
        return creds["admin_password"]

    def stop(self) -> None:
        """The server (by PID), then every process of our state directory (VMMs,
        dnsmasqs; checked by command line), then our namespaces and the state."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.images is not None:
            self.images.stop()
        for _ in range(50):
            pids = pids_mentioning(str(self.state))
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        if self.dataplane == "host":
            try:
                names = os.listdir("/run/netns")
            except OSError:
                names = []
            for ns in names:
                if ns.startswith(f"{self.tag}-"):
                    subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.state, ignore_errors=True)


# --------------------------------------------------------------------------- preparation

def ensure_resources(api: Api, image_file: Path | None) -> dict:
    """What tempest needs (as devstack/lib/tempest makes sure of)."""
    res = {}
    images = api.call("GET", "image", "/v2/images?limit=1000")["images"]
    by_name = {i["name"]: i for i in images}
    if "cirros" not in by_name:
        raise SystemExit("tempest: the cloud has no `cirros` image")
    res["image_ref"] = by_name["cirros"]["id"]
    if "cirros-alt" in by_name:
        res["image_ref_alt"] = by_name["cirros-alt"]["id"]
    elif image_file is not None:
        img = api.call("POST", "image", "/v2/images", {
            "name": "cirros-alt", "disk_format": "qcow2", "container_format": "bare",
            "visibility": "public"}, want=(201,))
        api.call("PUT", "image", f"/v2/images/{img['id']}/file", want=(204,),
                 headers={"Content-Type": "application/octet-stream"},
                 data=image_file.read_bytes())
        res["image_ref_alt"] = img["id"]
    else:
        res["image_ref_alt"] = res["image_ref"]
    flavors = api.call("GET", "compute", "/flavors?is_public=None")["flavors"]
    have = {f["id"] for f in flavors}
    for fid, name, ram in (("42", "m1.nano", 192), ("84", "m1.micro", 256)):
        if fid not in have:
            api.call("POST", "compute", "/flavors", {"flavor": {
                "id": fid, "name": name, "ram": ram, "disk": 1, "vcpus": 1}})
    res["flavor_ref"], res["flavor_ref_alt"] = "42", "84"
    nets = api.call("GET", "network", "/v2.0/networks?name=public")["networks"]
    if not nets:
        raise SystemExit("tempest: the cloud has no `public` network")
    res["public_network_id"] = nets[0]["id"]
    routers = api.call("GET", "network", "/v2.0/routers?name=router1")["routers"]
    res["public_router_id"] = routers[0]["id"] if routers else ""
    # devstack/lib/tempest: "make sure shared network presence does not confuse the
    # tempest tests".
    if not api.call("GET", "network", "/v2.0/networks?name=shared")["networks"]:
        net = api.call("POST", "network", "/v2.0/networks",
                       {"network": {"name": "shared", "shared": True}}, want=(201,))
        api.call("POST", "network", "/v2.0/subnets", {"subnet": {
            "network_id": net["network"]["id"], "ip_version": 4, "name": "shared-subnet",
            "description": "shared-subnet", "cidr": "192.168.233.0/24"}}, want=(201,))
    if api.endpoint("orchestration") is not None:
        res["heat_user"] = ensure_heat_user(api)
    exts = api.call("GET", "network", "/v2.0/extensions")["extensions"]
    res["network_extensions"] = ",".join(sorted(e["alias"] for e in exts))
    subnets = api.call("GET", "network", "/v2.0/subnets?name=private-subnet")["subnets"]
    res["fixed_range"] = subnets[0]["cidr"] if subnets else "10.0.0.0/26"
    return res


def ensure_heat_user(api: Api) -> dict:
    """The non-admin user heat-tempest-plugin acts as ([heat_plugin] username; DevStack
    gives it its `demo` user): a member of its own project."""
    name, password = "heat-tempest", "heat-tempest-" + uuid.uuid4().hex[:12]
    projects = api.call("GET", "identity", f"/v3/projects?name={name}")["projects"]
    project = projects[0] if projects else api.call(
        "POST", "identity", "/v3/projects",
        {"project": {"name": name, "domain_id": "default"}}, want=(201,))["project"]
    users = api.call("GET", "identity", f"/v3/users?name={name}")["users"]
    if users:
        api.call("PATCH", "identity", f"/v3/users/{users[0]['id']}",
                 {"user": {"password": password}})
        user = users[0]
    else:
        user = api.call("POST", "identity", "/v3/users", {"user": {
            "name": name, "password": password, "domain_id": "default",
            "default_project_id": project["id"]}}, want=(201,))["user"]
    roles = api.call("GET", "identity", "/v3/roles?name=member")["roles"]
    if not roles:
        raise SystemExit("tempest: the cloud has no `member` role")
    api.call("PUT", "identity",
             f"/v3/projects/{project['id']}/users/{user['id']}/roles/{roles[0]['id']}",
             want=(204,))
    return {"username": name, "password": password, "project": name}


def write_conf(path: Path, api: Api, creds: dict, res: dict, concurrency: int) -> None:
    c = configparser.ConfigParser(interpolation=None)
    c.optionxform = str

    def s(section, key, value):
        if not c.has_section(section) and section != "DEFAULT":
            c.add_section(section)
        c.set(section, key, str(value))

    s("DEFAULT", "log_file", str(path.parent.parent / "tempest.log"))
    s("DEFAULT", "use_stderr", "False")
    s("DEFAULT", "debug", "True")
    s("oslo_concurrency", "lock_path", str(path.parent.parent / "locks"))
    s("auth", "use_dynamic_credentials", "True")
    s("auth", "admin_username", creds["user"])
    s("auth", "admin_password", creds["password"])
    s("auth", "admin_project_name", creds["project"])
    s("auth", "admin_domain_name", creds["user_domain"])
    s("identity", "uri_v3", api.endpoint("identity") + "/v3")
    s("identity", "auth_version", "v3")
    s("identity", "region", "RegionOne")
    s("identity", "user_lockout_failure_attempts", "2")
    s("identity", "user_lockout_duration", "10")
    s("identity", "user_unique_last_password_count", "2")
    s("identity-feature-enabled", "api_v2", "False")
    s("identity-feature-enabled", "trust", "True")
    s("identity-feature-enabled", "project_tags", "True")
    s("identity-feature-enabled", "application_credentials", "True")
    s("identity-feature-enabled", "access_rules", "True")
    s("compute", "image_ref", res["image_ref"])
    s("compute", "image_ref_alt", res["image_ref_alt"])
    s("compute", "flavor_ref", res["flavor_ref"])
    s("compute", "flavor_ref_alt", res["flavor_ref_alt"])
    s("compute", "build_timeout", "196")
    s("compute", "max_microversion", "latest")
    for flag, value in {
        "personality": False, "resize": True, "live_migration": False,
        "change_password": False, "block_migration_for_live_migration": False,
        "live_migrate_back_and_forth": False, "hostname_fqdn_sanitization": True,
        "serial_console": True, "spice_console": False,
        "nova_policy_roles": "admin,manager,member,reader,service",
        # tempest's defaults, named here so the file says what runs.
        "pause": True, "suspend": True, "shelve": True, "rescue": True,
        "snapshot": True, "interface_attach": True, "config_drive": True,
        "metadata_service": True, "console_output": True,
    }.items():
        s("compute-feature-enabled", flag, value)
    s("image-feature-enabled", "import_image", "True")
    s("image-feature-enabled", "os_glance_reserved", "True")
    s("image-feature-enabled", "image_format_enforcement", "True")
    # A loopback URL of the test image (the throwaway cloud's own image server);
    # without one, the tests importing from a URL skip.
    if res.get("http_image"):
        s("image", "http_image", res["http_image"])
        s("image", "http_qcow2_image", res["http_image"])
    s("network", "project_network_cidr", res["fixed_range"])
    s("network", "project_networks_reachable", "false")
    s("network", "public_network_id", res["public_network_id"])
    s("network", "public_router_id", res["public_router_id"])
    s("network", "floating_network_name", "public")
    s("network", "default_network", res["fixed_range"])
    s("network-feature-enabled", "ipv6", "True")
    s("network-feature-enabled", "ipv6_subnet_attributes", "True")
    s("network-feature-enabled", "port_security", "True")
    s("network-feature-enabled", "api_extensions", res["network_extensions"])
    # Block storage as devstack/lib/tempest sets it for its default LVM/iSCSI backend,
    # with backups on (DevStack's c-bak, enabled by its backup plugins; onestack keeps
    # backups as files in its state directory).
    s("volume", "catalog_type", "volumev3")
    # DevStack sets the backend's protocol (TEMPEST_STORAGE_PROTOCOL: iSCSI for LVM, ceph
    # for RBD, ...): onestack's file backend reports `local`, as its connector says.
    s("volume", "storage_protocol", "local")
    s("volume", "vendor_name", "Open Source")
    s("volume", "min_microversion", "3.0")
    s("volume", "max_microversion", "latest")
    s("volume", "build_timeout", "196")
    # How the file backend names what `os-unmanage` leaves (DevStack sets its LVM
    # backend's names; the default `_snapshot-%s` is LVM's).
    s("volume", "manage_volume_ref", "source-name,volume-%s")
    s("volume", "manage_snapshot_ref", "source-name,snapshot-%s")
    for flag, value in {
        "api_v3": True, "api_extensions": "all", "backup": True, "snapshot": True,
        "clone": True, "multi_backend": False, "manage_snapshot": True,
        "manage_volume": True, "extend_attached_volume": True, "volume_revert": True,
    }.items():
        s("volume-feature-enabled", flag, value)
    s("validation", "connect_method", "floating")
    s("validation", "image_ssh_user", "cirros")
    s("service_available", "keystone", "True")
    for name, stype in (("glance", "image"), ("nova", "compute"), ("neutron", "network"),
                        ("cinder", "volumev3"), ("swift", "object-store")):
        s("service_available", name, api.endpoint(stype) is not None)
    s("service_available", "horizon", "False")
    # Object storage as DevStack sets it: every middleware API discoverable, the
    # operator role `member`, resellers `ResellerAdmin`.
    s("object-storage", "operator_role", "member")
    s("object-storage", "reseller_admin_role", "ResellerAdmin")
    s("object-storage-feature-enabled", "discoverable_apis", "all")
    # Container sync: the one realm and cluster onestack knows (DevStack's
    # container-sync-realms.conf names), synced every few seconds.
    s("object-storage", "realm_name", "realm1")
    s("object-storage", "cluster_name", "name1")
    s("object-storage", "container_sync_interval", "5")
    for svc in ("keystone", "nova", "placement", "glance", "neutron"):
        s("enforce_scope", svc, "true")
    # heat-tempest-plugin, as devstack's heat plugin (devstack/lib/heat) configures it.
    s("service_available", "heat", api.endpoint("orchestration") is not None)
    if "heat_user" in res:
        s("heat_plugin", "auth_url", api.endpoint("identity") + "/v3")
        s("heat_plugin", "region", "RegionOne")
        s("heat_plugin", "user_domain_name", creds["user_domain"])
        s("heat_plugin", "project_domain_name", creds["project_domain"])
        s("heat_plugin", "username", res["heat_user"]["username"])
        s("heat_plugin", "password", res["heat_user"]["password"])
        s("heat_plugin", "project_name", res["heat_user"]["project"])
        s("heat_plugin", "admin_username", creds["user"])
        s("heat_plugin", "admin_password", creds["password"])
        s("heat_plugin", "admin_project_name", creds["project"])
        s("heat_plugin", "image_ref", "cirros")
        s("heat_plugin", "minimal_image_ref", "cirros")
        s("heat_plugin", "instance_type", "m1.micro")
        s("heat_plugin", "minimal_instance_type", "m1.nano")
        s("heat_plugin", "floating_network_name", "public")
        s("heat_plugin", "build_timeout", "196")
    for (section, key), _reason in DISABLED_FEATURES.items():
        s(section, key, "False")
    with open(path, "w") as f:
        f.write("# Written by scripts/tempest.sh (tests/tempest/run.py) from the cloud's catalog\n"
                "# with devstack/lib/tempest's defaults; turned off (onestack lacks them):\n")
        for (section, key), reason in DISABLED_FEATURES.items():
            f.write(f"#   [{section}] {key}: {reason}\n")
        c.write(f)


# --------------------------------------------------------------------------- results

ATTR = re.compile(r"\[[^\]]*\]$")
CLASS_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((.+)\)$")


def base_id(test_id: str) -> str:
    """tempest.api.x.T.test_y[id-...,smoke] -> tempest.api.x.T.test_y"""
    return ATTR.sub("", test_id)


def service_of(test_id: str) -> str | None:
    for svc, pkg in PACKAGES.items():
        if test_id.startswith(pkg):
            return svc
    return None


def read_stream(path: Path) -> dict:
    """test id -> {status, details} from a subunit v2 stream."""
    import subunit
    import testtools

    results: dict[str, dict] = {}

    class Collect(testtools.StreamResult):
        def __init__(self):
            super().__init__()
            self.buf: dict[str, dict] = {}

        def status(self, test_id=None, test_status=None, test_tags=None, runnable=True,
                   file_name=None, file_bytes=None, eof=False, mime_type=None,
                   route_code=None, timestamp=None):
            if test_id is None:
                return
            entry = self.buf.setdefault(test_id, {"status": None, "details": {}})
            if file_name is not None and file_bytes:
                entry["details"].setdefault(file_name, b"")
                entry["details"][file_name] += bytes(file_bytes)
            if test_status in ("success", "fail", "skip", "xfail", "uxsuccess"):
                entry["status"] = test_status

    collect = Collect()
    with open(path, "rb") as f:
        case = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        collect.startTestRun()
        case.run(collect)
        collect.stopTestRun()
    for tid, entry in collect.buf.items():
        if entry["status"] is None:
            continue
        details = {k: v.decode(errors="replace") for k, v in entry["details"].items()}
        results[tid] = {"status": entry["status"], "details": details}
    return results


def classify(selected: list[str], stream: dict) -> dict:
    """Per selected test (base id): passed | failed | skipped, with a reason/traceback.
    A test of a class whose setUpClass failed "never ran": failed with that traceback;
    one whose setUpClass skipped: skipped with tempest's reason."""
    by_base = {}
    class_fixture = {}
    for tid, r in stream.items():
        m = CLASS_FIXTURE.match(tid)
        if m:
            if r["status"] != "success":
                class_fixture.setdefault(m.group(2), (m.group(1), r))
            continue
        by_base[base_id(tid)] = r
    out = {}
    for tid in selected:
        b = base_id(tid)
        cls = b.rsplit(".", 1)[0]
        r = by_base.get(b)
        if r is not None:
            status = {"success": "passed", "skip": "skipped", "xfail": "passed",
                      "fail": "failed", "uxsuccess": "failed"}[r["status"]]
            detail = r["details"].get("traceback") or r["details"].get("reason", "")
            out[b] = {"status": status, "detail": detail}
        elif cls in class_fixture:
            which, fr = class_fixture[cls]
            if fr["status"] == "skip":
                out[b] = {"status": "skipped", "detail": fr["details"].get("reason", "")}
            else:
                out[b] = {"status": "failed",
                          "detail": f"never ran: {which} failed\n"
                                    + (fr["details"].get("traceback") or "")}
        else:
            out[b] = {"status": "failed", "detail": "never ran (no result in the stream)"}
    # A tearDownClass failure fails nothing but is worth seeing.
    return out


def summarize(results: dict, services: list[str], out: Path) -> dict:
    counts = {}
    for svc in services:
        mine = {t: r for t, r in results.items() if service_of(t) == svc}
        n = {k: sum(1 for r in mine.values() if r["status"] == k)
             for k in ("passed", "failed", "skipped")}
        n["selected"] = len(mine)
        counts[svc] = n
        d = out / svc
        d.mkdir(parents=True, exist_ok=True)
        (d / "results.json").write_text(json.dumps(mine, indent=1, sort_keys=True))
        with open(d / "failures.txt", "w") as f:
            for t, r in sorted(mine.items()):
                if r["status"] == "failed":
                    f.write(f"===== {t}\n{r['detail'].rstrip()}\n\n")
        (d / "summary.txt").write_text(line(svc, n) + "\n")
    return counts


def line(svc: str, n: dict) -> str:
    ran = n["selected"] - n["skipped"]
    rate = f", {100.0 * n['passed'] / ran:.1f}% of those that ran" if ran else ""
    return (f"{svc}: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped "
            f"(of {n['selected']} selected{rate})")


# --------------------------------------------------------------------------- expected failures

def read_expected() -> dict[str, str]:
    """test id -> reason; `id  # reason` per line, blank lines and # comments ignored."""
    expected = {}
    if not EXPECTED.exists():
        return expected
    for raw in EXPECTED.read_text().splitlines():
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        tid, _, reason = text.partition("#")
        expected[tid.strip()] = reason.strip()
    return expected


HEADER = """\
# Tempest tests that fail against onestack today, one per line: `test id  # reason`.
# scripts/test.sh runs `scripts/tempest.sh --check`, which fails on a failure not listed
# here and on a listed test that passes, so this list only shrinks.
# Regenerate with `scripts/tempest.sh --update-expected` (a full run of the four services):
# passing entries are dropped, reasons are kept, new failures get "TODO: reason"
# for a person to replace with the real one (a single-node limit, or "not yet: ...");
# `scripts/tempest.sh --update-expected --from target/tempest` does it from the last run.
"""


def update_expected(results: dict, services: list[str]) -> None:
    old = read_expected()
    keep = {t: r for t, r in old.items() if service_of(t) not in services}
    for t, r in results.items():
        if r["status"] == "failed":
            keep[t] = old.get(t) or TODO_REASON
    with open(EXPECTED, "w") as f:
        f.write(HEADER)
        for svc in SERVICES + [None]:
            ids = sorted(t for t in keep if service_of(t) == svc)
            if not ids:
                continue
            f.write(f"\n# {svc or 'other'}\n")
            for t in ids:
                f.write(f"{t}  # {keep[t]}\n")
    todo = sum(1 for t in keep if keep[t] == TODO_REASON)
    log(f"wrote {EXPECTED} ({len(keep)} entries, {todo} without a reason yet)")


def check(results: dict, services: list[str]) -> bool:
    expected = read_expected()
    ok = True
    unexpected = sorted(t for t, r in results.items()
                        if r["status"] == "failed" and t not in expected)
    fixed = sorted(t for t, r in results.items()
                   if r["status"] == "passed" and t in expected)
    vanished = sorted(t for t in expected
                      if service_of(t) in services and t not in results)
    todo = sorted(t for t in expected if service_of(t) in services
                  and expected[t] in ("", TODO_REASON))
    for title, ids in (("failed but not in expected-failures.txt", unexpected),
                       ("passed but listed in expected-failures.txt (remove them)", fixed),
                       ("listed but no longer selected (remove them)", vanished)):
        if ids:
            ok = False
            print(f"\nUNEXPECTED: {len(ids)} test(s) {title}:")
            for t in ids:
                print(f"  {t}")
    if todo:
        print(f"\nWARNING: {len(todo)} expected failure(s) still without a reason "
              f"(\"{TODO_REASON}\" in {EXPECTED.relative_to(REPO)})")
    if ok:
        print("\nexpected-failures check: ok")
    return ok


# --------------------------------------------------------------------------- main

COMPAT = REPO / "docs" / "COMPATIBILITY.md"
BEGIN, END = "<!-- tempest:begin -->", "<!-- tempest:end -->"


def write_compat(results: dict, services: list[str]) -> None:
    """The generated part of docs/COMPATIBILITY.md: per service the counts, what
    fails grouped by the reason in expected-failures.txt, and tempest's skip reasons."""
    import collections
    expected = read_expected()
    out = ["_Generated by `scripts/tempest.sh --write-compat` from a tempest 47.0.0 run "
           "against a fresh onestack; do not edit by hand._", "",
           "| service | passed | failed | skipped | selected | pass rate of those that ran |",
           "|---|---|---|---|---|---|"]
    for svc in services:
        mine = [r for t, r in results.items() if service_of(t) == svc]
        n = {k: sum(1 for r in mine if r["status"] == k) for k in ("passed", "failed", "skipped")}
        ran = len(mine) - n["skipped"]
        rate = f"{100.0 * n['passed'] / ran:.1f}%" if ran else "-"
        out.append(f"| {svc} | {n['passed']} | {n['failed']} | {n['skipped']} | {len(mine)} "
                   f"| {rate} |")
    out += ["", "Features DevStack enables that onestack does not have (tempest skips "
            "their tests):", ""]
    for (section, key), reason in DISABLED_FEATURES.items():
        out.append(f"- `[{section}] {key}`: {reason}")
    for svc in services:
        fails = collections.Counter()
        for t, r in results.items():
            if service_of(t) == svc and r["status"] == "failed":
                fails[expected.get(t) or TODO_REASON] += 1
        skips = collections.Counter()
        for t, r in results.items():
            if service_of(t) == svc and r["status"] == "skipped":
                lines = [x for x in r["detail"].strip().splitlines() if x.strip()]
                skips[(lines[-1] if lines else "no reason given")[:160]] += 1
        out += ["", f"### {svc}", ""]
        if fails:
            out.append("Not supported yet (failing tempest tests, by reason):")
            out.append("")
            for reason, k in sorted(fails.items(), key=lambda x: (-x[1], x[0])):
                shown = "reason not written yet" if reason == TODO_REASON else reason
                out.append(f"- {shown} ({k} test{'s' if k > 1 else ''})")
        else:
            out.append("Every tempest test that runs passes.")
        if skips:
            out += ["", "Skipped by tempest itself (its reason):", ""]
            for reason, k in sorted(skips.items(), key=lambda x: (-x[1], x[0])):
                out.append(f"- {reason} ({k})")
    text = COMPAT.read_text() if COMPAT.exists() else f"# Compatibility\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    COMPAT.write_text(head + BEGIN + "\n" + "\n".join(out) + "\n" + END + tail)
    log(f"wrote {COMPAT}")


def from_results(src: Path, services: list[str], args) -> int:
    """--check / --update-expected against the results.json files of an earlier run."""
    results = {}
    for svc in services:
        path = src / svc / "results.json"
        if not path.exists():
            raise SystemExit(f"tempest: no {path} (run scripts/tempest.sh {svc} first)")
        results.update(json.loads(path.read_text()))
    for svc in services:
        print((src / svc / "summary.txt").read_text().rstrip())
    rc = 0
    if args.update_expected:
        update_expected(results, services)
    if args.write_compat:
        write_compat(results, services)
    if args.check:
        rc = 0 if check(results, services) else 1
    return rc


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/tempest.sh", add_help=True)
    p.add_argument("services", nargs="*", default=[])
    p.add_argument("--concurrency", type=int,
                   default=int(os.environ.get("ONESTACK_TEMPEST_CONCURRENCY", "4")))
    p.add_argument("--check", action="store_true")
    p.add_argument("--update-expected", action="store_true")
    p.add_argument("--out", type=Path, default=REPO / "target" / "tempest")
    p.add_argument("--dataplane", choices=["host", "off"], default=None)
    p.add_argument("--write-compat", action="store_true",
                   help="rewrite the generated part of docs/COMPATIBILITY.md from the results")
    p.add_argument("--from", dest="from_dir", type=Path, default=None,
                   help="no run: --check/--update-expected against DIR's results")
    args, extra = p.parse_known_args()
    if "--" in extra:
        extra.remove("--")

    wanted = args.services or ["all"]
    smoke = "smoke" in wanted
    services = []
    for w in wanted:
        if w in ("all", "smoke"):
            services += DEFAULT_SERVICES
        elif w in SERVICES:
            services.append(w)
        else:
            p.error(f"unknown service {w!r} (identity|image|network|compute|volume|object_storage|orchestration|all|smoke)")
    services = [s for s in SERVICES if s in services]
    custom_regex = any(a in ("--regex", "-r") or a.startswith("--regex=") for a in extra)
    if (args.check or args.update_expected) and (smoke or custom_regex):
        p.error("--check/--update-expected need a full run of each service (no smoke, no --regex)")

    if args.from_dir is not None:
        return from_results(args.from_dir.resolve(), services, args)

    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "etc").mkdir(parents=True)
    (out / "locks").mkdir()

    cloud = None
    started = time.monotonic()
    try:
        if os.environ.get("OS_AUTH_URL"):
            creds = {"auth_url": os.environ["OS_AUTH_URL"],
                     "user": os.environ.get("OS_USERNAME", "admin"),
                     "password": os.environ["OS_PASSWORD"],
                     "project": os.environ.get("OS_PROJECT_NAME", "admin"),
                     "user_domain": os.environ.get("OS_USER_DOMAIN_NAME", "Default"),
                     "project_domain": os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")}
            log(f"using the running cloud at {creds['auth_url']}")
        else:
            dataplane = args.dataplane
            if dataplane is None:
                okdp, why = can_host_dataplane()
                dataplane = "host" if okdp else "off"
                if not okdp:
                    log(f"dataplane off ({why}): networking is API-only in this run")
            cloud = Cloud(out, dataplane)
            cloud.start()
            creds = {"auth_url": f"{cloud.base}/identity", "user": "admin",
                     "password": cloud.admin_password(), "project": "admin",
                     "user_domain": "Default", "project_domain": "Default"}
        api = Api(creds["auth_url"], creds["user"], creds["password"], creds["project"],
                  creds["user_domain"], creds["project_domain"])
        image_file = Path(os.environ.get("ONESTACK_TEST_IMAGE",
                                         REPO / "target" / "test-image" / "test-image.qcow2"))
        res = ensure_resources(api, image_file if image_file.is_file() else None)
        if cloud is not None and cloud.images is not None:
            res["http_image"] = cloud.images.url
        conf = out / "etc" / "tempest.conf"
        write_conf(conf, api, creds, res, args.concurrency)

        env = dict(os.environ, TEMPEST_CONFIG_DIR=str(out / "etc"),
                   TEMPEST_CONFIG="tempest.conf")
        for k in list(env):
            if k.startswith("OS_"):
                del env[k]
        import tempest as tempest_pkg
        top = Path(tempest_pkg.__file__).resolve().parent.parent
        (out / ".stestr.conf").write_text(
            f"[DEFAULT]\ntest_path={top / 'tempest' / 'test_discover'}\ntop_dir={top}\n"
            # A class per worker; heat-tempest-plugin's gabbi tests are a class per
            # request, and the requests of one YAML file build on each other, so a
            # file is one group (as the plugin's own .stestr.conf groups them).
            "group_regex=(heat_tempest_plugin\\.tests\\.api\\.test_heat_api_[a-z]+_"
            "|([^\\.]*\\.)*)\n")
        subprocess.run([str(Path(sys.executable).parent / "stestr"), "init"], cwd=out,
                       check=True, stdout=subprocess.DEVNULL)
        tempest = [str(Path(sys.executable).parent / "tempest"), "run",
                   "--config-file", str(conf)]
        packages = "|".join(re.escape(PACKAGES[s]) for s in services)
        regex = f"^({packages}).*\\bsmoke\\b" if smoke else f"^({packages})"
        selection = ["--regex", regex]
        listing = subprocess.run(tempest + selection + extra + ["--list-tests"], cwd=out,
                                 env=env, capture_output=True, text=True)
        if listing.returncode != 0:
            print(listing.stdout, listing.stderr)
            raise SystemExit("tempest: listing the tests failed")
        selected = [t for t in listing.stdout.split()
                    if service_of(t)]
        log(f"{len(selected)} tests selected; running with concurrency {args.concurrency} "
            f"(results in {out})")
        run = subprocess.run(tempest + selection + extra + ["--concurrency",
                                                            str(args.concurrency)],
                             cwd=out, env=env, stdout=open(out / "tempest-run.txt", "w"),
                             stderr=subprocess.STDOUT)
        log(f"tempest run exited with {run.returncode}")
        stream = out / "results.subunit"
        with open(stream, "wb") as f:
            subprocess.run([str(Path(sys.executable).parent / "stestr"), "last", "--subunit"],
                           cwd=out, stdout=f, check=False)
        results = classify(selected, read_stream(stream))
    finally:
        if cloud is not None:
            cloud.stop()
            log("throwaway onestack stopped and removed")

    counts = summarize(results, services, out)
    total = {k: sum(n[k] for n in counts.values())
             for k in ("passed", "failed", "skipped", "selected")}
    print()
    for svc in services:
        print(line(svc, counts[svc]))
    print(line("total", total))
    print(f"time: {time.monotonic() - started:.0f} s; results in {out}")
    (out / "summary.json").write_text(json.dumps(
        {"counts": counts, "seconds": round(time.monotonic() - started)}, indent=1))

    rc = 0
    if args.update_expected:
        update_expected(results, services)
    if args.write_compat:
        write_compat(results, services)
    if args.check:
        rc = 0 if check(results, services) else 1
    return rc


def _terminate(signum, _frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        sys.exit(2)
