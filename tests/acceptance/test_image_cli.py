"""Glance v2 (`/image`) through the real python-openstackclient (`openstack image ...`),
with raw HTTP where the CLI hides the status code (Image API v2 reference semantics).

Images are real: qemu-img makes the qcow2 files, and the server inspects the bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import Osc, unique

PATCH_CT = "application/openstack-images-v2.1-json-patch"
QEMU_IMG = shutil.which("qemu-img")

pytestmark = pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is needed to make test images")


# --------------------------------------------------------------------------- helpers

def digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def qemu_img(*args: str) -> None:
    subprocess.run([QEMU_IMG, *args], check=True, capture_output=True, timeout=60)


class Glance:
    """Raw HTTP against /image/v2 with one token."""

    def __init__(self, cloud, token: str):
        self.base = f"{cloud.base_url}/image/v2"
        self.token = token

    def req(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
        kw.setdefault("timeout", 60)
        return requests.request(method, self.base + path, headers=headers, **kw)

    def create(self, **body) -> dict:
        r = self.req("POST", "/images", json=body)
        assert r.status_code == 201, f"POST /v2/images {body}: {r.status_code} {r.text[:500]}"
        return r.json()

    def show(self, image_id: str) -> dict:
        r = self.req("GET", f"/images/{image_id}")
        assert r.status_code == 200, f"GET /v2/images/{image_id}: {r.status_code} {r.text[:500]}"
        return r.json()

    def upload(self, image_id: str, data: bytes) -> requests.Response:
        return self.req("PUT", f"/images/{image_id}/file", data=data,
                        headers={"Content-Type": "application/octet-stream"})

    def patch(self, image_id: str, ops, content_type: str = PATCH_CT) -> requests.Response:
        return self.req("PATCH", f"/images/{image_id}", data=json.dumps(ops),
                        headers={"Content-Type": content_type})

    def delete(self, image_id: str) -> requests.Response:
        return self.req("DELETE", f"/images/{image_id}")


def token_for(cloud, env: dict) -> str:
    return cloud.issue_token(env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])


def listed_ids(osc: Osc, *args: str) -> set[str]:
    return {r["ID"] for r in osc.json("image", "list", *args)}


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Real test images: a qcow2 with 1 MiB of random data, the same data as raw, a
    qcow2 with a backing file, and non-image bytes."""
    d = tmp_path_factory.mktemp("images")
    raw = d / "data.raw"
    raw.write_bytes(os.urandom(1 << 20))
    qcow2 = d / "data.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2))
    backed = d / "backed.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", str(qcow2), "-F", "qcow2", str(backed))
    return {"raw": raw, "qcow2": qcow2, "backed": backed}


@pytest.fixture(scope="module")
def admin_glance(cloud, admin_env) -> Glance:
    return Glance(cloud, token_for(cloud, admin_env))


@pytest.fixture(scope="module")
def demo_glance(cloud, demo_env) -> Glance:
    return Glance(cloud, token_for(cloud, demo_env))


@pytest.fixture(scope="module")
def demo_project_id(admin, demo_env) -> str:
    return admin.json("project", "show", demo_env["OS_PROJECT_NAME"])["id"]


@pytest.fixture(scope="module")
def admin_project_id(admin, admin_env) -> str:
    return admin.json("project", "show", admin_env["OS_PROJECT_NAME"])["id"]


@pytest.fixture(scope="module")
def other(cloud, admin):
    """A new project with a new user holding the member role there (project B)."""
    project = admin.json("project", "create", "--domain", "default", unique("imgproj"))
    name, password = unique("imguser"), "pw-" + unique("x")
    user = admin.json("user", "create", "--domain", "default", "--password", password,
                      "--project", project["id"], name)
    admin.run("role", "add", "--user", user["id"], "--project", project["id"], "member")
    env = cloud.password_env(name, password, project["name"])
    yield {"osc": Osc(env), "project_id": project["id"],
           "glance": Glance(cloud, cloud.issue_token(name, password, project["name"]))}
    admin._run(["user", "delete", user["id"]])
    admin._run(["project", "delete", project["id"]])


@pytest.fixture
def cleanup(admin):
    """Collects image ids; deletes them (as admin, unprotecting first) after the test."""
    ids: list[str] = []
    yield ids
    for image_id in ids:
        admin._run(["image", "set", "--unprotected", image_id])
        admin._run(["image", "delete", image_id])


def create(osc: Osc, files, cleanup, *extra: str, fmt: str = "qcow2", name: str | None = None):
    img = osc.json("image", "create", "--file", str(files[fmt]), "--disk-format", fmt,
                   "--container-format", "bare", *extra, name or unique("img"))
    cleanup.append(img["id"])
    return img


# --------------------------------------------------------------------------- lifecycle

def test_create_show_list_save_delete(admin, files, cleanup, tmp_path):
    src = files["qcow2"]
    name = unique("img")
    img = create(admin, files, cleanup, name=name)
    assert img["status"] == "active", img
    assert img["name"] == name
    assert img["disk_format"] == "qcow2" and img["container_format"] == "bare"
    assert img["size"] == src.stat().st_size
    assert img["checksum"] == digest(src, "md5")
    props = img.get("properties", {})
    hash_algo = img.get("os_hash_algo", props.get("os_hash_algo"))
    hash_value = img.get("os_hash_value", props.get("os_hash_value"))
    assert hash_algo == "sha512", img
    assert hash_value == digest(src, "sha512"), img
    assert img["virtual_size"] == files["raw"].stat().st_size, img

    shown = admin.json("image", "show", img["id"])
    assert shown["id"] == img["id"] and shown["status"] == "active"
    assert shown["checksum"] == img["checksum"] and shown["size"] == img["size"]
    assert admin.json("image", "show", name)["id"] == img["id"]  # lookup by name

    rows = {r["ID"]: r for r in admin.json("image", "list", "--long")}
    assert img["id"] in rows, rows
    row = rows[img["id"]]
    assert row["Name"] == name and row["Status"] == "active"
    assert row["Disk Format"] == "qcow2" and row["Container Format"] == "bare"
    assert row["Size"] == src.stat().st_size and row["Checksum"] == img["checksum"]
    assert row.get("Hash Value", hash_value) == hash_value

    out = tmp_path / "saved.qcow2"
    admin.run("image", "save", "--file", str(out), img["id"])
    assert out.stat().st_size == src.stat().st_size
    assert digest(out, "sha512") == digest(src, "sha512")

    admin.run("image", "delete", img["id"])
    cleanup.remove(img["id"])
    admin.fail("image", "show", img["id"])
    assert img["id"] not in listed_ids(admin)


def test_raw_image_and_filters(admin, files, cleanup):
    img = create(admin, files, cleanup, fmt="raw")
    assert img["status"] == "active" and img["disk_format"] == "raw"
    assert img["size"] == files["raw"].stat().st_size
    assert img["virtual_size"] == files["raw"].stat().st_size
    q = create(admin, files, cleanup)
    raw_ids = listed_ids(admin, "--property", "disk_format=raw")
    assert img["id"] in raw_ids and q["id"] not in raw_ids
    assert listed_ids(admin, "--name", img["name"]) == {img["id"]}


def test_properties_and_tags(admin, files, cleanup):
    img = create(admin, files, cleanup, "--property", "os_distro=cirros", "--tag", "first")
    assert img["properties"]["os_distro"] == "cirros", img
    assert img["tags"] == ["first"]

    admin.run("image", "set", "--property", "hw_disk_bus=virtio", "--property", "color=blue",
              img["id"])
    shown = admin.json("image", "show", img["id"])
    assert shown["properties"]["hw_disk_bus"] == "virtio", shown
    assert shown["properties"]["color"] == "blue", shown
    assert shown["properties"]["os_distro"] == "cirros", shown

    admin.run("image", "set", "--tag", "second", img["id"])
    assert sorted(admin.json("image", "show", img["id"])["tags"]) == ["first", "second"]
    assert img["id"] in listed_ids(admin, "--tag", "second")

    admin.run("image", "unset", "--property", "color", "--tag", "first", img["id"])
    shown = admin.json("image", "show", img["id"])
    assert "color" not in shown["properties"], shown
    assert shown["properties"]["hw_disk_bus"] == "virtio"
    assert shown["tags"] == ["second"]

    admin.run("image", "set", "--name", img["name"] + "-renamed", "--min-disk", "2",
              "--min-ram", "128", img["id"])
    shown = admin.json("image", "show", img["id"])
    assert shown["name"] == img["name"] + "-renamed"
    assert shown["min_disk"] == 2 and shown["min_ram"] == 128


def test_protected_image_cannot_be_deleted(admin, admin_glance, files, cleanup):
    img = create(admin, files, cleanup, "--protected")
    assert img["protected"] is True
    admin.fail("image", "delete", img["id"])
    r = admin_glance.delete(img["id"])
    assert r.status_code == 403, f"DELETE protected image: {r.status_code} {r.text[:300]}"
    assert admin.json("image", "show", img["id"])["status"] == "active"

    admin.run("image", "set", "--unprotected", img["id"])
    assert admin.json("image", "show", img["id"])["protected"] is False
    admin.run("image", "delete", img["id"])
    cleanup.remove(img["id"])
    assert admin_glance.req("GET", f"/images/{img['id']}").status_code == 404


def test_deactivate_and_activate(admin, demo, admin_glance, demo_glance, files, cleanup,
                                 tmp_path):
    img = create(admin, files, cleanup, "--public")
    assert img["visibility"] == "public"
    path = f"/images/{img['id']}/file"
    assert demo_glance.req("GET", path).status_code == 200

    admin.run("image", "set", "--deactivate", img["id"])
    assert admin.json("image", "show", img["id"])["status"] == "deactivated"
    r = demo_glance.req("GET", path)
    assert r.status_code == 403, f"non-admin download of deactivated image: {r.status_code}"
    demo.fail("image", "save", "--file", str(tmp_path / "x"), img["id"])
    r = admin_glance.req("GET", path)
    assert r.status_code == 200, f"admin download of deactivated image: {r.status_code}"
    assert hashlib.sha512(r.content).hexdigest() == digest(files["qcow2"], "sha512")

    admin.run("image", "set", "--activate", img["id"])
    assert admin.json("image", "show", img["id"])["status"] == "active"
    out = tmp_path / "after.qcow2"
    demo.run("image", "save", "--file", str(out), img["id"])
    assert digest(out, "sha512") == digest(files["qcow2"], "sha512")


# --------------------------------------------------------------------------- sharing

def test_share_with_member_project(demo, demo_glance, other, admin_project_id, files,
                                   cleanup, tmp_path):
    img = create(demo, files, cleanup, "--shared")
    assert img["visibility"] == "shared"
    member, member_id = other["osc"], other["project_id"]

    # Not a member yet: invisible.
    member.fail("image", "show", img["id"])
    assert img["id"] not in listed_ids(member)

    m = demo.json("image", "add", "project", img["id"], member_id)
    assert m["member_id"] == member_id and m["status"] == "pending", m
    members = demo.json("image", "member", "list", img["id"])
    assert [(r["Member ID"], r["Status"]) for r in members] == [(member_id, "pending")], members

    # Pending: `image show` by id works (Glance), but the default list hides it.
    assert member.json("image", "show", img["id"])["id"] == img["id"]
    assert img["id"] not in listed_ids(member)
    assert img["id"] in listed_ids(member, "--member-status", "pending")

    # A member may not accept on behalf of another project.
    demo.json("image", "add", "project", img["id"], admin_project_id)
    r = other["glance"].req("PUT", f"/images/{img['id']}/members/{admin_project_id}",
                            json={"status": "accepted"})
    assert r.status_code == 403, (
        f"member accepting for another project: expected 403, got {r.status_code} {r.text[:300]}")
    # ...and the owner may not accept on the member's behalf either (Glance: 403).
    r = demo_glance.req("PUT", f"/images/{img['id']}/members/{member_id}",
                        json={"status": "accepted"})
    assert r.status_code == 403, (
        f"owner setting member status: expected 403, got {r.status_code} {r.text[:300]}")

    member.run("image", "set", "--accept", img["id"])
    members = {r["Member ID"]: r["Status"] for r in demo.json("image", "member", "list", img["id"])}
    assert members == {member_id: "accepted", admin_project_id: "pending"}, members
    assert img["id"] in listed_ids(member)
    out = tmp_path / "shared.qcow2"
    member.run("image", "save", "--file", str(out), img["id"])
    assert digest(out, "sha512") == digest(files["qcow2"], "sha512")

    # A member cannot modify or delete the owner's image.
    member.fail("image", "set", "--property", "x=y", img["id"])
    member.fail("image", "delete", img["id"])

    demo.run("image", "remove", "project", img["id"], member_id)
    assert img["id"] not in listed_ids(member)
    member.fail("image", "show", img["id"])
    r = other["glance"].req("GET", f"/images/{img['id']}/file")
    assert r.status_code == 404, r.status_code


def test_reject_hides_image(demo, other, files, cleanup):
    img = create(demo, files, cleanup, "--shared")
    member = other["osc"]
    demo.json("image", "add", "project", img["id"], other["project_id"])
    member.run("image", "set", "--reject", img["id"])
    members = demo.json("image", "member", "list", img["id"])
    assert [r["Status"] for r in members] == ["rejected"], members
    assert img["id"] not in listed_ids(member)
    assert img["id"] in listed_ids(member, "--member-status", "rejected")


def test_only_admin_can_publicize(admin, demo, demo_glance, other, files, cleanup):
    name = unique("pub")
    demo.fail("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
              "--public", name)
    r = demo_glance.req("POST", "/images", json={"name": name, "visibility": "public",
                                                 "disk_format": "qcow2",
                                                 "container_format": "bare"})
    assert r.status_code == 403, f"demo creating a public image: {r.status_code} {r.text[:300]}"
    leftovers = [i for i in demo.json("image", "list") if i["Name"] == name]
    assert leftovers == [], leftovers

    img = create(demo, files, cleanup, "--private")
    assert img["visibility"] == "private"
    demo.fail("image", "set", "--public", img["id"])
    r = demo_glance.patch(img["id"], [{"op": "replace", "path": "/visibility",
                                       "value": "public"}])
    assert r.status_code == 403, f"demo publicizing via PATCH: {r.status_code} {r.text[:300]}"
    assert demo.json("image", "show", img["id"])["visibility"] == "private"
    assert img["id"] not in listed_ids(other["osc"])

    admin.run("image", "set", "--public", img["id"])
    assert demo.json("image", "show", img["id"])["visibility"] == "public"
    assert img["id"] in listed_ids(other["osc"])
    assert img["id"] in listed_ids(other["osc"], "--public")
    # Community images: any project may set it on its own image.
    demo.run("image", "set", "--community", img["id"])
    assert demo.json("image", "show", img["id"])["visibility"] == "community"
    assert other["osc"].json("image", "show", img["id"])["id"] == img["id"]
    assert img["id"] not in listed_ids(other["osc"])  # community images are not listed


# --------------------------------------------------------------------------- isolation

def test_private_image_is_isolated(admin, demo, demo_glance, other, files, cleanup):
    img = create(demo, files, cleanup, "--private", "--property", "secret=1")
    b = other["glance"]
    assert b.req("GET", f"/images/{img['id']}").status_code == 404
    assert b.req("GET", f"/images/{img['id']}/file").status_code == 404
    assert b.patch(img["id"], [{"op": "add", "path": "/x", "value": "y"}]).status_code == 404
    assert b.delete(img["id"]).status_code == 404
    assert b.req("POST", f"/images/{img['id']}/members",
                 json={"member": other["project_id"]}).status_code == 404
    assert img["id"] not in listed_ids(other["osc"])
    r = b.req("GET", "/images", params={"visibility": "private"})
    assert r.status_code == 200 and img["id"] not in {i["id"] for i in r.json()["images"]}
    other["osc"].fail("image", "show", img["id"])
    # The owner and the admin still see it; the image is unchanged.
    assert demo_glance.show(img["id"]).get("x") is None
    assert admin.json("image", "show", img["id"])["status"] == "active"
    assert img["id"] in listed_ids(demo)


# --------------------------------------------------------------------------- bad input

def test_qcow2_bytes_declared_raw_rejected(admin, admin_glance, files, cleanup):
    name = unique("liar")
    admin.fail("image", "create", "--file", str(files["qcow2"]), "--disk-format", "raw",
               "--container-format", "bare", name)
    for row in admin.json("image", "list", "--long", "--name", name):
        cleanup.append(row["ID"])
        assert row["Status"] != "active", row

    img = admin_glance.create(name=unique("liar"), disk_format="raw", container_format="bare")
    cleanup.append(img["id"])
    r = admin_glance.upload(img["id"], files["qcow2"].read_bytes())
    assert r.status_code == 400, f"qcow2 declared raw: {r.status_code} {r.text[:300]}"
    shown = admin_glance.show(img["id"])
    assert shown["status"] == "queued" and shown["size"] is None, shown


def test_raw_bytes_declared_qcow2_rejected(admin_glance, files, cleanup):
    img = admin_glance.create(name=unique("liar"), disk_format="qcow2",
                              container_format="bare")
    cleanup.append(img["id"])
    r = admin_glance.upload(img["id"], files["raw"].read_bytes())
    assert r.status_code == 400, f"raw declared qcow2: {r.status_code} {r.text[:300]}"
    assert admin_glance.show(img["id"])["status"] == "queued"


def test_qcow2_with_backing_file_rejected(admin, admin_glance, files, cleanup):
    img = admin_glance.create(name=unique("backed"), disk_format="qcow2",
                              container_format="bare")
    cleanup.append(img["id"])
    r = admin_glance.upload(img["id"], files["backed"].read_bytes())
    assert r.status_code == 400, f"qcow2 with backing file: {r.status_code} {r.text[:300]}"
    assert admin_glance.show(img["id"])["status"] == "queued"
    admin.fail("image", "create", "--file", str(files["backed"]), "--disk-format", "qcow2",
               "--container-format", "bare", unique("backed"))


def test_patch_read_only_field_forbidden(admin_glance, files, cleanup, admin):
    img = admin_glance.create(name=unique("ro"), disk_format="qcow2", container_format="bare")
    cleanup.append(img["id"])
    for path, value in (("/status", "active"), ("/size", 5), ("/checksum", "0" * 32),
                        ("/os_hash_value", "0" * 128), ("/created_at", "2020-01-01T00:00:00Z")):
        r = admin_glance.patch(img["id"], [{"op": "replace", "path": path, "value": value}])
        assert r.status_code == 403, f"PATCH replace {path}: {r.status_code} {r.text[:300]}"
    shown = admin_glance.show(img["id"])
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    # A rejected patch is not half-applied.
    r = admin_glance.patch(img["id"], [{"op": "add", "path": "/ok", "value": "1"},
                                       {"op": "replace", "path": "/status", "value": "active"}])
    assert r.status_code == 403
    assert "ok" not in admin_glance.show(img["id"])


def test_patch_bad_requests(admin_glance, cleanup):
    img = admin_glance.create(name=unique("bad"), disk_format="qcow2", container_format="bare")
    cleanup.append(img["id"])
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    r = admin_glance.patch(img["id"], ops, content_type="application/json")
    assert r.status_code == 415, f"PATCH with application/json: {r.status_code} {r.text[:300]}"
    r = admin_glance.req("PATCH", f"/images/{img['id']}", data="not json",
                         headers={"Content-Type": PATCH_CT})
    assert r.status_code == 400, r.status_code
    r = admin_glance.patch(img["id"], [{"op": "frobnicate", "path": "/name", "value": "x"}])
    assert r.status_code == 400, r.status_code
    r = admin_glance.patch(img["id"], [{"op": "replace", "path": "/disk_format",
                                        "value": "floppy"}])
    assert r.status_code == 400, r.status_code
    assert admin_glance.show(img["id"])["name"] == img["name"]
    r = admin_glance.req("POST", "/images", json={"name": "x", "disk_format": "floppy"})
    assert r.status_code == 400, r.status_code
    r = admin_glance.req("POST", "/images", json={"name": "x", "status": "active"})
    assert r.status_code == 403, f"create with read-only status: {r.status_code}"
    r = admin_glance.req("GET", "/images/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404


def test_download_queued_image_is_204(admin, admin_glance, cleanup, tmp_path):
    # Created over HTTP: the CLI would upload its (empty, non-tty) stdin as image data.
    img = admin_glance.create(name=unique("queued"), disk_format="qcow2",
                              container_format="bare")
    cleanup.append(img["id"])
    assert img["status"] == "queued" and img["size"] is None
    assert admin.json("image", "show", img["id"])["status"] == "queued"
    r = admin_glance.req("GET", f"/images/{img['id']}/file")
    assert r.status_code == 204, f"download of queued image: {r.status_code} {r.text[:200]}"
    assert r.content == b""


def test_upload_to_active_image_conflicts(admin, admin_glance, files, cleanup):
    img = create(admin, files, cleanup)
    r = admin_glance.upload(img["id"], files["qcow2"].read_bytes())
    assert r.status_code == 409, f"second upload to active image: {r.status_code}"
    assert admin_glance.show(img["id"])["checksum"] == img["checksum"]


def test_demo_cannot_touch_admin_private_image(admin, demo, demo_glance, files, cleanup):
    img = create(admin, files, cleanup, "--private")
    demo.fail("image", "show", img["id"])
    demo.fail("image", "delete", img["id"])
    assert demo_glance.req("GET", f"/images/{img['id']}/file").status_code == 404
    assert admin.json("image", "show", img["id"])["status"] == "active"


def test_list_limit_and_marker(admin, admin_glance, cleanup):
    tag = unique("page")
    ids = [admin.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                      "--tag", tag, f"{tag}-{i}")["id"] for i in range(4)]
    cleanup.extend(ids)
    r = admin_glance.req("GET", "/images", params={"tag": tag})
    server_order = [i["id"] for i in r.json()["images"]]
    assert sorted(server_order) == sorted(ids), server_order
    # `--limit` turns off OSC's pagination, so `--limit`/`--marker` walk the server's pages
    # (OSC then re-sorts each page client-side by name).
    first = admin.json("image", "list", "--tag", tag, "--limit", "2")
    assert {r["ID"] for r in first} == set(server_order[:2]), (first, server_order)
    second = admin.json("image", "list", "--tag", tag, "--limit", "2",
                        "--marker", server_order[1])
    assert {r["ID"] for r in second} == set(server_order[2:]), (second, server_order)
    third = admin.json("image", "list", "--tag", tag, "--limit", "2",
                       "--marker", server_order[3])
    assert third == [], third
    names = [r["Name"] for r in admin.json("image", "list", "--tag", tag, "--sort", "name:desc")]
    assert names == [f"{tag}-{i}" for i in (3, 2, 1, 0)], names


# --------------------------------------------------------------------------- metadefs

def test_metadef_namespaces_through_the_cli(admin, demo, admin_glance, demo_glance):
    """`openstack image metadef ...` (openstacksdk) against /v2/metadefs: the admin
    defines, a member of another project reads public definitions only."""
    types = {t["Name"] for t in demo.json("image", "metadef", "resource", "type", "list")}
    assert "OS::Glance::Image" in types

    ns = unique("Onestack::Test")
    ns_private = unique("Onestack::Private")
    demo.fail("image", "metadef", "namespace", "create", "--public", ns)
    admin.run("image", "metadef", "namespace", "create", "--public", "--protected",
              "--display-name", "Test namespace", "--description", "for the CLI", ns)
    admin.run("image", "metadef", "namespace", "create", "--private", ns_private)
    try:
        shown = admin.json("image", "metadef", "namespace", "show", ns)
        assert shown["display_name"] == "Test namespace"
        assert shown["protected"] is True

        admin.run("image", "metadef", "resource", "type", "association", "create",
                  ns, "OS::Nova::Flavor")
        assocs = admin.json("image", "metadef", "resource", "type", "association", "list", ns)
        assert [a["Name"] for a in assocs] == ["OS::Nova::Flavor"]

        admin.run("image", "metadef", "property", "create", "--name", "hw_rng_model",
                  "--title", "RNG model", "--type", "string",
                  "--schema", json.dumps({"enum": ["virtio", "none"]}), ns)
        props = admin.json("image", "metadef", "property", "list", ns)
        assert [p["name"] for p in props] == ["hw_rng_model"], props
        prop = demo.json("image", "metadef", "property", "show", ns, "hw_rng_model")
        assert prop["enum"] == ["virtio", "none"]

        admin.run("image", "metadef", "object", "create", "--namespace", ns, "CPU Limits")
        objs = demo.json("image", "metadef", "object", "list", ns)
        assert [o["name"] for o in objs] == ["CPU Limits"], objs

        listed = {n["namespace"] for n in demo.json("image", "metadef", "namespace", "list")}
        assert ns in listed and ns_private not in listed
        r = demo_glance.req("GET", f"/metadefs/namespaces/{ns_private}")
        assert r.status_code == 404, r.text[:300]
        r = demo_glance.req("DELETE", f"/metadefs/namespaces/{ns}/properties/hw_rng_model")
        assert r.status_code == 403, r.text[:300]

        # Protected: the namespace and what is in it stay until unprotected.
        admin.fail("image", "metadef", "namespace", "delete", ns)
        r = admin_glance.req("DELETE", f"/metadefs/namespaces/{ns}/objects/CPU Limits")
        assert r.status_code == 403, r.text[:300]
    finally:
        admin_glance.req("PUT", f"/metadefs/namespaces/{ns}",
                         json={"namespace": ns, "visibility": "public", "protected": False})
        admin.run("image", "metadef", "namespace", "delete", ns, ns_private)
    r = admin_glance.req("GET", f"/metadefs/namespaces/{ns}/properties")
    assert r.status_code == 404, r.text[:300]
