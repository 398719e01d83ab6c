"""Fixtures for the drppy-client suite: API clients built from the environment that
tests/tests/drppy_client.rs sets after starting a real 3-node cluster and a manager.

DRP_MEMBER_URL   a follower's API (https://127.0.0.1:<port>/api/v3)
DRP_GATEWAY_URL  the manager's gateway to that cluster (http://127.0.0.1:<port>/<id>/api/v3)
DRP_MANAGER_URL  the manager's own API (http://127.0.0.1:<port>/api/v3)
DRP_CA           the CA file the members' certificate chains to
DRP_USER, DRP_PASSWORD, DRP_ENDPOINT_ID
DRP_PACKS        the fixture content packs as bundled JSON files, in install order (':'-separated;
                 empty when ../shared/fixtures is absent)
"""

import os

import drppy_client
import pytest


def env(name):
    value = os.environ.get(name)
    if value is None:
        pytest.exit(f"{name} is not set: run this suite through tests/tests/drppy_client.rs", 2)
    return value


def make_client(url, user=None, password=None, token=None):
    config = drppy_client.Configuration()
    config.host = url
    if url.startswith("https://"):
        config.ssl_ca_cert = env("DRP_CA")
        config.verify_ssl = True
    if token is not None:
        config.api_key["Authorization"] = token
        config.api_key_prefix["Authorization"] = "Bearer"
    else:
        config.username = user or env("DRP_USER")
        config.password = password or env("DRP_PASSWORD")
    return drppy_client.ApiClient(config)


@pytest.fixture(scope="session")
def member():
    """A client of one follower of the cluster."""
    return make_client(env("DRP_MEMBER_URL"))


@pytest.fixture(scope="session")
def gateway():
    """A client of the same cluster through the manager's gateway."""
    return make_client(env("DRP_GATEWAY_URL"))


@pytest.fixture(scope="session")
def manager():
    """A client of the manager's own API."""
    return make_client(env("DRP_MANAGER_URL"))


@pytest.fixture(scope="session", params=["member", "gateway"])
def via(request):
    """Each test using it runs once through a follower and once through the gateway."""
    return request.getfixturevalue(request.param)
