"""Issue 18: a cluster's own users through the manager's gateway, as themselves.

The manager's admin reaches the cluster through the gateway with the manager's stored
credentials. A caller presenting the cluster's own credentials (Basic for a cluster user, or a
Bearer token the cluster issued) is forwarded with exactly those, so the cluster's roles apply:
each check below gets the same answer through the gateway as on a member.
"""

import json
import urllib.error
import urllib.request

import drppy_client
import pytest
from drppy_client.rest import ApiException

from conftest import env, make_client
from test_drppy_client import drp_error, unique


def status_of(call):
    """The HTTP status a client call ends with (200 when it returns)."""
    try:
        call()
    except ApiException as e:
        return e.status
    return 200


@pytest.fixture(scope="module")
def limited(member):
    """A cluster user whose role allows listing and getting one machine only; the machine it
    may see, and one it may not."""
    machines = drppy_client.MachinesApi(member)
    visible = machines.create_machine({"Name": unique("seen")})
    hidden = machines.create_machine({"Name": unique("hidden")})
    role = unique("role")
    drppy_client.RolesApi(member).create_role({
        "Name": role,
        "Claims": [{"scope": "machines", "action": "list,get", "specific": visible.uuid}],
    })
    name, password = unique("user"), "pw-limited"
    drppy_client.UsersApi(member).create_user(
        {"Name": name, "Password": password, "Roles": [role]})
    yield name, password, visible.uuid, hidden.uuid
    drppy_client.UsersApi(member).delete_user(name)
    drppy_client.RolesApi(member).delete_role(role)
    machines.delete_machine(visible.uuid)
    machines.delete_machine(hidden.uuid)


def limited_checks(client, limited):
    """What a limited user's calls give: (listed uuids, status of get visible, get hidden,
    create machine, list profiles)."""
    _, _, visible, hidden = limited
    machines = drppy_client.MachinesApi(client)
    listed = sorted(m.uuid for m in machines.list_machines())
    return (
        listed,
        status_of(lambda: machines.get_machine(visible)),
        status_of(lambda: machines.get_machine(hidden)),
        status_of(lambda: machines.create_machine({"Name": unique("nope")})),
        status_of(lambda: drppy_client.ProfilesApi(client).list_profiles()),
    )


def test_limited_user_basic_through_gateway_as_on_a_member(limited):
    name, password, visible, _ = limited
    on_member = limited_checks(
        make_client(env("DRP_MEMBER_URL"), user=name, password=password), limited)
    through = limited_checks(
        make_client(env("DRP_GATEWAY_URL"), user=name, password=password), limited)
    assert on_member == ([visible], 200, 403, 403, 403), on_member
    assert through == on_member
    # A forbidden call through the gateway is the cluster's 403, in DRP's error shape.
    gw = drppy_client.MachinesApi(make_client(env("DRP_GATEWAY_URL"), user=name, password=password))
    with pytest.raises(ApiException) as forbidden:
        gw.create_machine({"Name": unique("nope")})
    drp_error(forbidden.value, 403)


def test_limited_user_token_from_the_gateway_used_through_the_gateway(limited):
    name, password, visible, _ = limited
    users = drppy_client.UsersApi(make_client(env("DRP_GATEWAY_URL"), user=name, password=password))
    token = users.get_user_token(name, ttl=600)
    assert token.token and token.info.ha_id == env("DRP_ENDPOINT_ID")
    bearer = make_client(env("DRP_GATEWAY_URL"), token=token.token)
    assert limited_checks(bearer, limited) == ([visible], 200, 403, 403, 403)
    # The token is the user's: whoever holds it acts as the user, not as the manager.
    with pytest.raises(ApiException) as other:
        drppy_client.UsersApi(bearer).get_user_token(env("DRP_USER"))
    drp_error(other.value, 403)


def test_admin_token_from_the_gateway_used_through_the_gateway(gateway):
    token = drppy_client.UsersApi(gateway).get_user_token(env("DRP_USER"), ttl=600)
    bearer = make_client(env("DRP_GATEWAY_URL"), token=token.token)
    machines = drppy_client.MachinesApi(bearer)
    created = machines.create_machine({"Name": unique("bearer")})
    assert created.created_by == env("DRP_USER")
    assert created.uuid in [m.uuid for m in machines.list_machines()]
    machines.delete_machine(created.uuid)


def test_bad_credentials_through_the_gateway_are_401(limited):
    name, _, _, _ = limited
    bad_token = make_client(env("DRP_GATEWAY_URL"), token="not-a-token-" + unique("x"))
    with pytest.raises(ApiException) as e:
        drppy_client.MachinesApi(bad_token).list_machines()
    drp_error(e.value, 401)
    wrong_password = make_client(env("DRP_GATEWAY_URL"), user=name, password="wrong")
    with pytest.raises(ApiException) as e:
        drppy_client.MachinesApi(wrong_password).list_machines()
    drp_error(e.value, 401)


def test_cluster_credentials_do_not_open_the_managers_own_api(gateway):
    token = drppy_client.UsersApi(gateway).get_user_token(env("DRP_USER"), ttl=600)
    on_manager = make_client(env("DRP_MANAGER_URL"), token=token.token)
    with pytest.raises(ApiException) as e:
        drppy_client.EndpointsApi(on_manager).list_endpoints()
    drp_error(e.value, 401)
    # Nor do they tell a caller which endpoints the manager has: an unknown id is a 401 too.
    base = env("DRP_GATEWAY_URL").rsplit("/", 3)[0]
    elsewhere = make_client(f"{base}/no-such-endpoint/api/v3", token=token.token)
    with pytest.raises(ApiException) as e:
        drppy_client.MachinesApi(elsewhere).list_machines()
    drp_error(e.value, 401)


def test_manager_admin_still_works(manager, gateway):
    endpoints = drppy_client.EndpointsApi(manager).list_endpoints()
    assert env("DRP_ENDPOINT_ID") in [e.id for e in endpoints]
    machines = drppy_client.MachinesApi(gateway)
    created = machines.create_machine({"Name": unique("admin")})
    assert machines.get_machine(created.uuid).uuid == created.uuid
    machines.delete_machine(created.uuid)
    # Without any credentials, the gateway answers itself: 401, nothing forwarded.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(env("DRP_GATEWAY_URL") + "/machines", timeout=10)
    assert e.value.code == 401
    body = json.loads(e.value.read())
    assert body["Code"] == 401 and "cluster's own credentials" in body["Messages"][0], body
