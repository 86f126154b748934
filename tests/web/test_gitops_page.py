"""Issue 10: the GitOps page driven in headless Chromium against a stack of its own (tests/web/conftest.py).

Each test signs in as a user would (the function key, asked once per browser session), then works only
through what the page shows; the API is read beside it to compare messages and keys with the service's own.
"""

from __future__ import annotations

import re
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from playwright.sync_api import Page, expect

from tests.api.conftest import configuration_path
from tests.e2e.conftest import exists
from tests.fixtures.waiting import wait_for
from tests.web.conftest import PHONE, SEED_CLUSTER, WebStack

SEED_URL = "https://github.com/Azure/arc-k8s-demo"
INSTALL_TIMEOUT = 90_000  # ms: the workflow, the operator Deployment, the agent's sync and report


def sign_in(page: Page, stack: WebStack) -> None:
    page.goto(stack.page_url)
    page.get_by_label("Function key").fill(stack.api.function_key)
    page.get_by_role("button", name="Sign in").click()
    expect(cluster_button(page)).to_be_visible()


def cluster_button(page: Page):
    clusters = page.get_by_role("navigation", name="Clusters")
    name = re.compile(f"^{SEED_CLUSTER}")
    return clusters.get_by_role("link", name=name).or_(clusters.get_by_role("button", name=name))


def open_cluster(page: Page, stack: WebStack) -> None:
    sign_in(page, stack)
    cluster_button(page).click()
    expect(configurations_table(page)).to_be_visible()


def configurations_table(page: Page):
    return page.get_by_role("table", name=f"Configurations on {SEED_CLUSTER}")


def row(page: Page, name: str):
    return configurations_table(page).locator(f'tbody tr[data-name="{name}"]')


def create(page: Page, name: str, repository_url: str, **fields: str) -> None:
    page.get_by_role("button", name="New configuration").click()
    expect(page.get_by_role("heading", name="Create a configuration")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Repository URL").fill(repository_url)
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Create", exact=True).click()


def test_the_key_is_asked_once_kept_for_the_browser_session_and_never_put_in_the_url(page: Page,
                                                                                       web_stack: WebStack):
    page.goto(web_stack.page_url)
    page.get_by_label("Function key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The function key was refused.")

    page.get_by_label("Function key").fill(web_stack.api.function_key)
    page.get_by_role("button", name="Sign in").click()
    expect(cluster_button(page)).to_be_visible()
    page.reload()
    expect(cluster_button(page)).to_be_visible()  # no second prompt in the same session
    assert web_stack.api.function_key not in page.url
    stored = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert web_stack.api.function_key in stored
    assert page.evaluate("JSON.stringify(Object.assign({}, localStorage))") == "{}"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Function key")).to_be_visible()
    assert web_stack.api.function_key not in page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert web_stack.api.function_key not in web_stack.host.stdout() + web_stack.host.stderr()


def test_an_https_configuration_created_through_the_form_becomes_installed(page: Page, web_stack: WebStack,
                                                                          screenshot_dir: Path):
    open_cluster(page, web_stack)
    create(page, "cluster-config", SEED_URL, **{"Operator instance name": "cluster-config",
                                                 "Operator namespace": "cluster-config"})

    created = row(page, "cluster-config")
    expect(created).to_be_visible()
    expect(created.get_by_role("cell", name=SEED_URL, exact=True)).to_be_visible()
    expect(created.locator(".badge")).to_have_text("Installed", timeout=INSTALL_TIMEOUT)  # auto-refreshed
    expect(created.locator(".badge")).to_have_class(re.compile(r"\bbadge-installed\b"))
    resource = web_stack.api.request("GET", configuration_path(web_stack.cluster, "cluster-config")).json()
    assert resource["properties"]["complianceStatus"]["complianceState"] == "Installed"
    assert resource["properties"]["operatorNamespace"] == "cluster-config"
    page.screenshot(path=str(screenshot_dir / "gitops-list.png"), full_page=True)

    created.get_by_role("link", name="cluster-config").click()
    expect(page.get_by_role("heading", level=2, name="cluster-config")).to_be_visible()
    for section in ("Properties", "Workflow", "Operator objects"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    for step in ("started", "validated", "manifestsApplied", "statusReceived", "recorded"):
        item = page.locator(f'li[data-step="{step}"]')
        expect(item).to_contain_text("Succeeded")
        expect(item.locator("time")).to_have_count(1)
    expect(page.locator('li[data-step="keyGenerated"]')).to_contain_text("Skipped")
    flux = page.locator('tr[data-kind="Deployment"][data-name="cluster-config"]')
    expect(flux).to_contain_text("Available")
    expect(page.locator('tr[data-kind="Secret"][data-name="flux-git-deploy"]')).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "gitops-detail.png"), full_page=True)

    page.get_by_role("link", name="Back to configurations").click()
    expect(row(page, "cluster-config")).to_be_visible()


def test_a_bad_name_shows_the_api_message_next_to_the_name_field_and_creates_nothing(page: Page,
                                                                                    web_stack: WebStack):
    answer = web_stack.api.request("PUT", configuration_path(web_stack.cluster, "Bad_Name"),
                                   body={"properties": {"repositoryUrl": SEED_URL}})
    assert answer.status_code == 400 and answer.json()["error"]["target"] == "name"
    open_cluster(page, web_stack)

    create(page, "Bad_Name", SEED_URL)

    name_field = page.get_by_label("Name", exact=True)
    expect(name_field).to_have_attribute("aria-invalid", "true")
    error_id = name_field.get_attribute("aria-describedby")
    assert error_id and error_id.startswith("error-")
    expect(page.locator(f"#{error_id.split()[0]}")).to_have_text(answer.json()["error"]["message"])
    expect(name_field).to_have_value("Bad_Name")  # the form keeps what the user typed
    expect(page.get_by_label("Repository URL")).to_have_value(SEED_URL)
    listed = web_stack.api.request("GET", configuration_path(web_stack.cluster, "")[:-1]).json()["value"]
    assert "Bad_Name" not in [resource["name"] for resource in listed]


def test_an_invalid_repository_url_is_shown_next_to_its_own_field(page: Page, web_stack: WebStack):
    open_cluster(page, web_stack)

    create(page, "url-check", "ftp://example.com/repo")

    url_field = page.get_by_label("Repository URL")
    expect(url_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{url_field.get_attribute('aria-describedby').split()[0]}")).to_contain_text(
        "http[s]://")
    expect(page.get_by_label("Name", exact=True)).not_to_have_attribute("aria-invalid", "true")


def test_the_ssh_case_shows_the_generated_public_key_with_a_copy_button(browser, web_stack: WebStack):
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        open_cluster(page, web_stack)
        create(page, "ssh-config", "git@github.com:Azure/arc-k8s-demo.git",
               **{"Operator instance name": "ssh-flux", "Operator namespace": "ssh-config"})

        panel = page.get_by_role("region", name="Deploy key")
        public_key = panel.get_by_label("Public key")
        expect(public_key).to_have_value(re.compile(r"^ssh-rsa AAAA"), timeout=60_000)
        expect(panel).to_contain_text("deploy key")
        stored = web_stack.api.request("GET", configuration_path(web_stack.cluster, "ssh-config")).json()
        assert public_key.input_value().strip() == stored["properties"]["repositoryPublicKey"].strip()

        panel.get_by_role("button", name="Copy public key").click()
        assert page.evaluate("navigator.clipboard.readText()").strip() == public_key.input_value().strip()
    finally:
        context.close()


def test_delete_asks_for_confirmation_shows_progress_and_removes_the_row(page: Page, web_stack: WebStack):
    name = "delete-me"
    response = web_stack.api.request("PUT", configuration_path(web_stack.cluster, name),
                                     body={"properties": {"repositoryUrl": SEED_URL, "operatorNamespace": name,
                                                          "operatorInstanceName": name}})
    assert response.status_code == 201, response.text
    # NB: a finalizer holds one operator object, so the deletion stays in progress until the test lets it go.
    core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(web_stack.kubesim.kubeconfig_path)))
    wait_for(lambda: exists(lambda: core.read_namespaced_secret("flux-git-deploy", name)), timeout=60,
             what="the operator's Secret")
    core.patch_namespaced_secret("flux-git-deploy", name, {"metadata": {"finalizers": ["example.com/hold"]}})
    open_cluster(page, web_stack)
    expect(row(page, name)).to_be_visible()

    page.get_by_role("button", name=f"Delete {name}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Delete configuration?")).to_be_visible()
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name="Cancel").click()
    expect(row(page, name)).to_be_visible()  # cancelled: still there

    page.get_by_role("button", name=f"Delete {name}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()

    expect(row(page, name)).to_have_count(0)
    progress = page.get_by_role("status").filter(has_text=name)
    expect(progress).to_contain_text(re.compile(rf"Deleting {name}… operator objects are being removed \(\d+ s\)"),
                                      timeout=15_000)
    assert web_stack.api.request("GET", configuration_path(web_stack.cluster, name)).status_code == 404
    core.patch_namespaced_secret("flux-git-deploy", name, {"metadata": {"finalizers": None}})
    expect(progress).to_contain_text(f"{name} deleted", timeout=45_000)
    assert not exists(lambda: core.read_namespaced_secret("flux-git-deploy", name))


def test_the_page_fits_a_phone_width_and_is_usable_from_the_keyboard(browser, web_stack: WebStack,
                                                                      screenshot_dir: Path):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_cluster(page, web_stack)
        expect(configurations_table(page).locator("tbody tr").first).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {PHONE['width']}px"
        page.screenshot(path=str(screenshot_dir / "gitops-phone.png"), full_page=True)

        page.get_by_role("button", name="New configuration").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Create a configuration")).to_be_visible()
        page.get_by_label("Name", exact=True).focus()
        page.keyboard.type("keyboard-config")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Repository URL")).to_be_focused()
    finally:
        context.close()


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => e.type !== 'hidden' && e.getClientRects().length > 0)
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                   && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 120))"""


def test_every_visible_control_has_a_label_or_a_name(page: Page, web_stack: WebStack):
    page.goto(web_stack.page_url)
    assert page.evaluate(UNLABELLED_CONTROLS) == []  # the sign-in form
    open_cluster(page, web_stack)
    page.get_by_role("button", name="New configuration").click()
    page.get_by_label("Enable Helm operator").check()

    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title()
