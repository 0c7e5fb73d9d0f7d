"""Sign-in by OpenID Connect (authorization code + PKCE) against a real provider run in the
test (oidc-provider-mock), with the console deployed alone: its pages then say plainly that
the other services are not deployed here."""
from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import create_engine, select

from scripts.mesh import Mesh
from services.console.models import accounts
from shared.db import normalise_url
from shared.testing import free_port, fresh_database
from tests.browser.conftest import shoot


@pytest.fixture(scope="module")
def provider():
    from oidc_provider_mock import User, run_server_in_thread

    people = [User(sub="u-1001", claims={"name": "周清", "preferred_username": "zhouqing",
                                         "groups": ["suqiu-office"], "department": "office"}),
              User(sub="u-1002", claims={"name": "路人", "preferred_username": "passerby", "groups": ["staff"]})]
    with run_server_in_thread(require_nonce=True, user_claims=people) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def lone_console(provider, database_base, tmp_path_factory):
    """The console alone (no other service configured), trusting the provider."""
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database(database_base))
        mesh = Mesh(["console"], amqp_uri="amqp://unused/", database_urls={"console": database},
                    ports={"console": free_port()}, var_dir=tmp_path_factory.mktemp("lone-console"), env={
                        "PROFILE_DIR": "deploy/profiles/demo", "CONSOLE_SECRET": "oidc-test-secret",
                        "OIDC_ISSUER": provider, "OIDC_CLIENT_ID": "suqiu-console", "OIDC_CLIENT_SECRET": "s3cret",
                        "OIDC_ROLE_CLAIM": "groups", "OIDC_UNIT_CLAIM": "department",
                        "OIDC_ROLE_MAP": "suqiu-office=office", "LOG_LEVEL": "WARNING"})
        stack.callback(mesh.stop)
        mesh.start(timeout=120)
        yield mesh.url("console"), database


def test_a_person_signs_in_through_the_citys_identity_provider(lone_console, open_browser):
    console, database = lone_console
    page = open_browser()
    page.goto(f"{console}/login")
    page.click("a:has-text('统一身份认证')")
    page.click("button[value='u-1001']")  # the provider's one-click sign-in of a predefined person
    page.wait_for_url(f"{console}/office/queue")
    assert "周清（专班（督办办公室）" in page.inner_text("header")
    assert "本地未部署派单办理服务" in page.inner_text("main")
    shoot(page, "oidc-signed-in-not-deployed")
    engine = create_engine(normalise_url(database))
    with engine.connect() as conn:
        row = conn.execute(select(accounts).where(accounts.c.username == "oidc-zhouqing")).one()
    engine.dispose()
    assert (row.display_name, row.role, row.unit, row.source, row.password_hash) == \
        ("周清", "office", "office", "oidc", None)


def test_a_person_the_provider_gives_no_role_is_refused(lone_console, open_browser):
    console, _ = lone_console
    page = open_browser()
    page.goto(f"{console}/login/oidc")
    page.click("button[value='u-1002']")
    page.wait_for_load_state()
    assert "没有为您配置本系统的角色" in page.inner_text("main")
    assert page.goto(f"{console}/office/queue").url.startswith(f"{console}/login")


def test_a_forged_state_signs_nobody_in(lone_console, open_browser):
    console, _ = lone_console
    page = open_browser()
    response = page.goto(f"{console}/login/oidc/callback?code=whatever&state=forged")
    assert response.status == 403 and "登录请求已失效" in page.inner_text("main")

