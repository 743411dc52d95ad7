"""Object storage (`/object-storage/v1/AUTH_<project>`) through the real clients:
`openstack container/object` and `object store account`, python-swiftclient's
`swift` (upload, list, download with checksum, segmented large objects, public
read ACL, temp URL fetched with plain requests, expiry, delete --all), and a kill -9
during an upload that leaves the old object or nothing, never a torn one.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import threading
import time

import pytest
import requests

from conftest import VENV_BIN, OnestackServer, Osc, unique

SWIFT = str(VENV_BIN / "swift")


def swift(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    base.update(env)
    p = subprocess.run([SWIFT, *args], capture_output=True, text=True, timeout=120,
                       env=base, stdin=subprocess.DEVNULL)
    if check:
        assert p.returncode == 0, (f"swift {shlex.join(args)} -> {p.returncode}\n"
                                   f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def storage_url(env: dict[str, str]) -> tuple[str, str]:
    out = swift(env, "auth").stdout
    vals = dict(line.split("=", 1) for line in
                (l.removeprefix("export ").strip() for l in out.splitlines()) if "=" in line)
    return vals["OS_STORAGE_URL"].strip("'\""), vals["OS_AUTH_TOKEN"].strip("'\"")


def test_openstack_container_and_object_commands(demo: Osc, tmp_path):
    c = unique("cont")
    demo.run("container", "create", c)
    assert c in {r["Name"] for r in demo.json("container", "list")}
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello object storage\n")
    os.chdir(tmp_path)
    demo.run("object", "create", c, "hello.txt")
    rows = demo.json("object", "list", c)
    assert [r["Name"] for r in rows] == ["hello.txt"]
    shown = demo.json("object", "show", c, "hello.txt")
    assert shown["etag"] == hashlib.md5(src.read_bytes()).hexdigest()
    assert int(shown["content-length"]) == src.stat().st_size
    demo.run("object", "set", "--property", "color=blue", c, "hello.txt")
    # Header names arrive lower-case over HTTP/1.1 here (Swift's WSGI title-cases them).
    props = demo.json("object", "show", c, "hello.txt")["properties"]
    assert {k.lower(): v for k, v in props.items()} == {"color": "blue"}
    out = tmp_path / "saved.txt"
    demo.run("object", "save", "--file", str(out), c, "hello.txt")
    assert out.read_bytes() == src.read_bytes()
    demo.run("container", "set", "--property", "team=lab", c)
    props = demo.json("container", "show", c)["properties"]
    assert {k.lower(): v for k, v in props.items()} == {"team": "lab"}
    demo.run("object", "store", "account", "set", "--property", "quota=none")
    acct = demo.json("object", "store", "account", "show")
    # Other tests on this cloud may keep their own account metadata (temp URL keys).
    assert {k.lower(): v for k, v in acct["properties"].items()}.get("quota") == "none", acct
    # Not empty: the delete is refused; then objects go, then the container.
    demo.fail("container", "delete", c, expect="409")
    demo.run("object", "delete", c, "hello.txt")
    demo.run("container", "delete", c)
    assert c not in {r["Name"] for r in demo.json("container", "list")}


def test_swift_cli_large_objects_acl_tempurl_expiry(demo_env, tmp_path):
    c = unique("sw")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    os.chdir(tmp_path)
    # SLO (the default when /info offers it), then DLO.
    swift(demo_env, "upload", "--segment-size", "1M", c, "big.bin")
    swift(demo_env, "upload", "--segment-size", "1M", "--use-slo", "--object-name", "slo.bin",
          c, "big.bin")
    swift(demo_env, "upload", "--segment-size", "1M", "--use-dlo", "--object-name", "dlo.bin",
          c, "big.bin")
    stat = swift(demo_env, "stat", c, "slo.bin").stdout
    assert "Manifest" in stat or "static" in stat.lower() or "Content Length: 3157573" in stat, stat
    for name in ("big.bin", "slo.bin", "dlo.bin"):
        out = tmp_path / f"down-{name}"
        swift(demo_env, "download", c, name, "-o", str(out))
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest, name
    listing = swift(demo_env, "list", c).stdout.split()
    assert {"big.bin", "slo.bin", "dlo.bin"} <= set(listing)

    url, token = storage_url(demo_env)
    # Public read ACL: an anonymous curl-like GET works, listings too.
    pub = unique("pub")
    small = tmp_path / "index.html"
    small.write_text("<h1>hi</h1>")
    swift(demo_env, "upload", pub, "index.html")
    assert requests.get(f"{url}/{pub}/index.html", timeout=10).status_code == 401
    swift(demo_env, "post", "-r", ".r:*,.rlistings", pub)
    r = requests.get(f"{url}/{pub}/index.html", timeout=10)
    assert r.status_code == 200 and r.text == "<h1>hi</h1>"
    assert requests.get(f"{url}/{pub}", timeout=10).text.split() == ["index.html"]

    # Temp URL: the account key, `swift tempurl`, then a plain GET.
    swift(demo_env, "post", "-m", "Temp-URL-Key:lab-key")
    path = url.split("//", 1)[1].split("/", 1)[1]
    signed = swift(demo_env, "tempurl", "GET", "60", f"/{path}/{c}/big.bin", "lab-key").stdout.strip()
    base = url.split("/object-storage")[0] if "/object-storage" in url else url
    r = requests.get(f"{base}{signed}" if signed.startswith("/") else signed, timeout=30)
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == digest
    bad = signed.replace("temp_url_sig=", "temp_url_sig=0")
    r = requests.get(f"{base}{bad}" if bad.startswith("/") else bad, timeout=10)
    assert r.status_code == 401

    # Expiry: gone shortly after X-Delete-After.
    swift(demo_env, "upload", "-H", "X-Delete-After: 5", c, "index.html")
    assert "index.html" in swift(demo_env, "list", c).stdout.split()
    time.sleep(6)
    assert "index.html" not in swift(demo_env, "list", c).stdout.split()
    assert swift(demo_env, "stat", c, "index.html", check=False).returncode != 0

    swift(demo_env, "delete", "--all")
    assert swift(demo_env, "list").stdout.strip() == ""


def test_bad_input_gets_swift_errors(demo_env):
    url, token = storage_url(demo_env)
    h = {"X-Auth-Token": token}
    c = unique("bad")
    assert requests.put(f"{url}/{c}", headers=h, timeout=10).status_code == 201
    # 411 without a length, 422 on a wrong ETag, 400 on a too-long name, 416.
    r = requests.put(f"{url}/{c}/o", headers=h, data=iter([b"abc"]), timeout=10)
    assert r.status_code == 201  # chunked is fine
    r = requests.put(f"{url}/{c}/o", headers={**h, "ETag": "0" * 32}, data=b"abc", timeout=10)
    assert r.status_code == 422
    r = requests.put(f"{url}/{c}/{'x' * 1025}", headers=h, data=b"a", timeout=10)
    assert r.status_code == 400
    r = requests.get(f"{url}/{c}/o", headers={**h, "Range": "bytes=10-20"}, timeout=10)
    assert r.status_code == 416
    assert requests.get(f"{url}/{c}/o", timeout=10).status_code == 401


def test_kill9_during_upload_leaves_no_torn_object(fresh_server: OnestackServer, tmp_path):
    env = fresh_server.openrc("demo")
    url, token = storage_url(env)
    h = {"X-Auth-Token": token}
    c = unique("crash")
    assert requests.put(f"{url}/{c}", headers=h, timeout=10).status_code == 201
    old = b"old content" * 1000
    assert requests.put(f"{url}/{c}/obj", headers=h, data=old, timeout=10).status_code == 201

    def slow_body():
        for _ in range(200):
            yield b"n" * 65536
            time.sleep(0.02)

    def upload():
        try:
            requests.put(f"{url}/{c}/obj", headers={**h, "Content-Length": str(200 * 65536)},
                         data=slow_body(), timeout=30)
        except requests.RequestException:
            pass

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(1.0)
    fresh_server.kill9()
    t.join(timeout=30)
    fresh_server.start()
    r = requests.get(f"{url}/{c}/obj", headers=h, timeout=10)
    assert r.status_code == 200
    assert r.content == old, "the object is the old one, whole"
    head = requests.head(f"{url}/{c}", headers=h, timeout=10)
    assert head.headers["X-Container-Bytes-Used"] == str(len(old))
    tmp = fresh_server.state_dir / "objects" / "tmp"
    assert not any(tmp.iterdir()), "no partial upload left behind"
