"""Acceptance-test plumbing: run the real onestack binary and the real OpenStack clients.

- `OnestackServer` starts $ONESTACK_BIN (scripts/test.sh: target/debug/onestack; default target/release/onestack) on a free loopback
  port with its own state dir, waits for `GET /identity/v3` == 200, and stops it by PID.
- `cloud` (session fixture) is one shared server; `fresh_server` gives a test its own.
- `Osc` runs the venv's `openstack` CLI with an explicit OS_* environment.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("ONESTACK_BIN", REPO_ROOT / "target" / "release" / "onestack"))
def _test_profile() -> str:
    """The default profile with the dataplane off: acceptance tests never touch the
    machine's own interfaces (host networking is tested inside namespaces)."""
    text = (REPO_ROOT / "profiles" / "default.toml").read_text()
    assert 'dataplane = "host"' in text
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"onestack-acceptance-{os.getpid()}.toml"
    path.write_text(text.replace('dataplane = "host"', 'dataplane = "off"'))
    return str(path)


PROFILE = os.environ.get("ONESTACK_TEST_PROFILE") or _test_profile()
READY_TIMEOUT = float(os.environ.get("ONESTACK_READY_TIMEOUT", "20"))
VENV_BIN = Path(sys.executable).parent
OPENSTACK = os.environ.get("ONESTACK_OPENSTACK_CLI") or str(VENV_BIN / "openstack")
CLI_TIMEOUT = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def parse_openrc(text: str) -> dict[str, str]:
    """Parse `export KEY=VALUE` lines (shell-quoted values allowed) into a dict."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = shlex.split(line)
        if parts and parts[0] == "export":
            parts = parts[1:]
        for part in parts:
            if "=" in part:
                k, v = part.split("=", 1)
                env[k] = v
    return env


class OnestackServer:
    def __init__(self, state_dir: Path, log_path: Path, port: int | None = None,
                 profile: str | None = None):
        self.state_dir = Path(state_dir)
        self.profile = profile or PROFILE
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.start_count = 0

    # --- addresses -------------------------------------------------------
    @property
    def listen(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.listen}"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity"

    @property
    def identity_v3(self) -> str:
        return f"{self.base_url}/identity/v3"

    # --- lifecycle -------------------------------------------------------
    def log_text(self, tail: int = 200) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"<no log: {e}>"
        return "\n".join(lines[-tail:])

    def start(self) -> "OnestackServer":
        assert BIN.exists(), f"{BIN} not built (run cargo build --release)"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.start_count += 1
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n----- start #{self.start_count} -----\n".encode())
        self._log.flush()
        cmd = [str(BIN), "up", "--state-dir", str(self.state_dir), "--listen", self.listen,
               "--profile", self.profile]
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(f"onestack up exited with {rc} before becoming ready.\n"
                            f"--- log ({self.log_path}) ---\n{self.log_text()}")
            try:
                r = requests.get(self.identity_v3, timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:300]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill9()
        pytest.fail(f"onestack not ready on {self.identity_v3} after {timeout}s (last: {last})\n"
                    f"--- log ({self.log_path}) ---\n{self.log_text()}")

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM by PID, wait; SIGKILL if it does not stop. Returns the exit code."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                rc = f"killed after SIGTERM timeout ({rc})"
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def restart_hard(self) -> "OnestackServer":
        """kill -9, then start again on the same state dir and port."""
        self.kill9()
        return self.start()

    # --- credentials -----------------------------------------------------
    def run_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(BIN), *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            pytest.fail(f"{shlex.join(cmd)} -> exit {p.returncode}\n"
                        f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def openrc(self, user: str = "admin") -> dict[str, str]:
        p = self.run_cli("openrc", "--state-dir", str(self.state_dir), "--user", user)
        env = parse_openrc(p.stdout)
        for key in ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME"):
            assert key in env, f"openrc --user {user} lacks {key}:\n{p.stdout}"
        return env

    def password_env(self, username: str, password: str, project: str | None) -> dict[str, str]:
        """An OS_* env for an arbitrary user in the Default domain."""
        env = {
            "OS_AUTH_URL": self.auth_url,
            "OS_USERNAME": username,
            "OS_PASSWORD": password,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_IDENTITY_API_VERSION": "3",
            "OS_REGION_NAME": "RegionOne",
            "OS_INTERFACE": "public",
        }
        if project:
            env["OS_PROJECT_NAME"] = project
            env["OS_PROJECT_DOMAIN_NAME"] = "Default"
        return env

    # --- raw HTTP helpers ------------------------------------------------
    def issue_token(self, username: str, password: str, project: str | None = None) -> str:
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "password": password, "domain": {"name": "Default"}}}}}
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
        r = requests.post(f"{self.identity_v3}/auth/tokens", json={"auth": auth}, timeout=10)
        assert r.status_code == 201, (
            f"POST /identity/v3/auth/tokens as {username}: expected 201, got "
            f"{r.status_code}: {r.text[:500]}")
        return r.headers["X-Subject-Token"]

    def validate_token(self, auth_token: str, subject_token: str) -> requests.Response:
        return requests.get(f"{self.identity_v3}/auth/tokens", timeout=10,
                            headers={"X-Auth-Token": auth_token,
                                     "X-Subject-Token": subject_token})


class Osc:
    """Runs the real `openstack` CLI with a clean, explicit OS_* environment."""

    def __init__(self, env: dict[str, str]):
        self.env = dict(env)

    def with_env(self, **overrides: str | None) -> "Osc":
        env = dict(self.env)
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return Osc(env)

    def _proc_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        base.update(self.env)
        base.setdefault("PYTHONWARNINGS", "ignore")
        return base

    def _run(self, args) -> subprocess.CompletedProcess:
        cmd = [OPENSTACK, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                              env=self._proc_env(), stdin=subprocess.DEVNULL)

    @staticmethod
    def _describe(args, p) -> str:
        return (f"`openstack {shlex.join(args)}` -> exit {p.returncode}\n"
                f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}")

    def run(self, *args: str) -> str:
        """Run; assert exit 0; return stdout."""
        p = self._run(args)
        assert p.returncode == 0, self._describe(args, p)
        return p.stdout

    def json(self, *args: str):
        """Run with `-f json`; assert exit 0; return the parsed output."""
        args = (*args, "-f", "json")
        p = self._run(args)
        assert p.returncode == 0, self._describe(args, p)
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError as e:
            pytest.fail(f"non-JSON output ({e}):\n{self._describe(args, p)}")

    def fail(self, *args: str, expect: str | None = None) -> subprocess.CompletedProcess:
        """Run; assert a non-zero exit (and `expect` in stderr+stdout, if given)."""
        p = self._run(args)
        assert p.returncode != 0, "expected failure but got success:\n" + self._describe(args, p)
        if expect is not None:
            assert expect in p.stderr + p.stdout, (
                f"expected {expect!r} in output:\n" + self._describe(args, p))
        return p


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    """One onestack server for the whole session."""
    base = tmp_path_factory.mktemp("onestack")
    srv = OnestackServer(base / "state", base / "onestack.log")
    srv.start()
    yield srv
    rc = srv.stop()
    print(f"\nonestack (session) stopped, exit code {rc}; log at {srv.log_path}")


@pytest.fixture
def fresh_server(tmp_path):
    """A dedicated server for tests that kill or restart it."""
    srv = OnestackServer(tmp_path / "state", tmp_path / "onestack.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def admin_env(cloud) -> dict[str, str]:
    return cloud.openrc("admin")


@pytest.fixture(scope="session")
def demo_env(cloud) -> dict[str, str]:
    return cloud.openrc("demo")


@pytest.fixture(scope="session")
def admin(admin_env) -> Osc:
    return Osc(admin_env)


@pytest.fixture(scope="session")
def demo(demo_env) -> Osc:
    return Osc(demo_env)


@pytest.fixture(scope="session")
def admin_token(cloud, admin_env) -> str:
    return cloud.issue_token(admin_env["OS_USERNAME"], admin_env["OS_PASSWORD"],
                             admin_env["OS_PROJECT_NAME"])
