"""Glance v2 (`/image`) through openstacksdk (`conn.image` / `conn.create_image`), plus
raw HTTP for what the SDK hides: interoperable import with tasks, Range downloads,
server-side sorting, quotas (on a second server with a small-quota profile), and an
upload cut by kill -9.
"""

from __future__ import annotations

import hashlib
import http.client as httpclient
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import openstack
import openstack.exceptions
import pytest
import requests

from conftest import BIN, REPO_ROOT, parse_openrc, unique

QEMU_IMG = shutil.which("qemu-img")
pytestmark = pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is needed to make test images")


# --------------------------------------------------------------------------- helpers

def sha512_file(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def connect(auth_url, username, password, project):
    return openstack.connect(
        auth_url=auth_url, project_name=project, username=username, password=password,
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
        load_yaml_config=False, load_envvars=False)


def wait_status(conn, image_id: str, want: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    img = conn.image.get_image(image_id)
    while img.status != want and time.monotonic() < deadline:
        time.sleep(0.2)
        img = conn.image.get_image(image_id)
    assert img.status == want, f"image {image_id} is {img.status}, expected {want}"
    return img


class Http:
    """Raw HTTP against http://HOST/image with one token."""

    def __init__(self, base_url: str, token: str):
        self.root = f"{base_url}/image"
        self.token = token

    def req(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
        kw.setdefault("timeout", 60)
        return requests.request(method, self.root + path, headers=headers, **kw)

    def create(self, **body) -> dict:
        r = self.req("POST", "/v2/images", json=body)
        assert r.status_code == 201, f"POST /v2/images {body}: {r.status_code} {r.text[:500]}"
        return r.json()

    def show(self, image_id: str) -> dict:
        r = self.req("GET", f"/v2/images/{image_id}")
        assert r.status_code == 200, f"GET image {image_id}: {r.status_code} {r.text[:300]}"
        return r.json()

    def upload(self, image_id: str, data) -> requests.Response:
        return self.req("PUT", f"/v2/images/{image_id}/file", data=data,
                        headers={"Content-Type": "application/octet-stream"})


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sdkimages")
    raw = d / "data.raw"
    raw.write_bytes(os.urandom(3 * (1 << 20) + 12345))  # not a multiple of any chunk size
    qcow2 = d / "data.qcow2"
    subprocess.run([QEMU_IMG, "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
                   check=True, capture_output=True, timeout=60)
    info = subprocess.run([QEMU_IMG, "info", "--output", "json", str(qcow2)], check=True,
                          capture_output=True, text=True, timeout=60)
    vsize = d / "qcow2.vsize"
    vsize.write_text(str(json.loads(info.stdout)["virtual-size"]))
    return {"raw": raw, "qcow2": qcow2, "qcow2_vsize": vsize}


def qcow2_vsize(files) -> int:
    """qemu-img rounds the qcow2's virtual size up to whole 512-byte sectors."""
    return int(files["qcow2_vsize"].read_text())


@pytest.fixture(scope="module")
def conn(cloud, admin_env):
    c = connect(cloud.auth_url, admin_env["OS_USERNAME"], admin_env["OS_PASSWORD"],
                admin_env["OS_PROJECT_NAME"])
    yield c
    c.close()


@pytest.fixture(scope="module")
def demo_conn(cloud, demo_env):
    c = connect(cloud.auth_url, demo_env["OS_USERNAME"], demo_env["OS_PASSWORD"],
                demo_env["OS_PROJECT_NAME"])
    yield c
    c.close()


@pytest.fixture(scope="module")
def http(cloud, admin_token) -> Http:
    return Http(cloud.base_url, admin_token)


@pytest.fixture
def cleanup(conn):
    ids: list[str] = []
    yield ids
    for image_id in ids:
        try:
            conn.image.update_image(image_id, is_protected=False)
        except openstack.exceptions.SDKException:
            pass
        conn.image.delete_image(image_id, ignore_missing=True)


# --------------------------------------------------------------------------- SDK basics

def test_sdk_create_with_data_and_download(conn, files, cleanup, tmp_path):
    src = files["qcow2"]
    with open(src, "rb") as f:
        img = conn.image.create_image(name=unique("sdk"), data=f, disk_format="qcow2",
                                      container_format="bare", allow_duplicates=True)
    cleanup.append(img.id)
    img = wait_status(conn, img.id, "active")
    body = src.read_bytes()
    assert img.size == len(body)
    assert img.checksum == hashlib.md5(body).hexdigest()
    assert img.hash_algo == "sha512"
    assert img.hash_value == hashlib.sha512(body).hexdigest()
    assert img.virtual_size == qcow2_vsize(files)
    assert img.disk_format == "qcow2" and img.container_format == "bare"

    # stream=True: iterate the response.
    resp = conn.image.download_image(img, stream=True)
    h, n = hashlib.sha512(), 0
    for chunk in resp.iter_content(chunk_size=65536):
        h.update(chunk)
        n += len(chunk)
    resp.close()
    assert n == len(body) and h.hexdigest() == hashlib.sha512(body).hexdigest()

    # output=path.
    out = tmp_path / "out.qcow2"
    conn.image.download_image(img, output=str(out))
    assert sha512_file(out) == sha512_file(src)

    # Whole body in memory (SDK verifies Content-MD5 / checksum when present).
    got = conn.image.download_image(img.id)
    data = got.content if hasattr(got, "content") else got
    assert hashlib.sha512(data).hexdigest() == hashlib.sha512(body).hexdigest()


def test_cloud_layer_create_image_from_filename(conn, files, cleanup, tmp_path):
    name = unique("cloudlayer")
    img = conn.create_image(name, filename=str(files["raw"]), disk_format="raw",
                            container_format="bare", wait=True, timeout=120)
    cleanup.append(img.id)
    assert img.status == "active"
    assert img.size == files["raw"].stat().st_size
    assert img.virtual_size == files["raw"].stat().st_size
    assert conn.get_image(name).id == img.id
    out = tmp_path / "cloud.raw"
    conn.download_image(name, output_path=str(out))
    assert sha512_file(out) == sha512_file(files["raw"])
    assert conn.delete_image(name, wait=True)
    cleanup.remove(img.id)
    assert conn.get_image(img.id) is None


def test_sdk_update_tags_and_delete(conn, files, cleanup):
    img = conn.image.create_image(name=unique("upd"), filename=str(files["qcow2"]),
                                  disk_format="qcow2", container_format="bare",
                                  allow_duplicates=True)
    cleanup.append(img.id)
    wait_status(conn, img.id, "active")
    conn.image.update_image(img, hw_rng_model="virtio", min_ram=64)
    got = conn.image.get_image(img.id)
    assert got.properties.get("hw_rng_model") == "virtio" or \
        getattr(got, "hw_rng_model", None) == "virtio", got
    assert got.min_ram == 64

    conn.image.add_tag(got, "alpha")
    conn.image.add_tag(got, "beta")
    assert sorted(conn.image.get_image(img.id).tags) == ["alpha", "beta"]
    conn.image.remove_tag(got, "alpha")
    assert conn.image.get_image(img.id).tags == ["beta"]
    assert img.id in {i.id for i in conn.image.images(tag="beta")}

    conn.image.deactivate_image(img)
    assert conn.image.get_image(img.id).status == "deactivated"
    conn.image.reactivate_image(img)
    assert conn.image.get_image(img.id).status == "active"

    conn.image.delete_image(img, ignore_missing=False)
    cleanup.remove(img.id)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.get_image(img.id)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.delete_image(img.id, ignore_missing=False)


def test_sdk_pagination_follows_next(conn, http, cleanup):
    tag = unique("pg")
    ids = set()
    for i in range(5):
        img = conn.image.create_image(name=f"{tag}-{i}", tags=[tag], disk_format="raw",
                                      container_format="bare", allow_duplicates=True)
        cleanup.append(img.id)
        ids.add(img.id)

    got = [i.id for i in conn.image.images(tag=tag, limit=2)]
    assert len(got) == 5 and set(got) == ids, got

    # The first raw page has 2 images and a `next` link that the SDK followed.
    r = http.req("GET", "/v2/images", params={"tag": tag, "limit": 2})
    page = r.json()
    assert r.status_code == 200 and len(page["images"]) == 2, page
    assert page["next"].startswith("/v2/images?") and "marker=" in page["next"], page
    assert page["first"].startswith("/v2/images"), page
    seen = [i["id"] for i in page["images"]]
    while "next" in page:
        page = http.req("GET", page["next"]).json()
        seen += [i["id"] for i in page["images"]]
    assert len(seen) == 5 and set(seen) == ids, seen


def test_server_side_sorting_and_filters(conn, http, cleanup):
    tag = unique("sort")
    made = {}
    for name, size_fmt in (("b", "raw"), ("a", "qcow2"), ("c", "raw")):
        img = conn.image.create_image(name=f"{tag}-{name}", tags=[tag], disk_format=size_fmt,
                                      container_format="bare", allow_duplicates=True)
        cleanup.append(img.id)
        made[name] = img.id

    def names(**params):
        r = http.req("GET", "/v2/images", params={"tag": tag, **params})
        assert r.status_code == 200, r.text
        return [i["name"].rsplit("-", 1)[1] for i in r.json()["images"]]

    assert names(sort_key="name", sort_dir="asc") == ["a", "b", "c"]
    assert names(sort_key="name", sort_dir="desc") == ["c", "b", "a"]
    assert names(sort="name:asc") == ["a", "b", "c"]
    assert names(sort="name:desc") == ["c", "b", "a"]
    assert names(sort="disk_format:asc,name:desc") == ["a", "c", "b"]
    assert sorted(names(disk_format="raw")) == ["b", "c"]
    assert names(name=f"{tag}-b") == ["b"]
    assert sorted(names(status="queued")) == ["a", "b", "c"]
    assert names(status="active") == []
    assert http.req("GET", "/v2/images", params={"sort_key": "bogus"}).status_code == 400
    assert http.req("GET", "/v2/images", params={"limit": "x"}).status_code == 400
    assert http.req("GET", "/v2/images", params={"marker": "no-such"}).status_code in (400, 404)


def test_sdk_members_flow(cloud, conn, demo_conn, files, cleanup):
    img = demo_conn.image.create_image(name=unique("shr"), filename=str(files["qcow2"]),
                                       disk_format="qcow2", container_format="bare",
                                       visibility="shared", allow_duplicates=True)
    cleanup.append(img.id)
    wait_status(demo_conn, img.id, "active")
    admin_project = conn.current_project_id
    assert img.id not in {i.id for i in conn.image.images(visibility="shared")}

    m = demo_conn.image.add_member(img, member=admin_project)
    assert m.status == "pending"
    assert [x.member_id for x in demo_conn.image.members(img)] == [admin_project]
    conn.image.update_member(admin_project, img, status="accepted")
    assert demo_conn.image.get_member(admin_project, img).status == "accepted"
    assert img.id in {i.id for i in conn.image.images(visibility="shared")}
    demo_conn.image.remove_member(admin_project, img)
    assert list(demo_conn.image.members(img)) == []


def test_non_admin_cannot_publicize_via_sdk(demo_conn):
    with pytest.raises(openstack.exceptions.ForbiddenException):
        demo_conn.image.create_image(name=unique("pub"), visibility="public",
                                     disk_format="raw", container_format="bare",
                                     allow_duplicates=True)


# --------------------------------------------------------------------------- import

def test_info_import_and_discovery(cloud, http):
    r = http.req("GET", "/v2/info/import")
    assert r.status_code == 200, r.text
    methods = r.json()["import-methods"]["value"]
    assert "glance-direct" in methods, methods
    r = requests.get(f"{cloud.base_url}/image", timeout=10)
    assert r.status_code in (200, 300), r.status_code
    assert any(v["status"] == "CURRENT" for v in r.json()["versions"])
    for schema in ("image", "images", "member", "members"):
        r = http.req("GET", f"/v2/schemas/{schema}")
        assert r.status_code == 200 and r.json()["name"] == schema, (schema, r.text[:200])


def test_glance_direct_import_raw_http(conn, http, files, cleanup):
    body = files["qcow2"].read_bytes()
    img = http.create(name=unique("imp"), disk_format="qcow2", container_format="bare")
    cleanup.append(img["id"])
    iid = img["id"]
    r = http.req("PUT", f"/v2/images/{iid}/stage", data=body,
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, f"stage: {r.status_code} {r.text[:300]}"
    assert http.show(iid)["status"] == "uploading"

    r = http.req("POST", f"/v2/images/{iid}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202, f"import: {r.status_code} {r.text[:300]}"
    deadline = time.monotonic() + 60
    shown = http.show(iid)
    while shown["status"] != "active" and time.monotonic() < deadline:
        assert shown["status"] in ("uploading", "importing"), shown
        time.sleep(0.2)
        shown = http.show(iid)
    assert shown["status"] == "active", shown
    assert shown["size"] == len(body)
    assert shown["checksum"] == hashlib.md5(body).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(body).hexdigest()
    assert shown["virtual_size"] == qcow2_vsize(files)

    r = http.req("GET", f"/v2/images/{iid}/tasks")
    assert r.status_code == 200, r.text
    tasks = r.json()["tasks"]
    assert tasks and tasks[-1]["status"] == "success", tasks
    assert tasks[-1]["image_id"] == iid if "image_id" in tasks[-1] else True

    r = http.req("GET", f"/v2/images/{iid}/file")
    assert r.status_code == 200 and hashlib.sha512(r.content).hexdigest() == \
        hashlib.sha512(body).hexdigest()


def test_import_errors(http, files, cleanup):
    img = http.create(name=unique("imp"), disk_format="qcow2", container_format="bare")
    cleanup.append(img["id"])
    iid = img["id"]
    # Nothing staged yet: glance-direct import is a 409.
    r = http.req("POST", f"/v2/images/{iid}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 409, f"import before stage: {r.status_code} {r.text[:300]}"
    r = http.req("POST", f"/v2/images/{iid}/import", json={"method": {"name": "no-such"}})
    assert r.status_code == 400, f"unknown import method: {r.status_code} {r.text[:300]}"


def test_sdk_use_import(conn, files, cleanup, tmp_path):
    with open(files["qcow2"], "rb") as f:
        img = conn.image.create_image(name=unique("sdkimp"), data=f, disk_format="qcow2",
                                      container_format="bare", use_import=True,
                                      allow_duplicates=True)
    cleanup.append(img.id)
    img = wait_status(conn, img.id, "active")
    assert img.size == files["qcow2"].stat().st_size
    out = tmp_path / "imp.qcow2"
    conn.image.download_image(img, output=str(out))
    assert sha512_file(out) == sha512_file(files["qcow2"])


# --------------------------------------------------------------------------- data edges

def test_range_download_and_headers(conn, http, files, cleanup):
    body = files["raw"].read_bytes()
    img = conn.image.create_image(name=unique("rng"), filename=str(files["raw"]),
                                  disk_format="raw", container_format="bare",
                                  allow_duplicates=True)
    cleanup.append(img.id)
    wait_status(conn, img.id, "active")
    path = f"/v2/images/{img.id}/file"

    r = http.req("GET", path)
    assert r.status_code == 200 and r.content == body
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers.get("Content-MD5") == hashlib.md5(body).hexdigest(), r.headers
    assert int(r.headers["Content-Length"]) == len(body)

    r = http.req("GET", path, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206, r.status_code
    assert r.content == body[:100]
    assert r.headers["Content-Range"] == f"bytes 0-99/{len(body)}", r.headers

    mid = len(body) // 2
    r = http.req("GET", path, headers={"Range": f"bytes={mid}-{mid + 4095}"})
    assert r.status_code == 206 and r.content == body[mid:mid + 4096]
    assert r.headers["Content-Range"] == f"bytes {mid}-{mid + 4095}/{len(body)}"

    r = http.req("GET", path, headers={"Range": f"bytes={len(body) - 10}-"})
    assert r.status_code == 206 and r.content == body[-10:]

    r = http.req("GET", path, headers={"Range": f"bytes={len(body) + 10}-{len(body) + 20}"})
    assert r.status_code == 416, f"unsatisfiable range: {r.status_code}"


def test_upload_with_wrong_content_type_is_415(http, cleanup):
    img = http.create(name=unique("ct"), disk_format="raw", container_format="bare")
    cleanup.append(img["id"])
    r = http.req("PUT", f"/v2/images/{img['id']}/file", data=b"x" * 512,
                 headers={"Content-Type": "application/json"})
    # Image API v2 "Upload binary image data": 415 unless application/octet-stream.
    assert r.status_code == 415, f"upload as application/json: {r.status_code}"
    assert http.show(img["id"])["status"] == "queued"


# --------------------------------------------------------------------------- quotas

QUOTA_BYTES = 1 << 20
QUOTA_IMAGES = 3


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory):
    """A second onestack on 127.0.0.1:0 with `[image] quota_bytes = 1 MiB` and
    `quota_images = 3`; yields (base_url, admin credentials env)."""
    d = tmp_path_factory.mktemp("quota")
    profile = (REPO_ROOT / "profiles" / "default.toml").read_text()
    profile, n1 = re.subn(r"(?m)^quota_bytes\s*=.*$", f"quota_bytes = {QUOTA_BYTES}", profile)
    profile, n2 = re.subn(r"(?m)^quota_images\s*=.*$", f"quota_images = {QUOTA_IMAGES}",
                          profile)
    assert n1 == 1 and n2 == 1, "profiles/default.toml lost its [image] quota keys"
    # Only what the test needs, and no host networking from this second server.
    profile = re.sub(r"(?m)^enabled\s*=\s*\[[^\]]*\]", 'enabled = ["identity", "image"]',
                     profile)
    profile = re.sub(r'(?m)^dataplane\s*=.*$', 'dataplane = "off"', profile)
    profile = re.sub(r"(?m)^create_default_networks\s*=.*$", "create_default_networks = false",
                     profile)
    profile = re.sub(r'(?m)^bootstrap_image\s*=.*$', 'bootstrap_image = ""', profile)
    pfile = d / "quota.toml"
    pfile.write_text(profile)
    state = d / "state"
    log = open(d / "onestack.log", "ab")
    proc = subprocess.Popen([str(BIN), "up", "--state-dir", str(state), "--listen",
                             "127.0.0.1:0", "--profile", str(pfile)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        base, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (d / "onestack.log").read_text()[-3000:]
            try:
                listen = json.loads((state / "runtime.json").read_text())["listen"]
                if not listen.endswith(":0"):
                    base = f"http://{listen}"
                    if requests.get(f"{base}/identity/v3", timeout=2).status_code == 200:
                        break
            except (OSError, ValueError, KeyError, requests.RequestException):
                pass
            base = None
            time.sleep(0.05)
        assert base, "quota server did not become ready:\n" + \
            (d / "onestack.log").read_text()[-3000:]
        p = subprocess.run([str(BIN), "openrc", "--state-dir", str(state), "--user", "admin"],
                           capture_output=True, text=True, timeout=30, check=True)
        yield base, parse_openrc(p.stdout)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_quota_bytes_413(quota_server):
    base, env = quota_server
    c = connect(f"{base}/identity", env["OS_USERNAME"], env["OS_PASSWORD"],
                env["OS_PROJECT_NAME"])
    token = c.authorize()
    http = Http(base, token)
    try:
        # Over the byte quota in one body: 413 through the SDK, no active image left.
        big = os.urandom(QUOTA_BYTES + 4096)
        name = unique("big")
        with pytest.raises(openstack.exceptions.HttpException) as exc:
            c.image.create_image(name=name, data=big, disk_format="raw",
                                 container_format="bare", allow_duplicates=True)
        assert exc.value.status_code == 413, exc.value
        for img in c.image.images(name=name):
            assert img.status != "active", img
            c.image.delete_image(img)

        # Raw HTTP: 413, the image stays queued with no data, and nothing is counted.
        img = http.create(name=unique("big"), disk_format="raw", container_format="bare")
        r = http.upload(img["id"], big)
        assert r.status_code == 413, f"upload over quota: {r.status_code} {r.text[:300]}"
        shown = http.show(img["id"])
        assert shown["status"] == "queued" and shown["size"] is None, shown
        usage = http.req("GET", "/v2/info/usage").json()["usage"]
        assert usage["image_size_total"] == {"limit": QUOTA_BYTES, "usage": 0}, usage

        # Within quota: fine; then the remainder is what is left.
        small = os.urandom(QUOTA_BYTES // 2)
        r = http.upload(img["id"], small)
        assert r.status_code == 204, f"upload within quota: {r.status_code} {r.text[:300]}"
        assert http.show(img["id"])["size"] == len(small)
        img2 = http.create(name=unique("more"), disk_format="raw", container_format="bare")
        r = http.upload(img2["id"], os.urandom(QUOTA_BYTES // 2 + 1))
        assert r.status_code == 413, f"second upload past quota: {r.status_code}"
        assert http.show(img2["id"])["status"] == "queued"
        r = http.upload(img2["id"], os.urandom(QUOTA_BYTES // 4))
        assert r.status_code == 204, r.status_code
        # A streamed (chunked) body over quota is cut off with 413 as well.
        img3 = http.create(name=unique("chunked"), disk_format="raw", container_format="bare")
        gen = (os.urandom(65536) for _ in range(QUOTA_BYTES // 65536))
        r = http.upload(img3["id"], gen)
        assert r.status_code == 413, f"chunked upload past quota: {r.status_code}"
        assert http.show(img3["id"])["status"] == "queued"
        for i in (img, img2, img3):
            http.req("DELETE", f"/v2/images/{i['id']}")
        usage = http.req("GET", "/v2/info/usage").json()["usage"]
        assert usage["image_size_total"]["usage"] == 0, usage
    finally:
        for img in list(c.image.images()):
            c.image.delete_image(img)
        c.close()


def test_quota_image_count_413(quota_server):
    base, env = quota_server
    c = connect(f"{base}/identity", env["OS_USERNAME"], env["OS_PASSWORD"],
                env["OS_PROJECT_NAME"])
    http = Http(base, c.authorize())
    made = []
    try:
        for img in list(c.image.images()):
            c.image.delete_image(img)
        for i in range(QUOTA_IMAGES):
            made.append(c.image.create_image(name=unique("cnt"), disk_format="raw",
                                             container_format="bare",
                                             allow_duplicates=True).id)
        r = http.req("POST", "/v2/images", json={"name": "one-too-many", "disk_format": "raw",
                                                 "container_format": "bare"})
        assert r.status_code == 413, f"image count over quota: {r.status_code} {r.text[:300]}"
        with pytest.raises(openstack.exceptions.HttpException) as exc:
            c.image.create_image(name=unique("cnt"), disk_format="raw",
                                 container_format="bare", allow_duplicates=True)
        assert exc.value.status_code == 413
        c.image.delete_image(made.pop())
        made.append(c.image.create_image(name=unique("cnt"), disk_format="raw",
                                         container_format="bare", allow_duplicates=True).id)
    finally:
        for image_id in made:
            c.image.delete_image(image_id)
        c.close()


# --------------------------------------------------------------------------- restart safety

def test_upload_cut_by_kill9_never_active(fresh_server):
    srv = fresh_server
    env = srv.openrc("admin")
    token = srv.issue_token(env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])
    http = Http(srv.base_url, token)
    img = http.create(name=unique("cut"), disk_format="raw", container_format="bare")
    total = 64 << 20

    conn_ = httpclient.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn_.putrequest("PUT", f"/image/v2/images/{img['id']}/file")
    conn_.putheader("X-Auth-Token", token)
    conn_.putheader("Content-Type", "application/octet-stream")
    conn_.putheader("Content-Length", str(total))
    conn_.endheaders()
    chunk = os.urandom(1 << 20)
    for _ in range(8):
        conn_.send(chunk)
    images_dir = srv.state_dir / "images"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if http.show(img["id"])["status"] == "saving":
            break
        time.sleep(0.05)
    assert http.show(img["id"])["status"] == "saving"
    assert any(p.name.startswith(".tmp-") for p in images_dir.iterdir()), \
        list(images_dir.iterdir())

    srv.restart_hard()
    conn_.close()
    token = srv.issue_token(env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])
    http = Http(srv.base_url, token)
    r = http.req("GET", f"/v2/images/{img['id']}")
    assert r.status_code in (200, 404), r.status_code
    if r.status_code == 200:
        shown = r.json()
        assert shown["status"] == "queued", shown
        assert shown["size"] is None and shown["checksum"] is None, shown
        assert http.req("GET", f"/v2/images/{img['id']}/file").status_code == 204
    leftovers = [p.name for p in images_dir.iterdir()]
    assert leftovers == [], f"partial/temp files left after restart: {leftovers}"

    # The image can be uploaded again after the restart.
    if r.status_code == 200:
        data = os.urandom(1 << 20)
        assert http.upload(img["id"], data).status_code == 204
        shown = http.show(img["id"])
        assert shown["status"] == "active" and shown["size"] == len(data)
