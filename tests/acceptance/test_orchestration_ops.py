"""Orchestration operations beyond create/update/delete, through the real `openstack
stack` commands (python-heatclient) where the client has one: `stack create --dry-run`
(the preview), `stack cancel` of an update (rolled back to the previous template) and
`--no-rollback`, templates and `get_file`s read by URL from this cloud's object store
(other URLs refused), OS::Heat::CloudConfig and OS::Heat::MultipartMime, and the wait
condition handle's credential, which can signal its handle and nothing else and stops
working when the stack is deleted. No guest boots here.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import requests

from conftest import Osc, unique

SIMPLE = """
heat_template_version: 2018-08-31
description: A previewed stack
parameters:
  greeting: {type: string, default: hello}
resources:
  net:
    type: OS::Neutron::Net
    properties:
      name: {list_join: ['-', [{get_param: 'OS::stack_name'}, net]]}
  subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: 10.99.0.0/24
  note:
    type: OS::Heat::Value
    properties:
      value: {str_replace: {template: $G world, params: {$G: {get_param: greeting}}}}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def wait_stack(osc: Osc, stack: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = osc.json("stack", "show", stack)
        if not s["stack_status"].endswith("IN_PROGRESS"):
            return s
        assert time.monotonic() < deadline, f"{stack} stuck in {s['stack_status']}"
        time.sleep(1)


def resources(osc: Osc, stack: str) -> dict[str, dict]:
    return {r["resource_name"]: r for r in osc.json("stack", "resource", "list", stack)}


def output(osc: Osc, stack: str, key: str):
    return osc.json("stack", "output", "show", stack, key)["output_value"]


def test_preview_with_dry_run_creates_nothing(demo, tmp_path):
    name = unique("preview")
    tpl = write(tmp_path, "simple.yaml", SIMPLE)
    p = demo.json("stack", "create", "--dry-run", "-t", tpl, "--parameter", "greeting=hi",
                  name)
    assert p["stack_name"] == name and p["id"] == "None", p
    assert p["template_description"] == "A previewed stack"
    res = p["resources"]
    res = json.loads(res) if isinstance(res, str) else res
    by = {r["resource_name"]: r for r in res}
    assert set(by) == {"net", "subnet", "note"}, by
    assert by["net"]["properties"]["name"] == f"{name}-net"
    # Before anything exists a get_resource is the resource's name.
    assert by["subnet"]["properties"]["network"] == "net"
    assert by["note"]["properties"]["value"] == "hi world"
    assert by["subnet"]["resource_action"] == "INIT" and by["net"]["physical_resource_id"] == ""
    # Nothing was made: no stack, no network.
    assert name not in [s["Stack Name"] for s in demo.json("stack", "list")]
    assert demo._run(("network", "show", f"{name}-net")).returncode != 0
    # A bad template gets the create's 400.
    bad = write(tmp_path, "bad.yaml", SIMPLE.replace("OS::Heat::Value", "OS::Nope::Thing"))
    demo.fail("stack", "create", "--dry-run", "-t", bad, name, expect="OS::Nope::Thing")


CANCEL_V1 = """
heat_template_version: 2018-08-31
resources:
  first:
    type: OS::Heat::Value
    properties: {value: one}
  slow:
    type: OS::Heat::TestResource
    depends_on: first
    properties: {value: before}
outputs:
  slow: {value: {get_attr: [slow, output]}}
"""

CANCEL_V2 = """
heat_template_version: 2018-08-31
resources:
  first:
    type: OS::Heat::Value
    properties: {value: one}
  added:
    type: OS::Heat::Value
    properties: {value: new}
  slow:
    type: OS::Heat::TestResource
    depends_on: [first, added]
    properties:
      value: after
      action_wait_secs: {update: 20}
  later:
    type: OS::Heat::Value
    depends_on: slow
    properties: {value: never}
outputs:
  slow: {value: {get_attr: [slow, output]}}
"""


def _wait_status(osc: Osc, stack: str, resource: str, status: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        r = resources(osc, stack).get(resource)
        if r and r["resource_status"] == status:
            return r
        assert time.monotonic() < deadline, f"{resource} of {stack}: {r}"
        time.sleep(0.3)


def test_cancel_update_rolls_back_to_the_previous_template(demo, tmp_path):
    name = unique("cancel")
    demo.run("stack", "create", "--wait", "-t", write(tmp_path, "v1.yaml", CANCEL_V1), name)
    assert output(demo, name, "slow") == "before"
    # Not updating: nothing to cancel (the client checks, and so does the API).
    demo.fail("stack", "cancel", name, expect="not in cancelable state")
    demo.run("stack", "update", "-t", write(tmp_path, "v2.yaml", CANCEL_V2), name)
    _wait_status(demo, name, "slow", "UPDATE_IN_PROGRESS")
    demo.run("stack", "cancel", "--wait", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "ROLLBACK_COMPLETE", s
    rs = resources(demo, name)
    # What the update added is gone, what it never reached was never made, and
    # the changed resource has its old properties back.
    assert set(rs) == {"first", "slow"}, rs
    assert output(demo, name, "slow") == "before"
    t = demo.json("stack", "template", "show", name)
    assert "added" not in t["resources"], t
    events = [e["resource_status"] for e in demo.json("stack", "event", "list", name)
              if e["resource_name"] == name]
    assert events[-2:] == ["ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"], events
    demo.run("stack", "delete", "--yes", "--wait", name)


def test_cancel_without_rollback_stops_the_update(demo, tmp_path):
    name = unique("cancelnr")
    demo.run("stack", "create", "--wait", "-t", write(tmp_path, "v1.yaml", CANCEL_V1), name)
    demo.run("stack", "update", "-t", write(tmp_path, "v2.yaml", CANCEL_V2), name)
    _wait_status(demo, name, "slow", "UPDATE_IN_PROGRESS")
    demo.run("stack", "cancel", "--no-rollback", name)
    s = wait_stack(demo, name)
    assert s["stack_status"] == "UPDATE_FAILED", s
    assert s["stack_status_reason"] == "Operation cancelled", s
    rs = resources(demo, name)
    # The resource in progress finished; the one after it was not started.
    assert rs["added"]["resource_status"] == "CREATE_COMPLETE", rs
    assert rs["later"]["resource_status"].startswith("INIT") if "later" in rs else True
    assert output(demo, name, "slow") == "after"
    demo.run("stack", "delete", "--yes", "--wait", name)


FETCHED = """
heat_template_version: 2018-08-31
parameters:
  who: {type: string, default: swift}
resources:
  script:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: {get_file: run.sh}
outputs:
  config: {value: {get_attr: [script, config]}}
"""


def _project_and_token(demo: Osc) -> tuple[str, str]:
    t = demo.json("token", "issue")
    return t["project_id"], t["id"]


def test_template_url_and_get_file_from_the_object_store(cloud, demo, admin, tmp_path):
    project, token = _project_and_token(demo)
    container = unique("tpl")
    demo.run("container", "create", container)
    demo.run("object", "create", container, write(tmp_path, "main.yaml", FETCHED),
             "--name", "dir/main.yaml")
    demo.run("object", "create", container, write(tmp_path, "run.sh", "#!/bin/sh\necho swift\n"),
             "--name", "dir/run.sh")
    store = f"{cloud.base_url}/object-storage/v1/AUTH_{project}/{container}"
    api = f"{cloud.base_url}/orchestration/v1/{project}"
    h = {"X-Auth-Token": token}
    name = unique("fromurl")
    r = requests.post(f"{api}/stacks", headers=h, timeout=30, json={
        "stack_name": name, "template_url": f"{store}/dir/main.yaml"})
    assert r.status_code == 201, r.text
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    # get_file: run.sh, relative to the template's URL.
    assert output(demo, name, "config") == "#!/bin/sh\necho swift\n"
    # Validate reads the URL the same way.
    r = requests.post(f"{api}/validate", headers=h, timeout=30,
                      json={"template_url": f"{store}/dir/main.yaml"})
    assert r.status_code == 200 and "who" in r.json()["Parameters"], r.text
    # Anything else is refused with Heat's 400, and nothing is fetched.
    for url, why in [("http://192.0.2.1/x.yaml", "object store"),
                     (f"{store}/dir/missing.yaml", "not found"),
                     (f"{store}/dir/main.yaml".replace(project, "someoneelse"), "")]:
        r = requests.post(f"{api}/stacks", headers=h, timeout=30,
                          json={"stack_name": unique("bad"), "template_url": url})
        assert r.status_code == 400, (url, r.status_code, r.text)
        err = r.json()["error"]["message"]
        assert "Could not retrieve template" in err and why in err, err
    # Another project's private object: the caller may not read it.
    admin_container = unique("admintpl")
    admin.run("container", "create", admin_container)
    admin.run("object", "create", admin_container, write(tmp_path, "a.yaml", FETCHED),
              "--name", "a.yaml")
    aproject = admin.json("token", "issue")["project_id"]
    r = requests.post(f"{api}/stacks", headers=h, timeout=30, json={
        "stack_name": unique("bad"),
        "template_url": f"{cloud.base_url}/object-storage/v1/AUTH_{aproject}/{admin_container}/a.yaml"})
    assert r.status_code == 400 and "Not allowed" in r.text, r.text
    demo.run("stack", "delete", "--yes", "--wait", name)


CONFIGS = """
heat_template_version: 2018-08-31
resources:
  cc:
    type: OS::Heat::CloudConfig
    properties:
      cloud_config:
        runcmd: [[touch, /tmp/from-cloud-config]]
  sh:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho from-script\\n"
  mime:
    type: OS::Heat::MultipartMime
    properties:
      parts:
        - config: {get_resource: cc}
        - config: {get_resource: sh}
          subtype: x-shellscript
          filename: run.sh
  outer:
    type: OS::Heat::MultipartMime
    properties:
      parts:
        - config: {get_attr: [mime, config]}
          type: multipart
        - config: "plain words"
outputs:
  cc: {value: {get_attr: [cc, config]}}
  mime: {value: {get_attr: [mime, config]}}
  outer: {value: {get_attr: [outer, config]}}
"""


def test_cloud_config_and_multipart_mime(demo, tmp_path):
    name = unique("mime")
    demo.run("stack", "create", "--wait", "-t", write(tmp_path, "c.yaml", CONFIGS), name)
    cc = output(demo, name, "cc")
    assert cc.startswith("#cloud-config\n") and "runcmd" in cc and "/tmp/from-cloud-config" in cc
    mime = output(demo, name, "mime")
    assert mime.startswith('Content-Type: multipart/mixed; boundary="'), mime
    assert "Content-Type: text/plain" in mime and cc in mime, mime
    assert 'Content-Type: text/x-shellscript; charset="us-ascii"' in mime
    assert 'filename="run.sh"' in mime and "echo from-script" in mime
    # A multipart part is merged: its two parts, then the third.
    outer = output(demo, name, "outer")
    assert outer.count("Content-Type: text/") == 3 and "plain words" in outer, outer
    # Each is a software config of the stack's project.
    phys = resources(demo, name)["mime"]["physical_resource_id"]
    sc = demo.json("software", "config", "show", phys)
    assert sc["config"] == mime and sc["group"] == "Heat::Ungrouped", sc
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert demo._run(("software", "config", "show", phys)).returncode != 0


WAIT = """
heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 1
      timeout: 120
outputs:
  curl: {value: {get_attr: [handle, curl_cli]}}
  token: {value: {get_attr: [handle, token]}}
"""


def test_handle_credential_signals_only_its_handle(cloud, demo, tmp_path):
    name = unique("cred")
    demo.run("stack", "create", "-t", write(tmp_path, "wait.yaml", WAIT), name)
    deadline = time.monotonic() + 30
    while True:
        attrs = demo.json("stack", "resource", "show", name, "handle").get("attributes") or {}
        if attrs.get("token"):
            break
        assert time.monotonic() < deadline, attrs
        time.sleep(0.5)
    token, endpoint, curl = attrs["token"], attrs["endpoint"], attrs["curl_cli"]
    project = demo.json("token", "issue")["project_id"]
    h = {"X-Auth-Token": token}
    # It is no project token: no server list, no stack show, no signal to
    # another resource.
    r = requests.get(f"{cloud.base_url}/compute/v2.1/servers", headers=h, timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)
    r = requests.get(f"{cloud.base_url}/orchestration/v1/{project}/stacks", headers=h, timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)
    r = requests.post(endpoint.replace("/resources/handle/", "/resources/wait/"), headers=h,
                      json={}, timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)
    # It is an application credential of the stack's owner, limited to the signal.
    creds = demo.json("application", "credential", "list")
    mine = [c for c in creds if c["Name"].startswith(f"{name}-handle-")]
    assert len(mine) == 1, creds
    # The guest's curl signals.
    body = json.dumps({"status": "SUCCESS", "id": "1", "data": "ok"})
    out = subprocess.run(f"{curl} --data-binary '{body}'", shell=True, capture_output=True,
                         text=True, timeout=30)
    assert " 200 " in out.stdout.splitlines()[0], out.stdout + out.stderr
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    demo.run("stack", "delete", "--yes", "--wait", name)
    # Deleted with the stack: the credential is gone and its token refused.
    creds = demo.json("application", "credential", "list")
    assert not [c for c in creds if c["Name"].startswith(f"{name}-handle-")], creds
    r = requests.post(endpoint, headers=h, json={}, timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)
