"""Keystone v3 through openstacksdk (`openstack.connect()`), plus restart safety."""

import openstack
import pytest
import requests

from conftest import unique


def connect(server, username, password, project):
    return openstack.connect(
        auth_url=server.auth_url,
        project_name=project,
        username=username,
        password=password,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        load_yaml_config=False,
        load_envvars=False,
    )


@pytest.fixture(scope="module")
def conn(cloud, admin_env):
    c = connect(cloud, admin_env["OS_USERNAME"], admin_env["OS_PASSWORD"],
                admin_env["OS_PROJECT_NAME"])
    yield c
    c.close()


def test_authorize(conn):
    token = conn.authorize()
    assert isinstance(token, str) and len(token) > 20
    assert conn.current_project_id
    assert conn.current_user_id


def test_project_crud(conn):
    name = unique("sdkproj")
    p = conn.identity.create_project(name=name, domain_id="default", description="one")
    assert p.id and p.name == name and p.description == "one"
    assert name in {x.name for x in conn.identity.projects()}
    assert p.id in {x.id for x in conn.identity.projects(name=name)}

    conn.identity.update_project(p, description="two")
    assert conn.identity.get_project(p.id).description == "two"

    conn.identity.delete_project(p, ignore_missing=False)
    assert conn.identity.find_project(name) is None


def test_user_role_and_application_credential(cloud, conn):
    project = conn.identity.create_project(name=unique("sdkproj"), domain_id="default")
    password = "pw-" + unique("x")
    user = conn.identity.create_user(name=unique("sdkuser"), password=password,
                                     domain_id="default", default_project_id=project.id)
    try:
        assert user.id and user.default_project_id == project.id
        member = conn.identity.find_role("member", ignore_missing=False)
        conn.identity.assign_project_role_to_user(project, user, member)
        assert conn.identity.validate_user_has_project_role(project, user, member)

        got = list(conn.identity.role_assignments(user_id=user.id,
                                                  scope_project_id=project.id))
        assert [(a.role["id"], a.scope["project"]["id"]) for a in got] == \
            [(member.id, project.id)], got

        as_user = connect(cloud, user.name, password, project.name)
        assert as_user.authorize()
        assert as_user.current_project_id == project.id
        ac = as_user.identity.create_application_credential(user=user.id,
                                                           name=unique("sdkac"))
        assert ac.id and ac.secret

        ac_conn = openstack.connect(
            auth_type="v3applicationcredential",
            auth_url=cloud.auth_url,
            application_credential_id=ac.id,
            application_credential_secret=ac.secret,
            region_name="RegionOne",
            load_yaml_config=False,
            load_envvars=False,
        )
        assert ac_conn.authorize()
        assert ac_conn.current_user_id == user.id
        assert ac_conn.current_project_id == project.id
        as_user.identity.delete_application_credential(user.id, ac.id)
    finally:
        conn.identity.delete_user(user, ignore_missing=True)
        conn.identity.delete_project(project, ignore_missing=True)


def test_restart_after_kill9_keeps_data_and_tokens(fresh_server):
    srv = fresh_server
    admin_env = srv.openrc("admin")
    c = connect(srv, admin_env["OS_USERNAME"], admin_env["OS_PASSWORD"],
                admin_env["OS_PROJECT_NAME"])
    project = c.identity.create_project(name=unique("durable"), domain_id="default")
    password = "pw-" + unique("x")
    user = c.identity.create_user(name=unique("durable"), password=password,
                                  domain_id="default", default_project_id=project.id)
    member = c.identity.find_role("member", ignore_missing=False)
    c.identity.assign_project_role_to_user(project, user, member)
    user_token = srv.issue_token(user.name, password, project.name)
    admin_token = srv.issue_token(admin_env["OS_USERNAME"], admin_env["OS_PASSWORD"],
                                  admin_env["OS_PROJECT_NAME"])
    c.close()

    srv.restart_hard()  # kill -9, then `onestack up` again on the same state dir and port

    r = srv.validate_token(admin_token, user_token)
    assert r.status_code == 200, (
        f"GET /identity/v3/auth/tokens after kill -9: expected 200, got {r.status_code}: "
        f"{r.text[:300]}")
    body = r.json()["token"]
    assert body["user"]["id"] == user.id and body["project"]["id"] == project.id, body

    r = requests.get(f"{srv.identity_v3}/users/{user.id}", timeout=10,
                     headers={"X-Auth-Token": user_token})
    assert r.status_code == 200, f"user token reading itself after restart: {r.status_code}"

    # The credentials from before the crash still work, and the data is all there.
    assert srv.openrc("admin") == admin_env
    c2 = connect(srv, admin_env["OS_USERNAME"], admin_env["OS_PASSWORD"],
                 admin_env["OS_PROJECT_NAME"])
    assert c2.identity.get_project(project.id).name == project.name
    assert c2.identity.get_user(user.id).name == user.name
    assert list(c2.identity.role_assignments(user_id=user.id, scope_project_id=project.id))
    assert connect(srv, user.name, password, project.name).authorize()
    c2.close()
