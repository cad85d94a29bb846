"""Sign-in end to end: a real OpenID Connect provider (oidc-provider-mock, started here), `streamlit
run app.py` configured for it through a secrets file ([auth], as Streamlit's st.login expects), and
Chromium: an anonymous visitor sees only the sign-in page; after signing in at the provider the
person's name is on the sidebar and on the description they save ("Written by NAME (app) · time"),
and the store records them as the author."""
from __future__ import annotations

import time

import pytest
from apphelpers import copy_data_dir, streamlit_server
from test_browser import _free_port, chromium, wait_ready  # noqa: F401  (chromium: the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL = "ana@example.com"


@pytest.fixture(scope="module")
def provider():
    oidc = pytest.importorskip("oidc_provider_mock")
    with oidc.run_server_in_thread(port=0, user_claims=[oidc.User(sub="ana", claims={"email": EMAIL,
                                                                                    "name": "Ana Analyst"})]) as srv:
        yield f"http://127.0.0.1:{srv.server_port}"


@pytest.fixture(scope="module")
def signin_server(chromium, provider, demo_data_dir, tmp_path_factory):  # noqa: F811
    from unpose_core import projection
    from unpose_core.runs import active_run
    from unpose_core.store import Store

    tmp = tmp_path_factory.mktemp("signin")
    data = copy_data_dir(demo_data_dir, tmp / "data")
    store = Store(data)
    projection.ensure_projection(store, active_run(store))
    store.close()
    (data / "roles.toml").write_text(f'default = "viewer"\n[users]\n"{EMAIL}" = "analyst"\n')
    port = _free_port()
    secrets = tmp / "secrets.toml"
    secrets.write_text(f'[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
                       f'cookie_secret = "{"c" * 40}"\nclient_id = "unposed"\nclient_secret = "unposed-secret"\n'
                       f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    log_path = tmp / "streamlit.log"
    with streamlit_server(data, port, log_path, ("--secrets.files", str(secrets)), {"UNPOSED_ROLES": ""}) as base:
        yield base, data, log_path


def _sign_in_page_only(page) -> None:
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    time.sleep(1.0)
    main = page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    assert "sign in with your company account" in main
    assert page.locator('[data-testid="stSidebar"]').count() == 0 or \
        "Active run" not in page.locator('[data-testid="stSidebar"]').inner_text()
    assert page.locator('[data-testid="stImage"]').count() == 0
    assert page.locator('[data-testid="stPageLink-NavLink"]').count() == 0


def test_sign_in_through_a_real_oidc_provider_and_the_name_on_an_edit(signin_server, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from unpose_core.store import Store

    base, data, log_path = signin_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for path in ("/", "/Clusters", "/Catalogue"):   # anonymous: the sign-in page, whatever the URL
                page.goto(base + path)
                _sign_in_page_only(page)
            page.get_by_role("button", name="Sign in").click()
            # the provider's own authorisation page: sign in as the predefined user
            page.get_by_role("button", name="ana", exact=True).click(timeout=60_000)
            page.wait_for_url(f"{base}/**", timeout=60_000)
            wait_ready(page)
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            assert f"Signed in as {EMAIL} (analyst)" in sidebar, sidebar
            page.goto(base + "/Clusters")
            wait_ready(page)
            field = page.get_by_label("Human description (saved with Enter or Save)")
            text = "Signed-in description, full body"
            field.fill(text)
            field.press("Enter")
            page.get_by_text(f"Written by {EMAIL} (app) · ").wait_for(timeout=60_000)
        except BaseException:
            print(log_path.read_text()[-3000:])
            raise
        finally:
            browser.close()
    store = Store(data)
    try:
        run_id = store.active_run_id()
        written = [d for d in store.descriptions(run_id).values() if d.text == text]
        assert written and written[0].source == f"{EMAIL} (app)"
        log = store.audit_log()
        assert ((log["who"] == EMAIL) & (log["action"] == "describe") & (log["role"] == "analyst")).any()
    finally:
        store.close()
