"""Issue 18: RackN's Python client, drppy-client 4.17, used unmodified against a real cluster
(through a follower, and through the manager's gateway) and against the manager itself.

Every call goes through the client's own API classes, which check each response against
DRP's models as they read it: a missing required field, a null list or a string where an
integer belongs raises in the client, so a call that returns is a call that passed.
"""

import base64
import json
import os
import time
import uuid

import drppy_client
import nacl.public
import pytest
from drppy_client.api.custom_overrides import SecureData
from drppy_client.rest import ApiException

from conftest import env, make_client


def unique(prefix):
    return f"py-{prefix}-{uuid.uuid4().hex[:8]}"


def drp_error(exc, status):
    """The ApiException's body in DRP's error shape, checked."""
    assert exc.status == status, f"expected {status}, got {exc.status}: {exc.body}"
    body = json.loads(exc.body)
    for field in ("Model", "Key", "Type", "Messages", "Code"):
        assert field in body, f"{field} missing from {body}"
    assert body["Code"] == status
    assert body["Messages"], body
    return body


# --- every collection: create, get, list, head, patch, put, delete --------------------------

def ip(n):
    return f"10.{(n >> 8) & 255}.{n & 255}.{(n >> 16) % 200 + 10}"


def sample(collection):
    """(api class, singular method name, plural, key field, body) for a fresh object."""
    n = uuid.uuid4().int
    name = unique(collection)
    table = {
        "machines": ("MachinesApi", "machine", "machines", "uuid", {"Name": name}),
        "profiles": ("ProfilesApi", "profile", "profiles", "name", {"Name": name}),
        "params": ("ParamsApi", "param", "params", "name",
                   {"Name": name, "Schema": {"type": "string"}}),
        "stages": ("StagesApi", "stage", "stages", "name", {"Name": name}),
        "tasks": ("TasksApi", "task", "tasks", "name", {"Name": name}),
        "workflows": ("WorkflowsApi", "workflow", "workflows", "name", {"Name": name}),
        "bootenvs": ("BootEnvsApi", "boot_env", "boot_envs", "name", {"Name": name}),
        "templates": ("TemplatesApi", "template", "templates", "id",
                      {"ID": name, "Contents": "hello {{.Machine.Name}}"}),
        "subnets": ("SubnetsApi", "subnet", "subnets", "name",
                    {"Name": name, "Subnet": "10.250.0.0/24"}),
        "reservations": ("ReservationsApi", "reservation", "reservations", "addr",
                         {"Addr": ip(n), "Token": "52:54:00:00:00:01", "Strategy": "MAC"}),
        "leases": ("LeasesApi", "lease", "leases", "addr",
                   {"Addr": ip(n), "Token": "52:54:00:00:00:02", "Strategy": "MAC",
                    "State": "PROBE"}),
        "users": ("UsersApi", "user", "users", "name", {"Name": name, "Password": "pw-" + name}),
        "roles": ("RolesApi", "role", "roles", "name",
                  {"Name": name,
                   "Claims": [{"scope": "machines", "action": "get", "specific": "*"}]}),
        "tenants": ("TenantsApi", "tenant", "tenants", "name", {"Name": name}),
        "pools": ("PoolsApi", "pool", "pools", "id", {"Id": name}),
        "contexts": ("ContextsApi", "context", "contexts", "name", {"Name": name}),
        "plugins": ("PluginsApi", "plugin", "plugins", "name",
                    {"Name": name, "Provider": "ipmi"}),
        "catalog_items": ("CatalogItemsApi", "catalog_item", "catalog_items", "id",
                          {"Id": name, "Name": name, "Version": "v1.0.0"}),
        "version_sets": ("VersionSetsApi", "version_set", "version_sets", "id", {"Id": name}),
    }
    return table[collection]


COLLECTIONS = ["machines", "profiles", "params", "stages", "tasks", "workflows", "bootenvs",
               "templates", "subnets", "reservations", "leases", "users", "roles", "tenants",
               "pools", "contexts", "plugins", "catalog_items", "version_sets"]


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_collection_round_trip(via, collection):
    cls, one, many, key_attr, body = sample(collection)
    api = getattr(drppy_client, cls)(via)
    created = getattr(api, f"create_{one}")(body)
    key = getattr(created, key_attr)
    assert key, f"created {collection} has no key: {created}"
    assert created.available is True and created.validated is True
    assert created.errors == [] and created.read_only is False
    assert created.created_at is not None and created.created_by == env("DRP_USER")

    got = getattr(api, f"get_{one}")(key)
    assert getattr(got, key_attr) == key
    listed = getattr(api, f"list_{many}")()
    assert key in [getattr(o, key_attr) for o in listed]
    getattr(api, f"head_{one}")(key)
    stats = getattr(api, f"list_stats_{many}")()
    assert any(s.name == "filter-count" and s.count >= 1 for s in stats), stats

    patched = getattr(api, f"patch_{one}")(
        [{"op": "add", "path": "/Meta/color", "value": "blue"}], key)
    assert patched.meta["color"] == "blue"
    assert patched.created_at == created.created_at

    replaced_body = dict(body)
    replaced_body.pop("Password", None)
    if collection == "machines":
        replaced_body["Uuid"] = key
    replaced_body["Meta"] = {"color": "green"}
    replaced = getattr(api, f"put_{one}")(replaced_body, key)
    assert replaced.meta["color"] == "green"

    gone = getattr(api, f"delete_{one}")(key)
    assert getattr(gone, key_attr) == key
    with pytest.raises(ApiException) as missing:
        getattr(api, f"get_{one}")(key)
    drp_error(missing.value, 404)


def test_read_only_listings(via):
    jobs = drppy_client.JobsApi(via).list_jobs()
    assert isinstance(jobs, list)
    providers = drppy_client.PluginProvidersApi(via).list_plugin_providers()
    assert isinstance(providers, list)


# --- params on machines and profiles: plain, secure, sealed by the client ------------------

@pytest.fixture(scope="module")
def param_names(member):
    """A plain and a secure param definition (the client reads a param's definition before
    it writes it to a machine)."""
    params = drppy_client.ParamsApi(member)
    plain, secret = unique("plain") + "/value", unique("secret") + "/password"
    params.create_param({"Name": plain})
    params.create_param({"Name": secret, "Secure": True})
    return plain, secret


def test_params_list_and_get_read_params_without_secure(via, param_names):
    plain, secret = param_names
    params = drppy_client.ParamsApi(via)
    assert params.get_param(plain).secure is False
    assert params.get_param(secret).secure is True
    listed = {p.name: p.secure for p in params.list_params()}
    assert listed[plain] is False and listed[secret] is True


def test_machine_params_plain_and_secure(via, param_names):
    plain, secret = param_names
    machines = drppy_client.MachinesApi(via)
    m = machines.create_machine({"Name": unique("pm")})
    machines.post_machine_param("plain value", m.uuid, plain)
    assert machines.get_machine_param(m.uuid, plain) == "plain value"

    # The client seals the value itself with crypto_box to the machine's public key.
    pubkey = base64.b64decode(machines.get_machine_pub_key(m.uuid))
    assert len(pubkey) == 32
    machines.post_machine_param({"user": "admin", "pass": "hunter2"}, m.uuid, secret)
    stored = machines.get_machine_param(m.uuid, secret)
    assert set(stored) == {"Key", "Nonce", "Payload"}, stored
    assert "hunter2" not in json.dumps(stored)
    opened = machines.get_machine_param(m.uuid, secret, decode=True)
    assert opened == {"user": "admin", "pass": "hunter2"}
    every = machines.get_machine_params(m.uuid, decode=True)
    assert every[plain] == "plain value" and every[secret]["pass"] == "hunter2"

    # The whole map, replaced, then patched.
    new = machines.post_machine_params({plain: "replaced", "py/extra": 3}, m.uuid)
    assert new == {plain: "replaced", "py/extra": 3}
    patched = machines.patch_machine_params(
        [{"op": "replace", "path": "/py~1extra", "value": 4}], m.uuid)
    assert patched["py/extra"] == 4 and patched[plain] == "replaced"
    assert machines.get_machine(m.uuid).params["py/extra"] == 4
    machines.delete_machine_param(m.uuid, "py/extra")
    assert "py/extra" not in machines.get_machine_params(m.uuid)
    machines.delete_machine(m.uuid)


def seal(pubkey_b64, value):
    box = SecureData()
    box.seal(base64.b64decode(pubkey_b64), value)
    return {"Key": box.Key, "Nonce": box.Nonce, "Payload": box.Payload}


def test_profile_params_plain_secure_and_sealed(via, param_names):
    plain, secret = param_names
    profiles = drppy_client.ProfilesApi(via)
    name = unique("pp")
    profiles.create_profile(drppy_client.Profile(name=name, description="typed model"))
    profiles.post_profile_param("v1", name, plain)
    assert profiles.get_profile_param(name, plain) == "v1"

    # A plain value of a secure param is sealed by the member that receives it.
    profiles.post_profile_param("server-sealed", name, secret)
    assert set(profiles.get_profile_param(name, secret)) == {"Key", "Nonce", "Payload"}
    assert profiles.get_profile_param(name, secret, decode=True) == "server-sealed"

    # A value the client sealed to the profile's key, with the client's own SecureData.
    sealed = seal(profiles.get_profile_pub_key(name), "client-sealed")
    profiles.post_profile_param(sealed, name, secret)
    assert profiles.get_profile_param(name, secret, decode=True) == "client-sealed"
    assert profiles.get_profile_params(name, decode=True)[secret] == "client-sealed"
    profiles.delete_profile(name)


def test_sealed_value_with_a_bad_key_is_refused(via, param_names):
    _, secret = param_names
    profiles = drppy_client.ProfilesApi(via)
    a, b = unique("pa"), unique("pb")
    profiles.create_profile({"Name": a})
    profiles.create_profile({"Name": b})
    # Sealed to b's key, sent to a: a cannot open it.
    wrong = seal(profiles.get_profile_pub_key(b), "misdirected")
    with pytest.raises(ApiException) as refused:
        profiles.post_profile_param(wrong, a, secret)
    body = drp_error(refused.value, 422)
    assert "public key" in " ".join(body["Messages"])
    # A key that is not an X25519 key at all.
    garbage = dict(wrong, Key=base64.b64encode(b"short").decode())
    with pytest.raises(ApiException) as refused:
        profiles.post_profile_params({secret: garbage}, a)
    drp_error(refused.value, 422)
    assert secret not in profiles.get_profile_params(a)
    profiles.delete_profile(a)
    profiles.delete_profile(b)


# --- info, tokens, whoami, users ------------------------------------------------------------

def test_info_has_every_field(via):
    info = drppy_client.InfoApi(via).get_info()
    assert info.ha_enabled is True and info.manager is False
    assert info.ha_id == env("DRP_ENDPOINT_ID") and info.id == info.ha_id
    assert info.ha_status in ("Active", "Passive")
    assert info.api_port > 0 and info.version and info.arch and info.os
    assert isinstance(info.ha_passive_state, list) and len(info.ha_passive_state) == 2
    assert info.dhcp_enabled is False and info.tftp_enabled is False


def test_user_token_in_drp_form(via):
    users = drppy_client.UsersApi(via)
    token = users.get_user_token(env("DRP_USER"), ttl=600)
    assert token.token and token.info.ha_id == env("DRP_ENDPOINT_ID")
    # The token is the cluster's; the gateway forwards it as it came.
    bearer = make_client(via.configuration.host, token=token.token)
    assert isinstance(drppy_client.MachinesApi(bearer).list_machines(), list)


def test_user_password_and_own_token(via):
    users = drppy_client.UsersApi(via)
    name = unique("user")
    users.create_user({"Name": name, "Password": "first", "Roles": []})
    # The user's own calls, the same way (the gateway forwards a cluster user's credentials).
    own = make_client(via.configuration.host, user=name, password="first")
    changed = drppy_client.UsersApi(own).put_user_password({"Password": "second"})
    assert changed.name == name
    # Members read users locally: a member that has not applied the change yet (the write
    # was acknowledged once committed) still knows the old hash for a few milliseconds.
    deadline = time.time() + 10
    while True:
        try:
            drppy_client.UsersApi(own).get_user_token(name)
        except ApiException as old:
            assert old.status == 401
            break
        assert time.time() < deadline, "the old password still works after 10 s"
        time.sleep(0.05)
    again = make_client(via.configuration.host, user=name, password="second")
    assert drppy_client.UsersApi(again).get_user_token(name).token
    users.delete_user(name)


def test_whoami_names_the_machine(via):
    machines = drppy_client.MachinesApi(via)
    mac = "52:54:00:%02x:%02x:%02x" % tuple(os.urandom(3))
    m = machines.create_machine({"Name": unique("who"), "HardwareAddrs": [mac]})
    who = drppy_client.WhoamiApi(via).fill_whoami(body={"MacAddrs": [mac.upper()]})
    assert who.result.uuid == m.uuid and who.result.score > 0
    machines.delete_machine(m.uuid)


def test_indexes_and_objects(via):
    objects = drppy_client.ObjectsApi(via).list_objects()
    assert "machines" in objects and "profiles" in objects
    indexes = drppy_client.IndexesApi(via)
    assert indexes.list_indexes()["machines"]["Name"].unique is True
    assert indexes.get_index("profiles")["Name"].type == "string"


def test_prefs(via):
    prefs = drppy_client.PrefsApi(via)
    prefs.set_prefs(body={"py-pref": "on"})
    assert prefs.list_prefs()["py-pref"] == "on"


def test_contents_install_list_get_remove(via):
    contents = drppy_client.ContentsApi(via)
    name = unique("pack")
    pack = {
        "meta": {"Name": name, "Version": "v1.0.0", "Description": "drppy-client test"},
        "sections": {
            "tasks": {f"{name}-task": {"Name": f"{name}-task",
                                       "Templates": [{"Name": "t", "Contents": "echo"}]}},
            "params": {f"{name}-param": {"Name": f"{name}-param"}},
        },
    }
    summary = contents.create_content(body=pack)
    assert summary.meta.name == name
    assert name in [c.meta.name for c in contents.list_contents()]
    got = contents.get_content(name)
    assert got.meta.name == name
    task = drppy_client.TasksApi(via).get_task(f"{name}-task")
    assert task.read_only is True and task.bundle == name
    assert task.required_params == [] and task.templates[0].path == ""
    contents.delete_content(name)


# --- bad input keeps DRP's error shape ------------------------------------------------------

def test_wrong_types_are_refused(via):
    machines = drppy_client.MachinesApi(via)
    with pytest.raises(ApiException) as refused:
        machines.create_machine({"Name": unique("bad"), "CurrentTask": "3"})
    body = drp_error(refused.value, 422)
    assert any("CurrentTask" in m for m in body["Messages"]), body
    m = machines.create_machine({"Name": unique("ok")})
    with pytest.raises(ApiException) as refused:
        machines.patch_machine([{"op": "replace", "path": "/Runnable", "value": "yes"}], m.uuid)
    drp_error(refused.value, 422)
    assert machines.get_machine(m.uuid).current_task == -1
    machines.delete_machine(m.uuid)


def test_unknown_collection_is_a_drp_404(via):
    with pytest.raises(ApiException) as missing:
        via.call_api("/no_such_things", "GET", response_type="object",
                     auth_settings=["basicAuth"], _return_http_data_only=True)
    drp_error(missing.value, 404)


# --- the real content packs of ../shared/fixtures -------------------------------------------

FIXTURE_COLLECTIONS = {
    "bootenvs": ("BootEnvsApi", "boot_env", "boot_envs", "name"),
    "params": ("ParamsApi", "param", "params", "name"),
    "profiles": ("ProfilesApi", "profile", "profiles", "name"),
    "stages": ("StagesApi", "stage", "stages", "name"),
    "tasks": ("TasksApi", "task", "tasks", "name"),
    "templates": ("TemplatesApi", "template", "templates", "id"),
    "workflows": ("WorkflowsApi", "workflow", "workflows", "name"),
}


@pytest.fixture(scope="module")
def fixture_packs():
    paths = [p for p in os.environ.get("DRP_PACKS", "").split(":") if p]
    if not paths:
        print("SKIPPED: ../shared/fixtures not present")
        pytest.skip("SKIPPED: ../shared/fixtures not present")
    installed = []
    for path in paths:
        with open(path) as f:
            pack = json.load(f)
        # A big pack on a loaded machine may outlast the write timeout (503, outcome unknown):
        # retried with the same Idempotency-Key, as DRP's error tells a client to.
        client = make_client(env("DRP_MEMBER_URL"))
        client.set_default_header("Idempotency-Key", f"fixture-{uuid.uuid4()}")
        contents = drppy_client.ContentsApi(client)
        try:
            for attempt in range(5):
                try:
                    contents.create_content(body=pack)
                    break
                except ApiException as e:
                    if e.status != 503 or attempt == 4:
                        raise
            installed.append(pack)
        except ApiException as e:
            # A pack whose prerequisites are not among the fixtures is refused precisely.
            body = drp_error(e, e.status)
            assert e.status == 422 and body["Messages"], body
    assert installed, "no fixture pack installed"
    return installed


def test_every_fixture_object_lists_and_gets(via, fixture_packs):
    seen = 0
    for pack in fixture_packs:
        for section, objects in pack["sections"].items():
            if section not in FIXTURE_COLLECTIONS:
                continue
            cls, one, many, key_attr = FIXTURE_COLLECTIONS[section]
            api = getattr(drppy_client, cls)(via)
            listed = {getattr(o, key_attr) for o in getattr(api, f"list_{many}")(limit=0)}
            for key in objects:
                assert key in listed, f"{section}/{key} not listed"
                got = getattr(api, f"get_{one}")(key)
                assert got.bundle == pack["meta"]["Name"] and got.read_only is True
                seen += 1
    assert seen > 100, seen


def test_community_content_loads_with_its_workflows_available(via, fixture_packs):
    # drp-community-content requires every DRP flag this endpoint advertises; edge-lab needs it.
    names = [p["meta"]["Name"] for p in fixture_packs]
    assert "drp-community-content" in names and "edge-lab" in names, names
    features = drppy_client.InfoApi(via).get_info().features
    workflows = drppy_client.WorkflowsApi(via)
    for pack in fixture_packs:
        required = pack["meta"].get("RequiredFeatures", "").replace(",", " ").split()
        assert set(required) <= set(features), (pack["meta"]["Name"], required, features)
        for key in pack["sections"].get("workflows", {}):
            got = workflows.get_workflow(key)
            assert got.available is True and got.errors == [], (key, got.errors)


# --- the manager's own API ------------------------------------------------------------------

def test_manager_info_endpoints_and_params(manager):
    info = drppy_client.InfoApi(manager).get_info()
    assert info.manager is True
    endpoints = drppy_client.EndpointsApi(manager)
    ids = [e.id for e in endpoints.list_endpoints()]
    assert env("DRP_ENDPOINT_ID") in ids
    ep = endpoints.get_endpoint(env("DRP_ENDPOINT_ID"))
    assert ep.params["manager/password"] != env("DRP_PASSWORD")
    endpoints.head_endpoint(env("DRP_ENDPOINT_ID"))
    params = endpoints.get_endpoint_params(env("DRP_ENDPOINT_ID"))
    assert params["manager/username"] == env("DRP_USER")
    assert endpoints.get_endpoint_param(env("DRP_ENDPOINT_ID"), "manager/username") == \
        env("DRP_USER")


def test_manager_version_sets(manager):
    sets = drppy_client.VersionSetsApi(manager)
    name = unique("vs")
    created = sets.create_version_set({
        "Id": name, "Apply": False, "Prefs": {"a": "b"},
        "Components": [{"Type": "ContentPackage", "Name": "drp-community-content",
                        "Version": "tip", "ReplaceWritable": True}],
        "Plugins": [{"Name": "ipmi", "Provider": "ipmi", "Description": "from a DRP export",
                     "Available": True, "Validated": True, "Errors": [], "ReadOnly": False}],
        "Validated": True, "Available": True, "Errors": [], "ReadOnly": False, "Bundle": "",
        "Endpoint": "",
    })
    assert created.id == name and created.prefs == {"a": "b"}
    assert created.components[0].replace_writable is True
    assert name in [v.id for v in sets.list_version_sets()]
    got = sets.get_version_set(name)
    assert got.plugins[0].provider == "ipmi"
    sets.head_version_set(name)
    with pytest.raises(ApiException) as refused:
        sets.create_version_set({"Id": unique("vs"), "Componets": []})
    body = drp_error(refused.value, 400)
    assert "Componets" in " ".join(body["Messages"])
    sets.delete_version_set(name)
