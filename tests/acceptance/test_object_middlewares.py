"""Swift's middlewares on onestack's object storage, through plain HTTP as browsers
and scripts use them: bulk extract of .tar, .tar.gz and .tar.bz2 archives (Swift's
summary, containers made on the way, a damaged archive refused), static web sites
(index page, HTML listing with its stylesheet, error page) for anonymous visitors,
FormPost (an HTML form's upload signed with the temp URL key; expired, forged and
oversized forms refused) and container sync between two projects' containers.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tarfile
import time

import requests

from conftest import Osc, unique
from test_object_storage import storage_url


def archive(files: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_bulk_extract_archives(demo_env):
    url, token = storage_url(demo_env)
    h = {"X-Auth-Token": token, "Accept": "application/json"}
    c = unique("bulk")
    big = bytes(range(256)) * 4096  # 1 MiB, several reads of the archive stream
    files = {
        f"{c}/a.txt": b"alpha",
        f"{c}/dir/b.bin": big,
        f"{c}/{'x' * 120}.txt": b"long name (GNU/pax header)",
        "top-level-file": b"ignored: no container",
    }
    for mode, kind in (("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2")):
        r = requests.put(f"{url}?extract-archive={kind}", data=archive(files, mode),
                         headers=h, timeout=60)
        assert r.status_code == 200, r.text
        out = json.loads(r.text)
        assert out["Number Files Created"] == 3, out
        assert out["Response Status"] == "201 Created" and out["Errors"] == [], out
    listed = requests.get(f"{url}/{c}?format=json", headers=h, timeout=10).json()
    assert sorted(o["name"] for o in listed) == sorted(
        ["a.txt", "dir/b.bin", f"{'x' * 120}.txt"])
    got = requests.get(f"{url}/{c}/dir/b.bin", headers=h, timeout=30).content
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()

    # Into a container and prefix named by the path: every file lands below it.
    r = requests.put(f"{url}/{c}/under?extract-archive=tar",
                     data=archive({"one": b"1", "sub/two": b"2"}, "w"), headers=h, timeout=30)
    assert json.loads(r.text)["Number Files Created"] == 2, r.text
    assert requests.get(f"{url}/{c}/under/sub/two", headers=h, timeout=10).content == b"2"

    # Plain-text summary, a damaged archive, an unknown format.
    r = requests.put(f"{url}?extract-archive=tar", data=b"not a tar" * 100,
                     headers={"X-Auth-Token": token}, timeout=10)
    assert r.status_code == 200
    assert "Response Status: 400 Bad Request" in r.text, r.text
    assert "Invalid Tar File" in r.text, r.text
    cut = archive({f"{c}-cut/big": big}, "w")[:200_000]
    r = requests.put(f"{url}?extract-archive=tar", data=cut, headers=h, timeout=30)
    out = json.loads(r.text)
    assert out["Response Status"] == "400 Bad Request", out
    assert out["Response Body"].startswith("Invalid Tar File"), out
    assert requests.head(f"{url}/{c}-cut/big", headers=h, timeout=10).status_code == 404
    requests.delete(f"{url}/{c}-cut", headers=h, timeout=10)
    r = requests.put(f"{url}?extract-archive=zip", data=b"x", headers=h, timeout=10)
    assert r.status_code == 400

    # Bulk delete by DELETE and by POST, then the containers are gone.
    body = "\n".join([f"{c}/a.txt", f"{c}/dir/b.bin", f"{c}/{'x' * 120}.txt",
                      f"{c}/under/one", f"{c}/under/sub/two", c])
    r = requests.delete(f"{url}?bulk-delete", data=body,
                        headers={**h, "Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["Number Deleted"] == 6, r.text
    assert requests.head(f"{url}/{c}", headers=h, timeout=10).status_code == 404


def test_static_web_site(demo_env):
    url, token = storage_url(demo_env)
    h = {"X-Auth-Token": token}
    c = unique("site")
    requests.put(f"{url}/{c}", headers={**h, "X-Container-Read": ".r:*,.rlistings"},
                 timeout=10).raise_for_status()
    for name, body in {"index.html": b"<h1>home</h1>", "docs/index.html": b"<h1>docs</h1>",
                       "docs/guide.txt": b"guide", "404error.html": b"<h1>lost</h1>",
                       "style.css": b"body{}"}.items():
        requests.put(f"{url}/{c}/{name}", data=body, headers=h, timeout=10).raise_for_status()
    # Not a site yet: an anonymous GET of the container is its plain listing.
    r = requests.get(f"{url}/{c}", timeout=10)
    assert r.status_code == 200 and "index.html" in r.text.splitlines()
    requests.post(f"{url}/{c}", headers={**h, "X-Container-Meta-Web-Index": "index.html",
                                         "X-Container-Meta-Web-Error": "error.html"},
                  timeout=10).raise_for_status()
    # The container redirects to its slash form, which serves the index.
    r = requests.get(f"{url}/{c}", timeout=10, allow_redirects=False)
    assert r.status_code == 301 and r.headers["location"].endswith(f"{c}/"), r.headers
    r = requests.get(f"{url}/{c}", timeout=10)
    assert r.status_code == 200 and r.content == b"<h1>home</h1>"
    # A "directory" gets its index too, after its own redirect.
    r = requests.get(f"{url}/{c}/docs", timeout=10)
    assert r.status_code == 200 and r.content == b"<h1>docs</h1>"
    # A directory marker object is a directory, not a page.
    requests.put(f"{url}/{c}/docs", data=b"", timeout=10,
                 headers={**h, "Content-Type": "application/directory"}).raise_for_status()
    r = requests.get(f"{url}/{c}/docs", timeout=10)
    assert r.status_code == 200 and r.content == b"<h1>docs</h1>"
    # A missing page: the site's error page with the 404.
    r = requests.get(f"{url}/{c}/nothing-here", timeout=10)
    assert r.status_code == 404 and r.content == b"<h1>lost</h1>"
    # The owner (with a token) still gets the API's answers.
    r = requests.get(f"{url}/{c}", headers=h, timeout=10)
    assert r.status_code == 200 and "index.html" in r.text.splitlines()

    # Listings with a stylesheet where there is no index.
    requests.post(f"{url}/{c}", headers={**h, "X-Remove-Container-Meta-Web-Index": "x",
                                         "X-Container-Meta-Web-Listings": "true",
                                         "X-Container-Meta-Web-Listings-CSS": "style.css"},
                  timeout=10).raise_for_status()
    r = requests.get(f"{url}/{c}/", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<link rel="stylesheet" type="text/css" href="style.css" />' in r.text
    assert 'href="docs/"' in r.text and 'href="index.html"' in r.text
    r = requests.get(f"{url}/{c}/docs/", timeout=10)
    assert 'href="../style.css"' in r.text and 'href="guide.txt"' in r.text

    # Without `.rlistings` an anonymous visitor gets no listing.
    requests.post(f"{url}/{c}", headers={**h, "X-Container-Read": ".r:*"},
                  timeout=10).raise_for_status()
    assert requests.get(f"{url}/{c}/", timeout=10).status_code in (401, 404)
    assert requests.get(f"{url}/{c}/docs/guide.txt", timeout=10).content == b"guide"


def form(path: str, key: str, expires: int, max_size: int = 1024, max_count: int = 2,
         redirect: str = "") -> dict[str, str]:
    msg = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires}"
    sig = hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest()
    return {"redirect": redirect, "max_file_size": str(max_size),
            "max_file_count": str(max_count), "expires": str(expires), "signature": sig}


def test_formpost_uploads(demo_env):
    url, token = storage_url(demo_env)
    h = {"X-Auth-Token": token}
    c = unique("form")
    requests.put(f"{url}/{c}", headers=h, timeout=10).raise_for_status()
    # The container's own key: the account's metadata is shared with other tests.
    requests.post(f"{url}/{c}", headers={**h, "X-Container-Meta-Temp-URL-Key": "formkey"},
                  timeout=10).raise_for_status()
    path = requests.utils.urlparse(f"{url}/{c}/up-").path
    fields = form(path, "formkey", int(time.time()) + 600)
    files = [("file1", ("a.txt", b"first file", "text/plain")),
             ("file2", ("b.bin", b"second", "application/octet-stream"))]
    # No token: the signature is the permission.
    r = requests.post(f"{url}/{c}/up-", data=fields, files=files, timeout=10)
    assert r.status_code == 201, r.text
    assert requests.get(f"{url}/{c}/up-a.txt", headers=h, timeout=10).content == b"first file"
    shown = requests.head(f"{url}/{c}/up-b.bin", headers=h, timeout=10)
    assert shown.headers["content-type"] == "application/octet-stream"

    # A redirect gets the status in its query.
    fields = form(path, "formkey", int(time.time()) + 600, redirect="http://example.invalid/done")
    r = requests.post(f"{url}/{c}/up-", data=fields, files=files[:1], timeout=10,
                      allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "http://example.invalid/done?status=201&message="

    # Expired, forged, too large, too many.
    r = requests.post(f"{url}/{c}/up-", data=form(path, "formkey", int(time.time()) - 5),
                      files=files[:1], timeout=10)
    assert r.status_code == 401 and "FormPost: Form Expired" in r.text
    r = requests.post(f"{url}/{c}/up-", data=form(path, "wrong", int(time.time()) + 60),
                      files=files[:1], timeout=10)
    assert r.status_code == 401 and "FormPost: Invalid Signature" in r.text
    r = requests.post(f"{url}/{c}/up-", data=form(path, "formkey", int(time.time()) + 60, 4),
                      files=[("f", ("big.txt", b"more than four bytes", "text/plain"))],
                      timeout=10)
    assert r.status_code == 400 and "max_file_size exceeded" in r.text
    assert requests.head(f"{url}/{c}/up-big.txt", headers=h, timeout=10).status_code == 404
    r = requests.post(f"{url}/{c}/up-", data=form(path, "formkey", int(time.time()) + 60,
                                                 max_count=1), files=files, timeout=10)
    assert r.status_code == 400 and "Max File Count Exceeded" in r.text


def test_container_sync_between_projects(demo_env, admin_env, admin: Osc):
    demo_url, demo_token = storage_url(demo_env)
    admin_url, admin_token = storage_url(admin_env)
    src, dst = unique("sync-src"), unique("sync-dst")
    admin_account = admin_url.rstrip("/").split("/")[-1]
    key = {"X-Container-Sync-Key": "shared-secret"}
    requests.put(f"{admin_url}/{dst}", headers={"X-Auth-Token": admin_token, **key},
                 timeout=10).raise_for_status()
    r = requests.put(f"{demo_url}/{src}", timeout=10, headers={
        "X-Auth-Token": demo_token, **key,
        "X-Container-Sync-To": f"//realm1/name1/{admin_account}/{dst}"})
    assert r.status_code == 201, r.text
    requests.put(f"{demo_url}/{src}/synced.txt", data=b"travels", timeout=10,
                 headers={"X-Auth-Token": demo_token}).raise_for_status()
    deadline = time.time() + 60
    while time.time() < deadline:
        r = requests.get(f"{admin_url}/{dst}/synced.txt", timeout=10,
                         headers={"X-Auth-Token": admin_token})
        if r.status_code == 200:
            break
        time.sleep(1)
    assert r.status_code == 200 and r.content == b"travels"
    # An unknown realm is refused as Swift does.
    r = requests.post(f"{demo_url}/{src}", timeout=10, headers={
        "X-Auth-Token": demo_token, "X-Container-Sync-To": "//elsewhere/c1/AUTH_x/y"})
    assert r.status_code == 400 and "No realm key" in r.text
