"""The console alone on the real broker and PostgreSQL (no other service deployed): signing in,
sessions, CSRF, the security headers, the key set, the rate limit, accounts and enterprise links."""
import re
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.console import domain, handlers
from services.console.accounts import main as accounts_cli
from services.console.models import accounts, login_attempts, sessions
from services.console.service import ConsoleService
from shared.auth import PersonTokens
from shared.db import normalise_url
from shared.testing import count_rows as count

pytestmark = pytest.mark.integration

SECRET = "console-integration-secret"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def config(service_config, tmp_path):
    return {**service_config, "CONSOLE_SECRET": SECRET, "SIGNING_KEY_FILE": "",
            "SIMULATED_CLOCK": "true", "PROFILE_DIR": "deploy/profiles/demo",
            "LOGIN_LIMIT_PER_ACCOUNT": 3, "LOGIN_LIMIT_PER_ADDRESS": 50}


@pytest.fixture
def console(container_factory, config, tmp_path, monkeypatch):
    monkeypatch.setenv("SUQIU_VAR_DIR", str(tmp_path))
    container = container_factory(ConsoleService, config)
    container.start()
    return f"http://{config['WEB_SERVER_ADDRESS']}"


def add(database_url: str, username: str, role: str, unit: str | None = None, password: str = "correct horse 1",
        name: str = "王芳") -> None:
    engine = create_engine(normalise_url(database_url))
    with Session(engine) as session, session.begin():
        fields = domain.validate_account(username, name, role, unit, ["tax", "hrss", "office"])
        handlers.add_account(session, fields, password, NOW)
    engine.dispose()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def signed_in(console: str, username: str, password: str = "correct horse 1") -> requests.Session:
    browser = requests.Session()
    token = csrf_of(browser.get(f"{console}/login").text)
    answer = browser.post(f"{console}/login", data={"username": username, "password": password,
                                                     "csrf_token": token}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser


def test_a_person_signs_in_and_the_session_cookie_is_httponly_and_samesite(console, database_url):
    add(database_url, "wangfang", "unit_clerk", "tax")
    browser = requests.Session()
    form = browser.get(f"{console}/login")
    answer = browser.post(f"{console}/login", data={"username": "wangfang", "password": "correct horse 1",
                                                     "csrf_token": csrf_of(form.text)}, allow_redirects=False)
    session_cookie = [c for c in answer.raw.headers.getlist("Set-Cookie") if c.startswith("suqiu_session=")]
    assert answer.status_code == 303 and answer.headers["Location"] == "/desk"
    assert len(session_cookie) == 1 and "HttpOnly" in session_cookie[0] and "SameSite=Lax" in session_cookie[0]


def test_every_page_carries_the_content_security_policy(console):
    page = requests.get(f"{console}/login")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"


def test_a_form_without_its_csrf_token_is_refused_and_signs_nobody_in(console, database_url):
    add(database_url, "wangfang", "unit_clerk", "tax")
    browser = requests.Session()
    browser.get(f"{console}/login")
    answer = browser.post(f"{console}/login", data={"username": "wangfang", "password": "correct horse 1"},
                          allow_redirects=False)
    assert answer.status_code == 403
    assert count(create_engine(normalise_url(database_url)), sessions) == 0


def test_a_wrong_password_is_refused_and_recorded(console, database_url):
    add(database_url, "wangfang", "unit_clerk", "tax")
    browser = requests.Session()
    token = csrf_of(browser.get(f"{console}/login").text)
    answer = browser.post(f"{console}/login", data={"username": "wangfang", "password": "wrong", "csrf_token": token})
    assert answer.status_code == 401 and "用户名或密码不正确" in answer.text
    engine = create_engine(normalise_url(database_url))
    assert count(engine, login_attempts, login_attempts.c.succeeded.is_(False)) == 1


def test_after_three_failures_even_the_right_password_waits(console, database_url):
    add(database_url, "wangfang", "unit_clerk", "tax")
    browser = requests.Session()
    token = csrf_of(browser.get(f"{console}/login").text)
    statuses = [browser.post(f"{console}/login", data={"username": "wangfang", "password": password,
                                                        "csrf_token": token}, allow_redirects=False).status_code
                for password in ("x", "y", "z", "correct horse 1")]
    assert statuses == [401, 401, 401, 429]


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(console):
    answer = requests.get(f"{console}/desk?status=accepted", allow_redirects=False)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/login?next=/desk%3Fstatus%3Daccepted")


def test_a_page_of_another_role_is_403(console, database_url):
    add(database_url, "zhangming", "cadre")
    browser = signed_in(console, "zhangming")
    assert browser.get(f"{console}/desk").status_code == 403
    assert browser.get(f"{console}/admin/accounts").status_code == 403


def test_a_cadre_gets_the_visit_form_for_a_paired_enterprise_and_a_clerk_does_not(console, database_url):
    add(database_url, "zhangming", "cadre")
    add(database_url, "wangfang", "unit_clerk", "tax")
    form = signed_in(console, "zhangming").get(f"{console}/cadre/visit?subject_type=enterprise&subject_id=X1")
    assert form.status_code == 200
    assert 'name="visited_on"' in form.text and 'value="X1"' in form.text and 'name="no_problem"' in form.text
    assert signed_in(console, "wangfang").get(f"{console}/cadre/visit").status_code == 403


def test_a_service_not_deployed_here_is_said_plainly(console, database_url):
    add(database_url, "wangfang", "unit_clerk", "tax")
    page = signed_in(console, "wangfang").get(f"{console}/desk")
    assert "本地未部署派单办理服务" in page.text


def test_the_key_set_verifies_the_person_tokens_the_console_signs(console, tmp_path):
    from services.console.identity import Signer

    keys = requests.get(f"{console}/.well-known/jwks.json").json()
    (tmp_path / "jwks.json").write_text(__import__("json").dumps(keys))
    signer = Signer.from_file(tmp_path / "console-signing-key.pem")
    person = domain.Person(1, "wangfang", "王芳", "unit_clerk", "tax")
    token = signer.sign(domain.person_claims(person, datetime.now(timezone.utc), "suqiu-console"))
    principal = PersonTokens(jwks_file=str(tmp_path / "jwks.json")).principal(token)
    assert principal.actor == "unit:tax/wangfang"
    assert jwt.get_unverified_header(token)["kid"] == keys["keys"][0]["kid"]


def test_signing_out_ends_the_session(console, database_url):
    add(database_url, "wangfang", "unit_clerk", "tax")
    browser = signed_in(console, "wangfang")
    token = csrf_of(browser.get(f"{console}/desk").text)
    browser.post(f"{console}/logout", data={"csrf_token": token})
    assert browser.get(f"{console}/desk", allow_redirects=False).status_code == 303
    assert count(create_engine(normalise_url(database_url)), sessions) == 0


def test_the_admin_adds_and_disables_an_account_and_its_sessions_end(console, database_url):
    add(database_url, "admin", "admin", password="admin password 1", name="管理员")
    admin = signed_in(console, "admin", "admin password 1")
    token = csrf_of(admin.get(f"{console}/admin/accounts").text)
    added = admin.post(f"{console}/admin/accounts", data={
        "username": "lihua", "display_name": "李华", "role": "unit_clerk", "unit": "hrss",
        "password": "another pass 1", "csrf_token": token}, allow_redirects=False)
    assert added.status_code == 303
    clerk = signed_in(console, "lihua", "another pass 1")
    admin.post(f"{console}/admin/accounts/lihua/disable", data={"csrf_token": token})
    assert clerk.get(f"{console}/desk", allow_redirects=False).status_code == 303
    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.disabled).where(accounts.c.username == "lihua")).scalar_one() is True


def test_an_account_with_a_unit_role_needs_a_unit_of_the_directory(console, database_url):
    add(database_url, "admin", "admin", password="admin password 1", name="管理员")
    admin = signed_in(console, "admin", "admin password 1")
    token = csrf_of(admin.get(f"{console}/admin/accounts").text)
    refused = admin.post(f"{console}/admin/accounts", data={
        "username": "nobody", "display_name": "某人", "role": "unit_clerk", "unit": "nowhere",
        "password": "another pass 1", "csrf_token": token})
    assert refused.status_code == 400 and "不在本地单位名录中" in refused.text
    assert count(create_engine(normalise_url(database_url)), accounts) == 1


def test_a_forged_or_expired_enterprise_link_is_refused(console):
    good = domain.sign_enterprise_link(SECRET, "91350100M000100Y43", NOW + timedelta(days=1))
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    expired = domain.sign_enterprise_link(SECRET, "91350100M000100Y43", NOW - timedelta(days=1))
    now = {"X-Suqiu-Now": NOW.isoformat()}
    assert requests.get(f"{console}/e/{forged}", headers=now).status_code == 403
    assert "已过期" in requests.get(f"{console}/e/{expired}", headers=now).text
    assert "本地未部署" in requests.get(f"{console}/e/{good}", headers=now).text


def test_the_accounts_cli_adds_lists_and_disables(database_url, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert accounts_cli(["--url", database_url, "add", "chenzr", "--name", "陈主任", "--role", "office",
                         "--unit", "office", "--password-stdin"]) == 0
    assert accounts_cli(["--url", database_url, "disable", "chenzr"]) == 0
    assert accounts_cli(["--url", database_url, "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"chenzr\s+陈主任\s+office\s+office\s+local\s+停用", listed)
    assert accounts_cli(["--url", database_url, "add", "bad", "--name", "某", "--role", "unit_clerk"]) == 2
