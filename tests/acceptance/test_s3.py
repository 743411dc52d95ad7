"""S3 (`/s3`, catalog type `s3`) on object storage's data, through the real boto3 and
aws CLI with Keystone EC2 credentials (`openstack ec2 credentials create`): buckets,
objects with metadata, ranges and conditions, listings (v1 and v2, delimiter, paging),
copy, multi-delete, multipart uploads (a 20 MiB one among them), presigned GETs,
Signature V2, S3's XML errors, reads across the Swift and S3 APIs both ways, and a
kill -9 during a multipart upload that loses no acknowledged part.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import threading
import time

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import VENV_BIN, OnestackServer, Osc, unique

MiB = 1024 * 1024


def ec2_keys(osc: Osc) -> tuple[str, str]:
    c = osc.json("ec2", "credentials", "create")
    return c["access"], c["secret"]


def client(base_url: str, access: str, secret: str, sig: str = "s3v4"):
    return boto3.client(
        "s3", endpoint_url=f"{base_url}/s3", aws_access_key_id=access,
        aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(signature_version=sig, s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))


def code(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def swift_url_token(server: OnestackServer, user: str = "demo") -> tuple[str, dict[str, str]]:
    env = server.openrc(user)
    token = server.issue_token(env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])
    r = requests.get(f"{server.identity_v3}/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=10)
    project = r.json()["token"]["project"]["id"]
    return f"{server.base_url}/object-storage/v1/AUTH_{project}", {"X-Auth-Token": token}


@pytest.fixture(scope="module")
def s3(cloud, demo):
    access, secret = ec2_keys(demo)
    return client(cloud.base_url, access, secret)


def test_catalog_lists_s3(demo: Osc, cloud):
    shown = demo.json("catalog", "show", "s3")
    urls = [e["url"] for e in shown["endpoints"]] if isinstance(shown["endpoints"], list) else \
        [line.split("url: ")[-1] for line in str(shown["endpoints"]).splitlines() if "url:" in line]
    assert any(u.rstrip("/").endswith("/s3") for u in urls), shown


def test_buckets_objects_listings_errors(s3, cloud):
    b = unique("bkt").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=b)
    assert code(e.value) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert code(e.value) == "InvalidBucketName"

    body = b"0123456789abcdef" * 1000
    put = s3.put_object(Bucket=b, Key="dir/a.txt", Body=body, ContentType="text/plain",
                        Metadata={"color": "blue"})
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=b, Key="dir/a.txt")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"color": "blue"}
    assert got["ContentType"] == "text/plain"
    part = s3.get_object(Bucket=b, Key="dir/a.txt", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="dir/a.txt", Range=f"bytes={len(body) + 5}-")
    assert code(e.value) == "InvalidRange"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="dir/a.txt", IfNoneMatch=put["ETag"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="dir/a.txt", IfMatch='"nope"')
    assert code(e.value) == "PreconditionFailed"
    head = s3.head_object(Bucket=b, Key="dir/a.txt")
    assert head["ContentLength"] == len(body)

    for k in ["dir/b.txt", "dir/sub/c.txt", "top.txt", "zed.txt"]:
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    v2 = s3.list_objects_v2(Bucket=b, Delimiter="/")
    assert [o["Key"] for o in v2["Contents"]] == ["top.txt", "zed.txt"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["dir/"]
    v2 = s3.list_objects_v2(Bucket=b, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in v2["Contents"]] == ["dir/a.txt", "dir/b.txt"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["dir/sub/"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=b, PaginationConfig={"PageSize": 2})
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert keys == ["dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "top.txt", "zed.txt"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b, StartAfter="top.txt")["Contents"]] == ["zed.txt"]
    v1 = s3.list_objects(Bucket=b, Marker="dir/sub/c.txt", MaxKeys=1)
    assert [o["Key"] for o in v1["Contents"]] == ["top.txt"] and v1["IsTruncated"]
    pages = s3.get_paginator("list_objects").paginate(Bucket=b, PaginationConfig={"PageSize": 2})
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == keys

    s3.copy_object(Bucket=b, Key="copy.txt", CopySource={"Bucket": b, "Key": "dir/a.txt"})
    c = s3.get_object(Bucket=b, Key="copy.txt")
    assert c["Body"].read() == body and c["Metadata"] == {"color": "blue"}
    s3.copy_object(Bucket=b, Key="copy.txt", CopySource=f"{b}/dir/a.txt",
                   MetadataDirective="REPLACE", Metadata={"shape": "round"})
    assert s3.head_object(Bucket=b, Key="copy.txt")["Metadata"] == {"shape": "round"}

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="missing")
    assert code(e.value) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=b + "-none")
    assert code(e.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=b)
    assert code(e.value) == "BucketNotEmpty"

    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "top.txt"},
                                    ExpiresIn=60)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"top.txt"
    r = requests.get(url.replace("Signature=", "Signature=0"), timeout=10)
    assert r.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.content
    r = requests.get(f"{cloud.base_url}/s3/{b}/top.txt", timeout=10)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content

    out = s3.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": k} for k in ["dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "top.txt", "zed.txt",
                             "copy.txt", "never-there"]]})
    assert len(out["Deleted"]) == 7 and not out.get("Errors")
    assert s3.list_objects_v2(Bucket=b)["KeyCount"] == 0
    s3.delete_object(Bucket=b, Key="already-gone")
    s3.delete_bucket(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bad_keys_and_signatures(cloud, demo):
    access, secret = ec2_keys(demo)
    wrong = client(cloud.base_url, access, secret[:-1] + ("0" if secret[-1] != "0" else "1"))
    with pytest.raises(ClientError) as e:
        wrong.list_buckets()
    assert code(e.value) == "SignatureDoesNotMatch"
    unknown = client(cloud.base_url, "0" * 32, secret)
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert code(e.value) == "InvalidAccessKeyId"
    # Signature Version 2 with the same key pair.
    v2 = client(cloud.base_url, access, secret, sig="s3")
    b = unique("sigv").lower().replace("_", "-")
    v2.create_bucket(Bucket=b)
    v2.put_object(Bucket=b, Key="k", Body=b"v2 body")
    assert v2.get_object(Bucket=b, Key="k")["Body"].read() == b"v2 body"
    v2.delete_object(Bucket=b, Key="k")
    v2.delete_bucket(Bucket=b)
    # A deleted credential stops working.
    demo.run("ec2", "credentials", "delete", access)
    gone = client(cloud.base_url, access, secret)
    with pytest.raises(ClientError) as e:
        gone.list_buckets()
    assert code(e.value) == "InvalidAccessKeyId"


def crc32c_b64(data: bytes) -> str:
    """CRC32C (Castagnoli), base64 of its big-endian bytes, as S3 writes it."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def test_checksums_verified(s3, cloud):
    """boto3 (>= 1.36) sends x-amz-checksum-* by default; each algorithm is checked,
    and a wrong value is refused with BadDigest and stores nothing."""
    b = unique("sums").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    body = os.urandom(300_000)
    for alg in ("CRC32", "SHA1", "SHA256"):
        r = s3.put_object(Bucket=b, Key=f"k-{alg}", Body=body, ChecksumAlgorithm=alg)
        assert r[f"Checksum{alg}"], r
        assert s3.get_object(Bucket=b, Key=f"k-{alg}")["Body"].read() == body
        # The checksum is stored: returned when asked for (and then checked by
        # botocore against the body), not otherwise, nor for a range.
        got = s3.get_object(Bucket=b, Key=f"k-{alg}", ChecksumMode="ENABLED")
        assert got[f"Checksum{alg}"] == r[f"Checksum{alg}"], got
        assert got["Body"].read() == body
        head = s3.head_object(Bucket=b, Key=f"k-{alg}", ChecksumMode="ENABLED")
        assert head[f"Checksum{alg}"] == r[f"Checksum{alg}"], head
        assert f"Checksum{alg}" not in s3.head_object(Bucket=b, Key=f"k-{alg}")
        part = s3.get_object(Bucket=b, Key=f"k-{alg}", Range="bytes=0-9",
                             ChecksumMode="ENABLED")
        assert f"Checksum{alg}" not in part and len(part["Body"].read()) == 10
    # botocore computes CRC32C only with awscrt; the value is given as a client
    # with it would send it.
    r = s3.put_object(Bucket=b, Key="k-CRC32C", Body=body, ChecksumCRC32C=crc32c_b64(body))
    assert r["ChecksumCRC32C"] == crc32c_b64(body)
    head = s3.head_object(Bucket=b, Key="k-CRC32C", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == crc32c_b64(body), head
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="bad", Body=body, ChecksumCRC32C=crc32c_b64(b"other"))
    assert code(e.value) == "BadDigest", e.value.response
    wrong = {"ChecksumCRC32": "AAAAAA==", "ChecksumSHA256": "A" * 43 + "="}
    for arg, value in wrong.items():
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=b, Key="bad", Body=body, **{arg: value})
        assert code(e.value) == "BadDigest", e.value.response
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=b, Key="bad")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # Multipart parts carry their own checksums.
    up = s3.create_multipart_upload(Bucket=b, Key="mp", ChecksumAlgorithm="CRC32")
    part = s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                          Body=body, ChecksumAlgorithm="CRC32")
    s3.complete_multipart_upload(
        Bucket=b, Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"],
                                    "ChecksumCRC32": part["ChecksumCRC32"]}]})
    assert s3.get_object(Bucket=b, Key="mp")["Body"].read() == body


def test_reader_reads_but_does_not_write(s3, cloud, admin: Osc):
    """S3 asks the policy layer: a project reader's key lists and reads, not writes."""
    b = unique("rdr").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"readable")
    user, password = unique("s3reader"), "reader-pass-1"
    admin.run("user", "create", "--password", password, user)
    admin.run("role", "add", "--user", user, "--project", "demo", "reader")
    env = cloud.password_env(user, password, "demo")
    reader = Osc(env)
    access, secret = ec2_keys(reader)
    rs3 = client(cloud.base_url, access, secret)
    assert b in [x["Name"] for x in rs3.list_buckets()["Buckets"]]
    assert rs3.get_object(Bucket=b, Key="k")["Body"].read() == b"readable"
    for call in (lambda: rs3.put_object(Bucket=b, Key="k2", Body=b"x"),
                 lambda: rs3.delete_object(Bucket=b, Key="k"),
                 lambda: rs3.create_bucket(Bucket=b + "-new")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e.value) == "AccessDenied"
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"readable"


def test_cross_api_reads(s3, cloud):
    url, h = swift_url_token(cloud)
    b = unique("cross").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="from-s3", Body=b"written by s3", Metadata={"k": "v"})
    r = requests.get(f"{url}/{b}/from-s3", headers=h, timeout=10)
    assert r.status_code == 200 and r.content == b"written by s3"
    assert r.headers["X-Object-Meta-K"] == "v"
    assert requests.put(f"{url}/{b}/from-swift", headers={**h, "X-Object-Meta-Who": "swift"},
                        data=b"written by swift", timeout=10).status_code == 201
    got = s3.get_object(Bucket=b, Key="from-swift")
    assert got["Body"].read() == b"written by swift" and got["Metadata"] == {"who": "swift"}
    listed = requests.get(f"{url}?format=json", headers=h, timeout=10).json()
    assert b in [c["name"] for c in listed]
    assert requests.put(f"{url}/made-by-swift-{b}", headers=h, timeout=10).status_code == 201
    assert f"made-by-swift-{b}" in [x["Name"] for x in s3.list_buckets()["Buckets"]]
    s3.delete_bucket(Bucket=f"made-by-swift-{b}")


def test_multipart_20_mib_and_parts(s3, cloud, tmp_path):
    b = unique("mpu").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20 * MiB + 4321))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                         max_concurrency=2)
    s3.upload_file(str(src), b, "big.bin", Config=cfg, ExtraArgs={"Metadata": {"size": "big"}})
    head = s3.head_object(Bucket=b, Key="big.bin")
    assert head["ETag"].endswith('-3"'), head["ETag"]
    assert head["ContentLength"] == src.stat().st_size
    assert head["Metadata"] == {"size": "big"}
    dst = tmp_path / "back.bin"
    s3.download_file(b, "big.bin", str(dst))
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == digest
    # Swift reads the same object (a static large object over the parts).
    url, h = swift_url_token(cloud)
    with requests.get(f"{url}/{b}/big.bin", headers=h, stream=True, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["X-Static-Large-Object"] == "True"
        sha = hashlib.sha256()
        for chunk in r.iter_content(1 << 20):
            sha.update(chunk)
    assert sha.hexdigest() == digest
    ranged = s3.get_object(Bucket=b, Key="big.bin", Range=f"bytes={8 * MiB - 5}-{8 * MiB + 4}")
    assert ranged["Body"].read() == src.read_bytes()[8 * MiB - 5: 8 * MiB + 5]

    # By hand: list parts, a too-small part refused, abort, and no such upload after.
    up = s3.create_multipart_upload(Bucket=b, Key="manual", ContentType="text/x-test")
    uid = up["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key="manual", UploadId=uid, PartNumber=1, Body=b"a" * 1000)["ETag"]
    e2 = s3.upload_part(Bucket=b, Key="manual", UploadId=uid, PartNumber=2, Body=b"b" * 10)["ETag"]
    parts = s3.list_parts(Bucket=b, Key="manual", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 1000), (2, 10)]
    uploads = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("manual", uid)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=b, Key="manual", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code(e.value) == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=b, Key="manual", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert code(e.value) == "InvalidPartOrder"
    s3.abort_multipart_upload(Bucket=b, Key="manual", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=b, Key="manual", UploadId=uid)
    assert code(e.value) == "NoSuchUpload"

    # One small part completes (the last part may be any size); its type is kept.
    up = s3.create_multipart_upload(Bucket=b, Key="small", ContentType="text/x-test")
    e1 = s3.upload_part(Bucket=b, Key="small", UploadId=up["UploadId"], PartNumber=1,
                        Body=b"only part")["ETag"]
    done = s3.complete_multipart_upload(Bucket=b, Key="small", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert done["ETag"].endswith('-1"')
    got = s3.get_object(Bucket=b, Key="small")
    assert got["Body"].read() == b"only part" and got["ContentType"] == "text/x-test"

    # Deleting the objects takes their parts; then the bucket can go.
    s3.delete_object(Bucket=b, Key="big.bin")
    s3.delete_object(Bucket=b, Key="small")
    segs = requests.get(f"{url}/{b}+segments?format=json", headers=h, timeout=10)
    assert segs.status_code == 200 and segs.json() == []
    s3.delete_bucket(Bucket=b)


def test_upload_part_copy_with_ranges(s3, tmp_path):
    """UploadPartCopy: parts copied from an existing object, whole or by
    `x-amz-copy-source-range`, mixed with an uploaded part; bad ranges and a
    missing source get S3's errors."""
    b = unique("mpc").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    src = os.urandom(6 * MiB + 321)
    s3.put_object(Bucket=b, Key="src/obj", Body=src)
    uid = s3.create_multipart_upload(Bucket=b, Key="assembled")["UploadId"]
    copy = {"Bucket": b, "Key": "src/obj"}
    p1 = s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource=copy, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    p2 = s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=2,
                             CopySource=copy, CopySourceRange=f"bytes={5 * MiB}-{len(src) - 1}")
    whole = s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=3,
                                CopySource=copy)
    p4 = s3.upload_part(Bucket=b, Key="assembled", UploadId=uid, PartNumber=4, Body=b"tail")
    # A copied part's ETag is the MD5 of the bytes it holds.
    assert p1["CopyPartResult"]["ETag"] == f'"{hashlib.md5(src[:5 * MiB]).hexdigest()}"'
    assert whole["CopyPartResult"]["ETag"] == f'"{hashlib.md5(src).hexdigest()}"'
    sizes = [(p["PartNumber"], p["Size"])
             for p in s3.list_parts(Bucket=b, Key="assembled", UploadId=uid)["Parts"]]
    assert sizes == [(1, 5 * MiB), (2, len(src) - 5 * MiB), (3, len(src)), (4, 4)]

    for bad in (f"bytes=10-5", f"bytes=0-{len(src)}", "bytes=abc", "5-10"):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=5,
                                CopySource=copy, CopySourceRange=bad)
        assert code(e.value) == "InvalidArgument", bad
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=5,
                            CopySource={"Bucket": b, "Key": "no/such"})
    assert code(e.value) == "NoSuchKey"
    # The refused copies left no part behind.
    assert len(s3.list_parts(Bucket=b, Key="assembled", UploadId=uid)["Parts"]) == 4

    # Part 2 is under 5 MiB and not last: the upload uses parts 1, 3 and 4.
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
             {"PartNumber": 3, "ETag": whole["CopyPartResult"]["ETag"]},
             {"PartNumber": 4, "ETag": p4["ETag"]}]
    done = s3.complete_multipart_upload(Bucket=b, Key="assembled", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"].endswith('-3"')
    got = s3.get_object(Bucket=b, Key="assembled")["Body"].read()
    assert got == src[:5 * MiB] + src + b"tail"
    for k in ("assembled", "src/obj"):
        s3.delete_object(Bucket=b, Key=k)
    s3.delete_bucket(Bucket=b)


def test_list_multipart_uploads_pages_prefixes_and_markers(s3):
    """ListMultipartUploads as boto3's paginator walks it: key then upload-id
    order, `max-uploads` pages with Next markers, `prefix` and `delimiter`."""
    b = unique("mpl").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    made = [(k, s3.create_multipart_upload(Bucket=b, Key=k)["UploadId"])
            for k in ("logs/a", "logs/b", "m", "m", "z", "m-1")]
    expected = sorted(made)

    pages = list(s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=b, PaginationConfig={"PageSize": 2}))
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    assert [(u["Key"], u["UploadId"]) for p in pages for u in p.get("Uploads", [])] == expected
    assert pages[0]["NextKeyMarker"] == expected[1][0]
    assert pages[0]["NextUploadIdMarker"] == expected[1][1]

    # The marker's key with a later id, then later keys.
    m_ids = sorted(i for k, i in made if k == "m")
    after = s3.list_multipart_uploads(Bucket=b, KeyMarker="m", UploadIdMarker=m_ids[0])
    assert [(u["Key"], u["UploadId"]) for u in after["Uploads"]] == \
        [("m", m_ids[1])] + [e for e in expected if e[0] > "m"]
    # A key marker alone skips that key entirely.
    after = s3.list_multipart_uploads(Bucket=b, KeyMarker="m")
    assert [u["Key"] for u in after["Uploads"]] == ["m-1", "z"]

    rolled = s3.list_multipart_uploads(Bucket=b, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["logs/"]
    assert [u["Key"] for u in rolled["Uploads"]] == ["m", "m", "m-1", "z"]
    under = s3.list_multipart_uploads(Bucket=b, Prefix="logs/", Delimiter="/")
    assert [u["Key"] for u in under["Uploads"]] == ["logs/a", "logs/b"]
    assert "CommonPrefixes" not in under

    for k, i in made:
        s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=i)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=b)
    s3.delete_bucket(Bucket=b)


def test_aws_cli(cloud, demo, tmp_path):
    access, secret = ec2_keys(demo)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    endpoint = f"{cloud.base_url}/s3"

    def aws(*args: str) -> str:
        p = subprocess.run([str(VENV_BIN / "aws"), "--endpoint-url", endpoint, *args],
                           capture_output=True, text=True, env=env, timeout=180,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, f"aws {args} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    b = unique("cli").lower().replace("_", "-")
    aws("s3", "mb", f"s3://{b}")
    src = tmp_path / "file.bin"
    src.write_bytes(os.urandom(9 * MiB + 7))
    aws("s3", "cp", str(src), f"s3://{b}/path/file.bin")
    assert "file.bin" in aws("s3", "ls", f"s3://{b}/path/")
    back = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{b}/path/file.bin", str(back))
    assert back.read_bytes() == src.read_bytes()
    assert b in aws("s3api", "list-buckets", "--query", "Buckets[].Name", "--output", "text")
    aws("s3", "rm", "--recursive", f"s3://{b}")
    aws("s3", "rb", f"s3://{b}")


def test_kill9_during_multipart_keeps_acknowledged_parts(fresh_server: OnestackServer):
    access, secret = ec2_keys(Osc(fresh_server.openrc("demo")))
    s3 = client(fresh_server.base_url, access, secret)
    b = unique("crash").lower().replace("_", "-")
    s3.create_bucket(Bucket=b)
    uid = s3.create_multipart_upload(Bucket=b, Key="obj")["UploadId"]
    part1 = os.urandom(5 * MiB)
    e1 = s3.upload_part(Bucket=b, Key="obj", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    # Part 2 goes up slowly (a presigned PUT streamed by hand) and is cut by the kill.
    url = s3.generate_presigned_url("upload_part", ExpiresIn=300, Params={
        "Bucket": b, "Key": "obj", "UploadId": uid, "PartNumber": 2})

    def slow_body():
        for _ in range(200):
            yield b"n" * 65536
            time.sleep(0.02)

    def upload():
        try:
            requests.put(url, data=slow_body(), timeout=30,
                         headers={"Content-Length": str(200 * 65536)})
        except requests.RequestException:
            pass

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(1.0)
    fresh_server.kill9()
    t.join(timeout=30)
    fresh_server.start()
    parts = s3.list_parts(Bucket=b, Key="obj", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 5 * MiB, e1)]
    s3.complete_multipart_upload(Bucket=b, Key="obj", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert s3.get_object(Bucket=b, Key="obj")["Body"].read() == part1
    tmp = fresh_server.state_dir / "objects" / "tmp"
    assert not any(tmp.iterdir()), "no partial part left behind"
