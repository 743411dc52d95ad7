"""OAuth 1.0a delegation (OS-OAUTH1) through the real `openstack` CLI: an admin
registers a consumer, the consumer gets a request token signed with its secret, a
user authorizes it with one of its roles, the consumer exchanges it for an access
token and then gets Keystone tokens with the `v3oauth1` auth plugin, acting as the
user with only the delegated role, until the access token is deleted."""

import pytest
import requests

from conftest import Osc, unique


@pytest.fixture
def delegator(admin):
    """A user with member and reader on a new project: (user, password, project)."""
    project = admin.json("project", "create", "--domain", "default", unique("oauth-proj"))
    name, password = unique("oauth-user"), "pw-" + unique("x")
    user = admin.json("user", "create", "--domain", "default", "--password", password,
                      "--project", project["id"], name)
    for role in ("member", "reader"):
        admin.run("role", "add", "--user", user["id"], "--project", project["id"], role)
    yield user, password, project
    admin._run(["user", "delete", user["id"]])
    admin._run(["project", "delete", project["id"]])


def test_consumer_crud(admin):
    c = admin.json("consumer", "create", "--description", "first")
    assert c["secret"] and c["id"], c
    shown = admin.json("consumer", "show", c["id"])
    assert shown["description"] == "first" and "secret" not in shown, shown
    admin.run("consumer", "set", "--description", "second", c["id"])
    assert admin.json("consumer", "show", c["id"])["description"] == "second"
    assert c["id"] in {r["ID"] for r in admin.json("consumer", "list")}
    admin.run("consumer", "delete", c["id"])
    p = admin._run(["consumer", "show", c["id"]])
    assert p.returncode != 0 and "No consumer" in p.stderr, p.stderr


def test_member_cannot_manage_consumers(admin_env, delegator):
    user, password, project = delegator
    as_user = Osc(dict(admin_env, OS_USERNAME=user["name"], OS_PASSWORD=password,
                       OS_PROJECT_NAME=project["name"]))
    p = as_user._run(["consumer", "create", "--description", "no"])
    assert p.returncode != 0 and "403" in p.stderr + p.stdout, p.stderr


def test_delegation_flow_with_the_cli(admin, admin_env, delegator):
    user, password, project = delegator
    consumer = admin.json("consumer", "create", "--description", "acceptance")
    key, secret = consumer["id"], consumer["secret"]
    req = admin.json("request", "token", "create", "--consumer-key", key,
                     "--consumer-secret", secret, "--project", project["id"])
    # A wrong consumer secret is refused.
    p = admin._run(["request", "token", "create", "--consumer-key", key,
                    "--consumer-secret", "wrong", "--project", project["id"]])
    assert p.returncode != 0 and "401" in p.stderr + p.stdout, p.stderr

    as_user = Osc(dict(admin_env, OS_USERNAME=user["name"], OS_PASSWORD=password,
                       OS_PROJECT_NAME=project["name"]))
    # The user authorizes through the API: the CLI's `request token authorize`
    # looks the role up first, which Keystone's policy allows administrators only.
    user_token = as_user.json("token", "issue")["id"]
    authorize = f"{admin_env['OS_AUTH_URL'].rstrip('/')}/v3/OS-OAUTH1/authorize/{req['key']}"

    def put_roles(roles):
        return requests.put(authorize, json={"roles": roles},
                            headers={"X-Auth-Token": user_token}, timeout=30)

    # A role the user does not hold cannot be delegated.
    r = put_roles([{"name": "admin"}])
    assert r.status_code == 401, r.text
    r = put_roles([{"name": "reader"}])
    assert r.status_code == 200, r.text
    verifier = r.json()["token"]["oauth_verifier"]
    assert len(verifier) == 8, verifier
    access = admin.json("access", "token", "create", "--consumer-key", key,
                        "--consumer-secret", secret, "--request-key", req["key"],
                        "--request-secret", req["secret"], "--verifier", verifier)
    # The request token is spent.
    p = admin._run(["access", "token", "create", "--consumer-key", key,
                    "--consumer-secret", secret, "--request-key", req["key"],
                    "--request-secret", req["secret"], "--verifier", verifier])
    assert p.returncode != 0, p.stdout

    # keystoneauth's OAuth1 plugin signs `<auth_url>/auth/tokens`, so its auth URL
    # names the version (with Keystone too).
    consumer_env = {
        "OS_AUTH_URL": admin_env["OS_AUTH_URL"].rstrip("/") + "/v3", "OS_AUTH_TYPE": "v3oauth1",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_CONSUMER_KEY": key, "OS_CONSUMER_SECRET": secret,
        "OS_ACCESS_KEY": access["key"], "OS_ACCESS_SECRET": access["secret"],
    }
    tok = Osc(consumer_env).json("token", "issue")
    assert tok["user_id"] == user["id"] and tok["project_id"] == project["id"], tok
    # The consumer acts as the user, with the delegated role only.
    validated = admin.json("token", "issue")  # admin may validate any token
    assert validated["id"]
    r = requests.get(f"{admin_env['OS_AUTH_URL'].rstrip('/')}/v3/auth/tokens",
                     headers={"X-Auth-Token": validated["id"], "X-Subject-Token": tok["id"]},
                     timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()["token"]
    assert body["methods"] == ["oauth1"], body
    assert {x["name"] for x in body["roles"]} == {"reader"}, body["roles"]
    assert body["OS-OAUTH1"] == {"access_token_id": access["key"],
                                 "consumer_id": key}, body
    # The user sees and revokes the access token; the consumer's token dies with it.
    # (The CLI has no access token commands beyond create: the API is used.)
    r = requests.get(
        f"{admin_env['OS_AUTH_URL'].rstrip('/')}/v3/users/{user['id']}/OS-OAUTH1/access_tokens",
        headers={"X-Auth-Token": validated["id"]}, timeout=30)
    assert r.status_code == 200 and [a["id"] for a in r.json()["access_tokens"]] == \
        [access["key"]], r.text
    r = requests.delete(
        f"{admin_env['OS_AUTH_URL'].rstrip('/')}/v3/users/{user['id']}/OS-OAUTH1/access_tokens/"
        f"{access['key']}", headers={"X-Auth-Token": validated["id"]}, timeout=30)
    assert r.status_code == 204, r.text
    r = requests.get(f"{admin_env['OS_AUTH_URL'].rstrip('/')}/v3/auth/tokens",
                     headers={"X-Auth-Token": validated["id"], "X-Subject-Token": tok["id"]},
                     timeout=30)
    assert r.status_code == 404, r.text
    p = Osc(consumer_env)._run(["token", "issue"])
    assert p.returncode != 0, p.stdout
