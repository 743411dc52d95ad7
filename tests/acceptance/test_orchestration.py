"""Orchestration (`/orchestration/v1/{project_id}`) through the real `openstack stack`
commands (python-heatclient): a lab template of network, subnet, router and its
interface, port, security group, key pair, random string, volume and floating IP is
created with `--wait`, its outputs, resources and events are read, every resource
is checked through the other services' APIs, and `stack delete --wait` leaves
nothing behind. Bad templates get Heat's 400s; a stack interrupted by kill -9 ends
COMPLETE or FAILED after the restart and its delete still removes everything.
A server stack runs when the test guest image and QEMU are present.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, OnestackServer, Osc, unique

LAB = """
heat_template_version: 2018-08-31
description: A lab network with a router, a port, a volume and a floating IP
parameters:
  cidr:
    type: string
    default: 10.77.0.0/24
    constraints:
      - allowed_pattern: '[0-9./]+'
  public_net:
    type: string
    default: public
  volume_size:
    type: number
    default: 1
    constraints:
      - range: {min: 1, max: 4}
resources:
  secret:
    type: OS::Heat::RandomString
    properties:
      length: 16
  net:
    type: OS::Neutron::Net
  subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: {get_param: cidr}
      dns_nameservers: [8.8.8.8]
  router:
    type: OS::Neutron::Router
    properties:
      external_gateway_info: {network: {get_param: public_net}}
  router_if:
    type: OS::Neutron::RouterInterface
    properties:
      router: {get_resource: router}
      subnet: {get_resource: subnet}
  sg:
    type: OS::Neutron::SecurityGroup
    properties:
      rules:
        - {protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: 0.0.0.0/0}
        - {protocol: icmp}
  port:
    type: OS::Neutron::Port
    properties:
      network: {get_resource: net}
      fixed_ips: [{subnet: {get_resource: subnet}}]
      security_groups: [{get_resource: sg}]
  fip:
    type: OS::Neutron::FloatingIP
    depends_on: router_if
    properties:
      floating_network: {get_param: public_net}
      port_id: {get_resource: port}
  key:
    type: OS::Nova::KeyPair
    properties:
      name: {list_join: ['-', [{get_param: 'OS::stack_name'}, key]]}
      save_private_key: true
  vol:
    type: OS::Cinder::Volume
    properties:
      size: {get_param: volume_size}
      metadata: {stack: {get_param: 'OS::stack_name'}}
outputs:
  port_ip:
    description: The port's address
    value: {get_attr: [port, fixed_ips, 0, ip_address]}
  fip:
    value: {get_attr: [fip, floating_ip_address]}
  banner:
    value:
      str_replace:
        template: net $NET on $CIDR
        params: {$NET: {get_attr: [net, name]}, $CIDR: {get_attr: [subnet, cidr]}}
  secret_length:
    value: {get_attr: [secret, value]}
  volume_id:
    value: {get_resource: vol}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def resources(osc: Osc, stack: str) -> dict[str, dict]:
    return {r["resource_name"]: r for r in osc.json("stack", "resource", "list", stack)}


def wait_stack(osc: Osc, stack: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = osc.json("stack", "show", stack)
        if not s["stack_status"].endswith("IN_PROGRESS"):
            return s
        assert time.monotonic() < deadline, f"{stack} stuck in {s['stack_status']}"
        time.sleep(1)


def gone(osc: Osc, *args: str) -> bool:
    """Whether `openstack <args>` (a show) fails: the thing no longer exists."""
    return osc._run(args).returncode != 0


def test_lab_stack_create_outputs_and_delete(demo, tmp_path):
    name = unique("lab")
    tpl = write(tmp_path, "lab.yaml", LAB)
    t0 = time.monotonic()
    demo.run("stack", "create", "-t", tpl, "--parameter", "volume_size=2", "--wait",
             "--poll", "1", name)
    created = time.monotonic() - t0
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    assert s["parameters"]["volume_size"] == "2"
    outs = {o["output_key"]: o["output_value"] for o in s["outputs"]}
    assert re.fullmatch(r"10\.77\.0\.\d+", outs["port_ip"]), outs
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", outs["fip"]), outs
    assert outs["banner"].startswith(f"net {name}-net-") and outs["banner"].endswith(" on 10.77.0.0/24")
    assert len(outs["secret_length"]) == 16
    one = demo.json("stack", "output", "show", name, "port_ip")
    assert one["output_value"] == outs["port_ip"]
    assert {o["output_key"] for o in demo.json("stack", "output", "list", name)} == set(outs)

    res = resources(demo, name)
    assert set(res) == {"secret", "net", "subnet", "router", "router_if", "sg", "port", "fip",
                        "key", "vol"}
    assert all(r["resource_status"] == "CREATE_COMPLETE" for r in res.values()), res
    # Each resource exists in its own service, as the template said.
    net = demo.json("network", "show", res["net"]["physical_resource_id"])
    assert net["name"].startswith(f"{name}-net-")
    sub = demo.json("subnet", "show", res["subnet"]["physical_resource_id"])
    assert sub["cidr"] == "10.77.0.0/24" and sub["network_id"] == net["id"]
    port = demo.json("port", "show", res["port"]["physical_resource_id"])
    assert port["security_group_ids"] == [res["sg"]["physical_resource_id"]]
    rules = demo.json("security", "group", "rule", "list", res["sg"]["physical_resource_id"])
    assert {r["IP Protocol"] for r in rules} >= {"tcp", "icmp"}
    fip = demo.json("floating", "ip", "show", res["fip"]["physical_resource_id"])
    assert fip["port_id"] == port["id"] and fip["floating_ip_address"] == outs["fip"]
    router_ports = demo.json("port", "list", "--router", res["router"]["physical_resource_id"])
    assert any(p["Fixed IP Addresses"] and "10.77.0.1" in json.dumps(p["Fixed IP Addresses"])
               for p in router_ports), router_ports
    vol = demo.json("volume", "show", res["vol"]["physical_resource_id"])
    assert vol["size"] == 2 and vol["status"] == "available"
    assert vol["properties"] == {"stack": name}
    key = demo.json("keypair", "show", f"{name}-key")
    assert key["name"] == f"{name}-key"
    detail = demo.json("stack", "resource", "show", name, "key")
    assert detail["attributes"]["private_key"].startswith("-----BEGIN")

    events = demo.json("stack", "event", "list", name)
    statuses = [(e["resource_name"], e["resource_status"]) for e in events]
    assert (name, "CREATE_COMPLETE") in statuses
    assert ("vol", "CREATE_IN_PROGRESS") in statuses and ("vol", "CREATE_COMPLETE") in statuses
    # The subnet is created after its network, the interface after the router.
    order = [n for n, st in statuses if st == "CREATE_COMPLETE"]
    assert order.index("net") < order.index("subnet") < order.index("router_if")
    assert order.index("router") < order.index("router_if") < order.index("fip")
    listed = {s["Stack Name"]: s for s in demo.json("stack", "list")}
    assert listed[name]["Stack Status"] == "CREATE_COMPLETE"
    template = demo.json("stack", "template", "show", name)
    assert set(template["resources"]) == set(res)

    t0 = time.monotonic()
    demo.run("stack", "delete", "--yes", "--wait", name)
    deleted = time.monotonic() - t0
    assert name not in {s["Stack Name"] for s in demo.json("stack", "list")}
    demo.fail("stack", "show", name, expect="not found")
    ids = {k: r["physical_resource_id"] for k, r in res.items()}
    assert gone(demo, "network", "show", ids["net"])
    assert gone(demo, "router", "show", ids["router"])
    assert gone(demo, "port", "show", ids["port"])
    assert gone(demo, "security", "group", "show", ids["sg"])
    assert gone(demo, "floating", "ip", "show", ids["fip"])
    assert gone(demo, "keypair", "show", f"{name}-key")
    deadline = time.monotonic() + 30
    while not gone(demo, "volume", "show", ids["vol"]):
        assert time.monotonic() < deadline, "volume left behind"
        time.sleep(0.5)
    print(f"\nlab stack (10 resources): create --wait {created:.1f}s, delete --wait {deleted:.1f}s")


BAD = {
    "syntax": ("heat_template_version: 2018-08-31\nresources:\n  a: [\n", "line"),
    "cycle": ("heat_template_version: 2018-08-31\nresources:\n"
              "  a: {type: OS::Neutron::Net, depends_on: b}\n"
              "  b: {type: OS::Neutron::Net, depends_on: a}\n", "Circular Dependency Found"),
    "type": ("heat_template_version: 2018-08-31\nresources:\n  a: {type: OS::No::Such}\n",
             "OS::No::Such"),
    "attr": ("heat_template_version: 2018-08-31\nresources:\n  a: {type: OS::Neutron::Net}\n"
             "outputs:\n  o: {value: {get_attr: [a, nope]}}\n", "(a nope)"),
    "missing": ("heat_template_version: 2018-08-31\nparameters:\n  k: {type: string}\n",
                "The Parameter (k) was not provided"),
    "range": ("heat_template_version: 2018-08-31\nparameters:\n  n:\n    type: number\n"
              "    default: 9\n    constraints: [{range: {min: 1, max: 3}}]\n", "out of range"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_templates_are_refused(demo, tmp_path, case):
    text, expect = BAD[case]
    tpl = write(tmp_path, f"{case}.yaml", text)
    name = unique("bad")
    demo.fail("stack", "create", "-t", tpl, name, expect=expect)
    assert name not in {s["Stack Name"] for s in demo.json("stack", "list")}


def test_validate_and_constraint_on_given_parameter(demo, tmp_path):
    tpl = write(tmp_path, "lab.yaml", LAB)
    v = demo.json("orchestration", "template", "validate", "-t", tpl)
    assert v["Parameters"]["volume_size"]["Type"] == "Number"
    assert v["Description"].startswith("A lab network")
    demo.fail("stack", "create", "-t", tpl, "--parameter", "volume_size=9", unique("bad"),
              expect="out of range")


def test_failed_resource_fails_the_stack_and_delete_cleans_up(demo, tmp_path):
    text = """
heat_template_version: 2018-08-31
resources:
  net:
    type: OS::Neutron::Net
  bad_subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: not-a-cidr
"""
    tpl = write(tmp_path, "fail.yaml", text)
    name = unique("fail")
    demo.fail("stack", "create", "-t", tpl, "--wait", "--poll", "1", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "CREATE_FAILED", s
    assert "bad_subnet" in s["stack_status_reason"]
    res = resources(demo, name)
    assert res["net"]["resource_status"] == "CREATE_COMPLETE"
    assert res["bad_subnet"]["resource_status"] == "CREATE_FAILED"
    net_id = res["net"]["physical_resource_id"]
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert gone(demo, "network", "show", net_id)


def test_other_projects_do_not_see_a_stack(admin, demo, tmp_path):
    tpl = write(tmp_path, "one.yaml",
                "heat_template_version: 2018-08-31\nresources:\n  r: {type: OS::Heat::RandomString}\n")
    name = unique("mine")
    admin.run("stack", "create", "-t", tpl, "--wait", "--poll", "1", name)
    sid = admin.json("stack", "show", name)["id"]
    assert name not in {s["Stack Name"] for s in demo.json("stack", "list")}
    demo.fail("stack", "show", sid, expect="not found")
    demo.fail("stack", "delete", "--yes", sid)
    admin.run("stack", "delete", "--yes", "--wait", name)


def test_kill9_during_create_then_restart_and_delete(fresh_server: OnestackServer, tmp_path):
    demo = Osc(fresh_server.openrc("demo"))
    nets = "\n".join(
        f"  net{i}:\n    type: OS::Neutron::Net\n"
        f"  sub{i}:\n    type: OS::Neutron::Subnet\n    properties:\n"
        f"      network: {{get_resource: net{i}}}\n      cidr: 10.{80 + i}.0.0/24\n"
        f"  vol{i}:\n    type: OS::Cinder::Volume\n    properties: {{size: 1}}\n"
        for i in range(6))
    tpl = write(tmp_path, "big.yaml", f"heat_template_version: 2018-08-31\nresources:\n{nets}")
    name = unique("crash")
    demo.run("stack", "create", "-t", tpl, name)
    time.sleep(0.3)
    fresh_server.kill9()
    fresh_server.restart_hard()
    demo = Osc(fresh_server.openrc("demo"))
    s = wait_stack(demo, name)
    assert s["stack_status"] in ("CREATE_COMPLETE", "CREATE_FAILED"), s
    res = resources(demo, name)
    assert not [r for r in res.values() if r["resource_status"].endswith("IN_PROGRESS")], res
    print(f"\nafter kill -9 mid-create: {s['stack_status']} ({s['stack_status_reason']})")
    demo.run("stack", "delete", "--yes", "--wait", name)
    names = {n["Name"] for n in demo.json("network", "list")}
    assert not [n for n in names if n.startswith(f"{name}-")], names
    deadline = time.monotonic() + 60
    while [v for v in demo.json("volume", "list") if v["Name"].startswith(f"{name}-")]:
        assert time.monotonic() < deadline, "volumes left behind"
        time.sleep(0.5)


def test_kill9_while_a_resource_waits_then_the_create_resumes(fresh_server: OnestackServer,
                                                              tmp_path):
    """A deterministic point to kill at: Heat's own test resource waits
    `action_wait_secs` in its create, so the stack is certainly mid-create (one
    network made, one resource in progress, one not started) when kill -9 lands."""
    demo = Osc(fresh_server.openrc("demo"))
    text = """
heat_template_version: 2018-08-31
resources:
  first:
    type: OS::Neutron::Net
  wait:
    type: OS::Heat::TestResource
    depends_on: first
    properties: {value: waited, action_wait_secs: {create: 6}}
  last:
    type: OS::Neutron::Net
    depends_on: wait
outputs:
  out: {value: {get_attr: [wait, output]}}
"""
    name = unique("wait")
    demo.run("stack", "create", "-t", write(tmp_path, "w.yaml", text), name)
    deadline = time.monotonic() + 60
    while resources(demo, name)["wait"]["resource_status"] != "CREATE_IN_PROGRESS":
        assert time.monotonic() < deadline, resources(demo, name)
        time.sleep(0.3)
    first = resources(demo, name)["first"]["physical_resource_id"]
    fresh_server.kill9()
    fresh_server.start()
    demo = Osc(fresh_server.openrc("demo"))
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    res = resources(demo, name)
    assert res["first"]["physical_resource_id"] == first
    assert {o["output_key"]: o["output_value"] for o in s["outputs"]} == {"out": "waited"}
    # Nothing was made twice: one network per network resource.
    mine = [n for n in demo.json("network", "list") if n["Name"].startswith(f"{name}-")]
    assert sorted(n["ID"] for n in mine) == sorted(
        [first, res["last"]["physical_resource_id"]]), mine
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert not [n for n in demo.json("network", "list") if n["Name"].startswith(f"{name}-")]


def _interrupt_create(state_dir: Path, stack_id: str, resource: str, intent: str) -> None:
    """Puts a stopped server's database in the state a kill -9 leaves when it lands
    between a resource's create call and the record of its physical id: the stack
    and the resource CREATE_IN_PROGRESS, the resource's id forgotten, its intent
    (the name the call gave) kept. The window is microseconds wide, so the test
    builds it rather than racing for it."""
    import sqlite3
    db = sqlite3.connect(state_dir / "state.db")
    with db:
        db.execute("UPDATE heat_stacks SET action = 'CREATE', status = 'IN_PROGRESS' "
                   "WHERE id = ?", (stack_id,))
        db.execute("UPDATE heat_resources SET action = 'CREATE', status = 'IN_PROGRESS', "
                   "intent = ?, physical_id = '', updated_at = '2000-01-01T00:00:00Z' "
                   "WHERE stack_id = ? AND name = ?", (intent, stack_id, resource))
    db.close()


def test_create_interrupted_between_call_and_record_adopts_no_orphan(
        fresh_server: OnestackServer, tmp_path):
    demo = Osc(fresh_server.openrc("demo"))
    text = """
heat_template_version: 2018-08-31
resources:
  net:
    type: OS::Neutron::Net
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.91.0.0/24}
  vol:
    type: OS::Cinder::Volume
    properties: {size: 1}
"""
    name = unique("intent")
    demo.run("stack", "create", "-t", write(tmp_path, "i.yaml", text), "--wait", "--poll", "1",
             name)
    stack_id = demo.json("stack", "show", name)["id"]
    before = {k: r["physical_resource_id"] for k, r in resources(demo, name).items()}
    nets_before = {n["ID"] for n in demo.json("network", "list")}
    names = {"subnet": demo.json("subnet", "show", before["subnet"])["name"],
             "vol": demo.json("volume", "show", before["vol"])["name"]}
    fresh_server.kill9()
    for res, intent in names.items():
        _interrupt_create(fresh_server.state_dir, stack_id, res, intent)
    fresh_server.start()
    demo = Osc(fresh_server.openrc("demo"))
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    after = {k: r["physical_resource_id"] for k, r in resources(demo, name).items()}
    # What the interrupted calls made is adopted, not made a second time.
    assert after == before, (before, after)
    assert len([x for x in demo.json("subnet", "list") if x["Name"].startswith(f"{name}-")]) == 1
    assert len([v for v in demo.json("volume", "list") if v["Name"].startswith(f"{name}-")]) == 1
    events = demo.json("stack", "event", "list", name)
    assert any("Adopted" in (e.get("resource_status_reason") or "") for e in events), events
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert {n["ID"] for n in demo.json("network", "list")} <= nets_before
    assert not [x for x in demo.json("subnet", "list") if x["Name"].startswith(f"{name}-")]
    deadline = time.monotonic() + 60
    while [v for v in demo.json("volume", "list") if v["Name"].startswith(f"{name}-")]:
        assert time.monotonic() < deadline, "volume left behind"
        time.sleep(0.5)


GROUP = """
heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 3}
resources:
  nets:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_param: count}
      resource_def:
        type: OS::Neutron::Net
        properties:
          name: {list_join: ['-', [{get_param: 'OS::stack_name'}, 'net', '%index%']]}
outputs:
  ids:
    value: {get_attr: [nets, refs]}
  names:
    value: {get_attr: [nets, name]}
  second:
    value: {get_attr: [nets, resource.1.name]}
  by_index:
    value: {get_attr: [nets, attributes, name]}
"""


def test_resource_group_creates_scales_and_deletes(demo, tmp_path):
    name = unique("grp")
    tpl = write(tmp_path, "group.yaml", GROUP)
    demo.run("stack", "create", "-t", tpl, "--wait", "--poll", "1", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    outs = {o["output_key"]: o["output_value"] for o in s["outputs"]}
    assert outs["names"] == [f"{name}-net-{i}" for i in range(3)], outs
    assert outs["second"] == f"{name}-net-1"
    assert outs["by_index"] == {str(i): f"{name}-net-{i}" for i in range(3)}, outs
    for i, net_id in enumerate(outs["ids"]):
        assert demo.json("network", "show", net_id)["name"] == f"{name}-net-{i}"
    group = resources(demo, name)["nets"]
    assert group["resource_type"] == "OS::Heat::ResourceGroup"
    # The group is a nested stack, listed only when asked for.
    assert group["physical_resource_id"] not in {x["ID"] for x in demo.json("stack", "list")}
    nested = {x["ID"]: x for x in demo.json("stack", "list", "--nested")}
    assert group["physical_resource_id"] in nested
    # Scale up, then down: members are added and removed from the end.
    demo.run("stack", "update", "--existing", "--parameter", "count=4", "--wait", name)
    outs = {o["output_key"]: o["output_value"] for o in demo.json("stack", "show", name)["outputs"]}
    assert len(outs["ids"]) == 4 and outs["names"][3] == f"{name}-net-3", outs
    four = outs["ids"]
    demo.run("stack", "update", "--existing", "--parameter", "count=1", "--wait", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "UPDATE_COMPLETE", s
    outs = {o["output_key"]: o["output_value"] for o in s["outputs"]}
    assert outs["ids"] == four[:1], outs
    for gone_id in four[1:]:
        assert gone(demo, "network", "show", gone_id)
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert gone(demo, "network", "show", four[0])
    assert group["physical_resource_id"] not in {
        x["ID"] for x in demo.json("stack", "list", "--nested")}


NET_TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  cidr: {type: string}
resources:
  net:
    type: OS::Neutron::Net
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: {get_param: cidr}}
outputs:
  net_id: {value: {get_resource: net}}
  cidr: {value: {get_attr: [subnet, cidr]}}
"""


def test_template_resources_from_files_and_the_registry(demo, tmp_path):
    write(tmp_path, "net.yaml", NET_TEMPLATE)
    write(tmp_path, "env.yaml", "resource_registry:\n  Lab::Net: net.yaml\n")
    main = """
heat_template_version: 2018-08-31
resources:
  direct:
    type: net.yaml
    properties: {cidr: 10.93.0.0/24}
  mapped:
    type: Lab::Net
    properties: {cidr: 10.93.1.0/24}
  script:
    type: OS::Heat::Value
    properties:
      value: {get_file: script.sh}
outputs:
  direct_cidr: {value: {get_attr: [direct, cidr]}}
  mapped_net: {value: {get_attr: [mapped, net_id]}}
  script: {value: {get_attr: [script, value]}}
"""
    write(tmp_path, "script.sh", "#!/bin/sh\necho hi\n")
    tpl = write(tmp_path, "main.yaml", main)
    name = unique("tres")
    demo.run("stack", "create", "-t", tpl, "-e", str(tmp_path / "env.yaml"), "--wait",
             "--poll", "1", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    outs = {o["output_key"]: o["output_value"] for o in s["outputs"]}
    assert outs["direct_cidr"] == "10.93.0.0/24"
    assert outs["script"] == "#!/bin/sh\necho hi\n"
    mapped_net = outs["mapped_net"]
    subnets = demo.json("subnet", "list", "--network", mapped_net)
    assert [x["Subnet"] for x in subnets] == ["10.93.1.0/24"], subnets
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert gone(demo, "network", "show", mapped_net)
    # A template resource with a property its template does not take is refused.
    bad = write(tmp_path, "bad.yaml", "heat_template_version: 2018-08-31\nresources:\n"
                "  r: {type: net.yaml, properties: {cidr: 10.0.0.0/24, nope: 1}}\n")
    demo.fail("stack", "create", "-t", bad, unique("bad"), expect="Unknown Property nope")


CONDITIONS = """
heat_template_version: 2018-08-31
parameters:
  env: {type: string, default: test}
  ports: {type: comma_delimited_list, default: "22,80"}
conditions:
  prod: {equals: [{get_param: env}, prod]}
resources:
  prod_net:
    type: OS::Neutron::Net
    condition: prod
  sg:
    type: OS::Neutron::SecurityGroup
    properties:
      name: {if: [prod, {get_param: 'OS::stack_name'}, {str_replace_strict: {template: "$s-test", params: {$s: {get_param: 'OS::stack_name'}}}}]}
      rules:
        repeat:
          for_each: {<%port%>: {get_param: ports}}
          template: {protocol: tcp, port_range_min: <%port%>, port_range_max: <%port%>}
  info:
    type: OS::Heat::Value
    properties:
      value:
        map_merge:
          - {split: {str_split: [',', 'a,b,c']}}
          - {filtered: {filter: [[b], [a, b, c]]}}
          - {joined: {list_concat_unique: [[a, b], [b, c]]}}
          - {url: {make_url: {scheme: http, host: 10.0.0.1, port: 80, path: /x}}}
          - {hash: {digest: [sha256, abc]}}
outputs:
  sg_name: {value: {get_attr: [sg, show, name]}}
  info: {value: {get_attr: [info, value]}}
  prod_net:
    condition: prod
    value: {get_resource: prod_net}
"""


def test_conditions_and_functions_in_a_real_stack(demo, tmp_path):
    name = unique("cond")
    demo.run("stack", "create", "-t", write(tmp_path, "c.yaml", CONDITIONS), "--wait",
             "--poll", "1", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    outs = {o["output_key"]: o["output_value"] for o in s["outputs"]}
    assert "prod_net" not in outs and outs["sg_name"] == f"{name}-test", outs
    assert outs["info"] == {
        "split": ["a", "b", "c"], "filtered": ["a", "c"], "joined": ["a", "b", "c"],
        "url": "http://10.0.0.1:80/x",
        "hash": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, outs
    assert set(resources(demo, name)) == {"sg", "info"}
    sg_id = resources(demo, name)["sg"]["physical_resource_id"]
    rules = demo.json("security", "group", "rule", "list", sg_id)
    assert {r["Port Range"] for r in rules if r["IP Protocol"] == "tcp"} == {"22:22", "80:80"}
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert gone(demo, "security", "group", "show", sg_id)


# --------------------------------------------------------------------------- servers

def _test_image() -> Path | None:
    for cand in (os.environ.get("ONESTACK_TEST_IMAGE"), "/work/test-image/test-image.qcow2",
                 str(REPO_ROOT / "target" / "test-image" / "test-image.qcow2")):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


@pytest.fixture(scope="module")
def nova(tmp_path_factory):
    image = _test_image()
    if image is None:
        pytest.skip("SKIP: no test guest image (run scripts/build-test-image.sh and set "
                    "ONESTACK_TEST_IMAGE)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("SKIP: qemu-system-x86_64 is not installed (run scripts/ensure-qemu.sh)")
    base = tmp_path_factory.mktemp("heat-nova")
    text = (REPO_ROOT / "profiles" / "default.toml").read_text()
    text = text.replace('dataplane = "host"', 'dataplane = "off"')
    text = text.replace('hypervisor = "auto"', 'hypervisor = "qemu"')
    text = re.sub(r'(?m)^bootstrap_image = ".*"$', f'bootstrap_image = "{image}"', text)
    profile = base / "profile.toml"
    profile.write_text(text)
    srv = OnestackServer(base / "state", base / "onestack.log", profile=str(profile))
    srv.start()
    yield srv
    srv.stop()
    inst = srv.state_dir / "instances"
    for d in inst.iterdir() if inst.is_dir() else []:
        for pidfile in ("qemu.pid", "vmm.pid"):
            try:
                pid = int((d / pidfile).read_text().strip())
                if d.name in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, 9)
            except (OSError, ValueError):
                continue


SERVER = """
heat_template_version: 2018-08-31
description: One server on a network given as a parameter (the Install Guide's demo)
parameters:
  NetID:
    type: string
    description: Network ID to use for the instance.
  flavor:
    type: string
    default: m1.tiny
    constraints:
      - allowed_values: [m1.nano, m1.tiny, m1.small]
resources:
  server:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: {get_param: flavor}
      networks:
        - network: {get_param: NetID}
      user_data: |
        #!/bin/sh
        echo hello from heat
outputs:
  instance_name:
    description: Name of the instance.
    value: {get_attr: [server, name]}
  instance_ip:
    description: IP address of the instance.
    value: {get_attr: [server, first_address]}
"""


def test_install_guide_demo_server_stack(nova, tmp_path):
    demo = Osc(nova.openrc("demo"))
    image = demo.json("image", "list")[0]["Name"]
    text = SERVER.replace(
        "resources:\n", f"  image:\n    type: string\n    default: {image}\nresources:\n", 1)
    tpl = write(tmp_path, "demo-template.yml", text)
    net_id = demo.json("network", "show", "private")["id"]
    name = unique("stack")
    t0 = time.monotonic()
    demo.run("stack", "create", "-t", tpl, "--parameter", f"NetID={net_id}", "--wait",
             "--poll", "1", name)
    created = time.monotonic() - t0
    outs = {o["output_key"]: o["output_value"]
            for o in demo.json("stack", "show", name)["outputs"]}
    server_id = resources(demo, name)["server"]["physical_resource_id"]
    server = demo.json("server", "show", server_id)
    assert server["status"] == "ACTIVE" and outs["instance_name"] == server["name"]
    assert outs["instance_ip"] in json.dumps(server["addresses"])
    t0 = time.monotonic()
    demo.run("stack", "delete", "--yes", "--wait", name)
    deleted = time.monotonic() - t0
    assert gone(demo, "server", "show", server_id)
    print(f"\ndemo server stack: create --wait {created:.1f}s, delete --wait {deleted:.1f}s")


UPDATE_V1 = """
heat_template_version: 2018-08-31
parameters:
  net_name: {type: string, default: first}
resources:
  net:
    type: OS::Neutron::Net
    properties: {name: {get_param: net_name}}
  token:
    type: OS::Heat::RandomString
"""

UPDATE_V2 = """
heat_template_version: 2018-08-31
parameters:
  net_name: {type: string, default: first}
  cidr: {type: string, default: 10.78.0.0/24}
resources:
  net:
    type: OS::Neutron::Net
    properties: {name: {get_param: net_name}}
  subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: {get_param: cidr}
outputs:
  cidr:
    value: {get_attr: [subnet, cidr]}
"""


def test_stack_update_in_place_add_remove_and_replace(demo, tmp_path):
    name = unique("upd")
    demo.run("stack", "create", "-t", write(tmp_path, "v1.yaml", UPDATE_V1), "--wait",
             "--poll", "1", name)
    before = resources(demo, name)
    net_id = before["net"]["physical_resource_id"]
    # New template: the network is renamed in place, a subnet is added, the
    # random string leaves the template.
    demo.run("stack", "update", "-t", write(tmp_path, "v2.yaml", UPDATE_V2), "--parameter",
             f"net_name={name}-renamed", "--wait", name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "UPDATE_COMPLETE", s
    after = resources(demo, name)
    assert set(after) == {"net", "subnet"}, after
    assert after["net"]["physical_resource_id"] == net_id
    assert demo.json("network", "show", net_id)["name"] == f"{name}-renamed"
    old_subnet = after["subnet"]["physical_resource_id"]
    assert demo.json("subnet", "show", old_subnet)["cidr"] == "10.78.0.0/24"
    # --existing keeps the template and the other parameters; a new CIDR
    # replaces the subnet.
    demo.run("stack", "update", "--existing", "--parameter", "cidr=10.78.1.0/24", "--wait",
             name)
    s = demo.json("stack", "show", name)
    assert s["stack_status"] == "UPDATE_COMPLETE", s
    assert {o["output_key"]: o["output_value"] for o in s["outputs"]} == {"cidr": "10.78.1.0/24"}
    final = resources(demo, name)
    assert final["subnet"]["physical_resource_id"] != old_subnet
    assert gone(demo, "subnet", "show", old_subnet)
    assert demo.json("network", "show", net_id)["name"] == f"{name}-renamed"
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert gone(demo, "network", "show", net_id)


# --------------------------------------------------------------------------- signals

WAIT = """
heat_template_version: 2018-08-31
parameters:
  timeout: {type: number, default: 120}
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 2
      timeout: {get_param: timeout}
  after:
    type: OS::Heat::Value
    depends_on: wait
    properties: {value: done}
outputs:
  curl: {value: {get_attr: [handle, curl_cli]}}
  data: {value: {get_attr: [wait, data]}}
"""


def _wait_resource(osc: Osc, stack: str, resource: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = resources(osc, stack).get(resource)
        if r and r["resource_status"] == "CREATE_COMPLETE":
            return r
        assert time.monotonic() < deadline, f"{resource} of {stack}: {r}"
        time.sleep(0.5)


def test_wait_condition_signalled_with_curl_cli_and_the_cli(demo, tmp_path):
    """The handle's curl_cli (what a guest's user_data runs, token and URL
    included) and `openstack stack resource signal` each count one signal; the
    condition completes at two and the resources after it are created."""
    name = unique("wait")
    demo.run("stack", "create", "-t", write(tmp_path, "wait.yaml", WAIT), name)
    handle = _wait_resource(demo, name, "handle")
    attrs = demo.json("stack", "resource", "show", name, "handle")["attributes"]
    curl = attrs["curl_cli"]
    assert curl.startswith("curl -i -X POST -H 'X-Auth-Token: ") and attrs["endpoint"] in curl
    assert attrs["endpoint"].endswith(f"/resources/handle/signal"), attrs
    assert handle["physical_resource_id"]
    assert demo.json("stack", "show", name)["stack_status"] == "CREATE_IN_PROGRESS"
    body = json.dumps({"status": "SUCCESS", "id": "guest", "data": "from curl"})
    out = subprocess.run(f"{curl} --data-binary '{body}'", shell=True, capture_output=True,
                         text=True, timeout=30)
    assert " 200 " in out.stdout.splitlines()[0], out.stdout + out.stderr
    demo.run("stack", "resource", "signal", name, "handle", "--data",
             json.dumps({"id": "cli", "data": "from the cli"}))
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_COMPLETE", s
    outs = {o["output_key"]: o["output_value"] for o in s["outputs"]}
    assert json.loads(outs["data"]) == {"guest": "from curl", "cli": "from the cli"}, outs
    assert resources(demo, name)["after"]["resource_status"] == "CREATE_COMPLETE"
    # A resource that takes no signal: Heat's 400.
    bad = demo._run(("stack", "resource", "signal", name, "after"))
    assert bad.returncode != 0 and "not supported" in bad.stderr, bad.stderr
    demo.run("stack", "delete", "--yes", "--wait", name)


def test_wait_condition_timeout_and_failure_signal_fail_the_stack(demo, tmp_path):
    tpl = write(tmp_path, "wait.yaml", WAIT)
    name = unique("waitto")
    demo.run("stack", "create", "-t", tpl, "--parameter", "timeout=2",
             name)
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_FAILED", s
    assert "WaitConditionTimeout: resources.wait: 0 of 2 received" in s["stack_status_reason"]
    demo.run("stack", "delete", "--yes", "--wait", name)
    name = unique("waitno")
    demo.run("stack", "create", "-t", tpl, name)
    _wait_resource(demo, name, "handle")
    demo.run("stack", "resource", "signal", name, "handle", "--data",
             json.dumps({"status": "FAILURE", "reason": "the guest could not start"}))
    s = wait_stack(demo, name)
    assert s["stack_status"] == "CREATE_FAILED", s
    assert "WaitConditionFailure: resources.wait: the guest could not start" in \
        s["stack_status_reason"], s
    demo.run("stack", "delete", "--yes", "--wait", name)


def test_mark_unhealthy_then_update_replaces_the_resource(demo, tmp_path):
    name = unique("unhealthy")
    demo.run("stack", "create", "-t", write(tmp_path, "v1.yaml", UPDATE_V1), "--wait",
             "--poll", "1", name)
    before = resources(demo, name)
    demo.run("stack", "resource", "mark", "unhealthy", name, "net", "the network was broken")
    net = resources(demo, name)["net"]
    assert net["resource_status"] == "CHECK_FAILED", net
    shown = demo.json("stack", "resource", "show", name, "net")
    assert shown["resource_status_reason"] == "the network was broken", shown
    events = demo.json("stack", "event", "list", name, "--resource", "net")
    assert any(e["resource_status"] == "CHECK_FAILED" for e in events), events
    demo.run("stack", "update", "--existing", "--wait", name)
    after = resources(demo, name)
    assert after["net"]["resource_status"] == "UPDATE_COMPLETE", after["net"]
    old = before["net"]["physical_resource_id"]
    assert after["net"]["physical_resource_id"] != old
    assert gone(demo, "network", "show", old)
    # The untouched random string stays as it was.
    assert after["token"]["physical_resource_id"] == before["token"]["physical_resource_id"]
    demo.run("stack", "delete", "--yes", "--wait", name)


SOFTWARE_CONFIG = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: |
        #!/bin/sh
        echo configured
      inputs: [{name: who, default: world}]
outputs:
  body: {value: {get_attr: [config, config]}}
  id: {value: {get_resource: config}}
"""


def test_software_configs_and_deployments(demo, tmp_path):
    """The software config API through `openstack software config|deployment`, and
    OS::Heat::SoftwareConfig making one that the stack's delete removes."""
    script = write(tmp_path, "hello.sh", "#!/bin/sh\necho hello\n")
    cfg_name = unique("cfg")
    cfg = demo.json("software", "config", "create", "--config-file", script, "--group",
                    "script", cfg_name)
    assert cfg["group"] == "script" and cfg["config"] == "#!/bin/sh\necho hello\n", cfg
    assert cfg_name in [c["name"] for c in demo.json("software", "config", "list")]
    dep = demo.json("software", "deployment", "create", "--config", cfg["id"], "--server",
                    "dummy-server", "--signal-transport", "NO_SIGNAL", "--input-value",
                    "who=heat", unique("dep"))
    assert dep["server_id"] == "dummy-server" and dep["status"] == "IN_PROGRESS", dep
    meta = json.loads(demo.run("software", "deployment", "metadata", "show", "dummy-server"))
    mine = [m for m in meta if m["id"] == dep["config_id"]]
    assert mine and mine[0]["group"] == "script", meta
    shown = demo.json("software", "deployment", "show", dep["id"])
    assert shown["config_id"] == dep["config_id"], shown
    demo.run("software", "deployment", "delete", dep["id"])
    assert gone(demo, "software", "deployment", "show", dep["id"])
    demo.run("software", "config", "delete", cfg["id"])
    assert gone(demo, "software", "config", "show", cfg["id"])
    name = unique("swcfg")
    demo.run("stack", "create", "-t", write(tmp_path, "sc.yaml", SOFTWARE_CONFIG), "--wait",
             name)
    outs = {o["output_key"]: o["output_value"]
            for o in demo.json("stack", "show", name)["outputs"]}
    assert outs["body"] == "#!/bin/sh\necho configured\n", outs
    made = demo.json("software", "config", "show", outs["id"])
    assert made["inputs"][0]["name"] == "who", made
    demo.run("stack", "delete", "--yes", "--wait", name)
    assert gone(demo, "software", "config", "show", outs["id"])


# --------------------------------------------------------------------------- volume attachment

ATTACH = """
heat_template_version: 2018-08-31
parameters:
  image: {type: string}
  net: {type: string}
resources:
  server:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: m1.tiny
      networks: [{network: {get_param: net}}]
  vol:
    type: OS::Cinder::Volume
    properties: {size: 1}
  attach:
    type: OS::Cinder::VolumeAttachment
    properties:
      instance_uuid: {get_resource: server}
      volume_id: {get_resource: vol}
outputs:
  device: {value: {get_attr: [vol, attachments_list]}}
"""


def test_volume_attachment_to_a_running_server(nova, tmp_path):
    """OS::Cinder::VolumeAttachment on a real running guest: the volume is in-use
    on the server (checked through Cinder and Nova), and the stack's delete
    detaches it and removes server and volume."""
    demo = Osc(nova.openrc("demo"))
    image = demo.json("image", "list")[0]["Name"]
    net_id = demo.json("network", "show", "private")["id"]
    name = unique("attach")
    t0 = time.monotonic()
    demo.run("stack", "create", "-t", write(tmp_path, "attach.yaml", ATTACH), "--parameter",
             f"image={image}", "--parameter", f"net={net_id}", "--wait", "--poll", "1", name)
    created = time.monotonic() - t0
    res = resources(demo, name)
    server_id = res["server"]["physical_resource_id"]
    vol_id = res["vol"]["physical_resource_id"]
    vol = demo.json("volume", "show", vol_id)
    assert vol["status"] == "in-use", vol
    assert [a["server_id"] for a in vol["attachments"]] == [server_id], vol
    attached = demo.json("server", "show", server_id)
    assert demo.json("server", "show", server_id)["status"] == "ACTIVE", attached
    assert vol_id in json.dumps(attached.get("volumes_attached")), attached
    t0 = time.monotonic()
    demo.run("stack", "delete", "--yes", "--wait", name)
    deleted = time.monotonic() - t0
    assert gone(demo, "server", "show", server_id)
    assert gone(demo, "volume", "show", vol_id)
    print(f"\nattachment stack: create --wait {created:.1f}s, delete --wait {deleted:.1f}s")
