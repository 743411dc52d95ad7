"""Keystone v3 through the real python-openstackclient (`openstack` CLI)."""

import pytest

from conftest import Osc, unique


def names(rows, key="Name"):
    return {r[key] for r in rows}


@pytest.fixture
def project(admin):
    name = unique("proj")
    p = admin.json("project", "create", "--domain", "default", "--description", "acc", name)
    yield p
    admin._run(["project", "delete", p["id"]])


@pytest.fixture
def member(cloud, admin, project):
    """A new user with the member role on a new project; yields (user, password, project)."""
    name, password = unique("user"), "pw-" + unique("x")
    u = admin.json("user", "create", "--domain", "default", "--password", password,
                   "--project", project["id"], name)
    admin.run("role", "add", "--user", u["id"], "--project", project["id"], "member")
    yield u, password, project
    admin._run(["user", "delete", u["id"]])


# --------------------------------------------------------------------------- tokens/catalog

def test_token_issue(admin, admin_env):
    tok = admin.json("token", "issue")
    assert tok["id"] and len(tok["id"]) > 20
    assert tok["project_id"] and tok["user_id"]
    assert tok["expires"]
    proj = admin.json("project", "show", admin_env["OS_PROJECT_NAME"])
    assert tok["project_id"] == proj["id"]


def test_catalog_list_has_identity(admin, cloud):
    rows = admin.json("catalog", "list")
    types = {r["Type"] for r in rows}
    assert "identity" in types, rows
    identity = [r for r in rows if r["Type"] == "identity"][0]
    assert f"127.0.0.1:{cloud.port}/identity" in str(identity["Endpoints"]), identity


def test_endpoint_list(admin, cloud):
    rows = admin.json("endpoint", "list")
    ident = [r for r in rows if r["Service Type"] == "identity"]
    assert {r["Interface"] for r in ident} >= {"public", "internal", "admin"}, rows
    assert all(r["Region"] == "RegionOne" for r in ident), ident
    public = [r for r in ident if r["Interface"] == "public"][0]
    assert f"127.0.0.1:{cloud.port}/identity" in public["URL"], public
    assert all(r["Enabled"] for r in ident), ident


def test_region_and_service_list(admin):
    assert "RegionOne" in names(admin.json("region", "list"), "Region")
    services = admin.json("service", "list")
    assert "identity" in {s["Type"] for s in services}, services
    assert "keystone" in names(services), services


# --------------------------------------------------------------------------- projects

def test_project_lifecycle(admin):
    name = unique("proj")
    created = admin.json("project", "create", "--description", "first", name)
    assert created["name"] == name
    assert created["description"] == "first"
    assert created["domain_id"] == "default"
    assert created["enabled"] is True

    assert name in names(admin.json("project", "list"))

    shown = admin.json("project", "show", name)
    assert shown["id"] == created["id"]

    admin.run("project", "set", "--description", "second", name)
    assert admin.json("project", "show", created["id"])["description"] == "second"

    admin.run("project", "delete", name)
    assert name not in names(admin.json("project", "list"))
    admin.fail("project", "show", created["id"])


def test_duplicate_project_conflicts(admin, project):
    admin.fail("project", "create", "--domain", "default", project["name"], expect="409")


def test_demo_cannot_create_project(demo):
    demo.fail("project", "create", unique("nope"), expect="403")


# --------------------------------------------------------------------------- users

def test_user_lifecycle(admin, project):
    name = unique("user")
    u = admin.json("user", "create", "--password", "s3cret-pw", "--project", project["id"], name)
    assert u["name"] == name
    assert u["domain_id"] == "default"
    assert u["default_project_id"] == project["id"]
    assert "password" not in u

    assert name in names(admin.json("user", "list"))

    admin.run("user", "set", "--email", "x@example.org", name)
    shown = admin.json("user", "show", u["id"])
    assert shown["email"] == "x@example.org", shown

    admin.run("user", "delete", name)
    assert name not in names(admin.json("user", "list"))
    admin.fail("user", "show", u["id"])


def test_wrong_password_fails(cloud, admin_env):
    bad = Osc(admin_env).with_env(OS_PASSWORD="definitely-wrong")
    bad.fail("token", "issue", expect="401")
    ghost = Osc(admin_env).with_env(OS_USERNAME=unique("ghost"))
    ghost.fail("token", "issue", expect="401")


def test_user_password_set(cloud, member):
    u, old, project = member
    as_user = Osc(cloud.password_env(u["name"], old, project["name"]))
    as_user.json("token", "issue")

    new = "new-" + unique("pw")
    as_user.run("user", "password", "set", "--password", new, "--original-password", old)

    tok = Osc(cloud.password_env(u["name"], new, project["name"])).json("token", "issue")
    assert tok["user_id"] == u["id"]
    Osc(cloud.password_env(u["name"], old, project["name"])).fail(
        "token", "issue", expect="401")


# --------------------------------------------------------------------------- roles

def test_role_add_and_assignment_list(admin, project):
    name = unique("user")
    admin.json("user", "create", "--password", "pw12345678", name)
    admin.run("role", "add", "--user", name, "--project", project["name"], "member")
    rows = admin.json("role", "assignment", "list", "--names", "--user", name)
    assert any(r["Role"] == "member" and r["Project"] == f"{project['name']}@Default"
               and r["User"] == f"{name}@Default" for r in rows), rows
    admin.run("user", "delete", name)


def test_role_create_and_list(admin):
    name = unique("role")
    r = admin.json("role", "create", name)
    assert r["name"] == name
    listed = names(admin.json("role", "list"))
    assert name in listed
    assert {"admin", "member", "reader"} <= listed
    admin.run("role", "delete", name)


# --------------------------------------------------------------------------- app credentials

def test_application_credential_auth(cloud, member):
    u, password, project = member
    as_user = Osc(cloud.password_env(u["name"], password, project["name"]))
    out = as_user.json("application", "credential", "create", unique("ac"))
    ac = {k.lower().replace(" ", "_"): v for k, v in out.items()}  # "Project ID" -> project_id
    assert ac["id"] and ac["secret"], out
    assert ac["project_id"] == project["id"], out
    assert "member" in {r["name"] for r in ac["roles"]}, out

    ac_env = {
        "OS_AUTH_TYPE": "v3applicationcredential",
        "OS_AUTH_URL": cloud.auth_url,
        "OS_APPLICATION_CREDENTIAL_ID": ac["id"],
        "OS_APPLICATION_CREDENTIAL_SECRET": ac["secret"],
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "public",
    }
    tok = Osc(ac_env).json("token", "issue")
    assert tok["user_id"] == u["id"], tok
    assert tok["project_id"] == project["id"], tok

    listed = as_user.json("application", "credential", "list")
    assert ac["id"] in {r["ID"] for r in listed}, listed

    bad = dict(ac_env, OS_APPLICATION_CREDENTIAL_SECRET="wrong-secret")
    Osc(bad).fail("token", "issue", expect="401")


# --------------------------------------------------------------------------- revocation

def test_token_revoke(cloud, admin, admin_token):
    victim = admin.json("token", "issue")["id"]
    r = cloud.validate_token(admin_token, victim)
    assert r.status_code == 200, f"validate before revoke: {r.status_code} {r.text[:300]}"

    admin.run("token", "revoke", victim)

    r = cloud.validate_token(admin_token, victim)
    assert r.status_code == 404, (
        f"GET /identity/v3/auth/tokens (X-Subject-Token=revoked): expected 404, "
        f"got {r.status_code}: {r.text[:300]}")
    assert "error" in r.json(), r.text
    r = cloud.validate_token(victim, victim)
    assert r.status_code == 401, (
        f"revoked token as X-Auth-Token: expected 401, got {r.status_code}: {r.text[:300]}")


# --------------------------------------------------------------------------- domains, groups

def test_domain_create_list(admin):
    name = unique("dom")
    d = admin.json("domain", "create", "--description", "acc", name)
    assert d["name"] == name and d["enabled"] is True
    listed = names(admin.json("domain", "list"))
    assert name in listed and "Default" in listed
    admin.run("domain", "set", "--disable", name)
    admin.run("domain", "delete", name)


def test_group_membership(admin):
    group, user = unique("grp"), unique("user")
    g = admin.json("group", "create", "--domain", "default", group)
    assert g["name"] == group
    admin.json("user", "create", "--password", "pw12345678", user)
    admin.run("group", "add", "user", group, user)
    members = names(admin.json("user", "list", "--group", group))
    assert members == {user}, members
    out = admin.run("group", "contains", "user", group, user)
    assert "in group" in out and " not in group" not in out, out
    admin.run("group", "remove", "user", group, user)
    assert admin.json("user", "list", "--group", group) == []
    admin.run("user", "delete", user)
    admin.run("group", "delete", group)
