"""The GitOps page in a real browser: a whole stack of its own (Azurite, the app on the devhost, kubesim as
`AzureArcTest1` in `AzureArcTest`, the agent with local Flux sync, the seed's repository on `git daemon`) and
Debian's headless Chromium driven by Playwright.

Its own Azurite keeps the page's cluster list to the one cluster a user of `make up` sees. Without
/usr/bin/chromium (Debian package `chromium`, installed by .ci/run) the browser tests are skipped, with the
reason; nothing in them is faked.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from stack.__main__ import seed_repository_mirror
from stack.azurite import Azurite
from stack.demo_repository import DEMO_REPOSITORY, GitDaemon, ensure_demo_repository
from tests.api.conftest import ApiClient, cluster_path
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost, devhost_environment
from tests.fixtures.kubesim_process import KubeSimProcess

CHROMIUM = Path("/usr/bin/chromium")
SEED_CLUSTER = "AzureArcTest1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
# NB: screenshots go to a throwaway folder unless GITOPS_SCREENSHOTS names one (`docs/` refreshes the README's).
SCREENSHOTS_ENV = "GITOPS_SCREENSHOTS"


@dataclass
class WebStack:
    host: DevHost
    api: ApiClient
    kubesim: KubeSimProcess
    cluster: str

    @property
    def page_url(self) -> str:
        return f"{self.host.base_url}/api/gitops/"


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    work = tmp_path_factory.mktemp("web-stack")
    with Azurite(data_dir=work / "azurite", log_file=work / "azurite.log") as azurite:
        connection_string = azurite.ports.connection_string
        kubesim = KubeSimProcess(work_dir=work / "kubesim", ready_delay=0.2)
        kubesim.start()
        env = devhost_environment(connection_string, SECRETS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                                  STATUS_WAIT_TIMEOUT="00:01:00", DELETE_WINDOW="00:00:30",
                                  DELETE_WINDOW_FAILED="00:00:30")
        host = DevHost(app_dir=PROJECT_ROOT, env=env, log_dir=work)
        host.start()
        api = ApiClient(host.base_url, host.keys()["functionKeys"]["default"])
        cluster = cluster_path(SEED_CLUSTER)
        kubeconfig = base64.b64encode(Path(kubesim.kubeconfig_path).read_bytes()).decode()
        registered = api.request("PUT", cluster, body={"properties": {"kubeconfig": kubeconfig}})
        assert registered.status_code == 201, registered.text
        ensure_demo_repository(work / "git")
        daemon = GitDaemon(base_path=work / "git", log_path=work / "git-daemon.log").start()
        agent = AgentProcess(kubeconfig=kubesim.kubeconfig_path, connection_string=connection_string,
                             queue="configuration-status", log_path=work / "agent.log", cluster_id=cluster,
                             extra_args=("--local-sync", "--work-dir", str(work / "sync")))
        agent.env.update(seed_repository_mirror(daemon.url("")))
        assert daemon.url(DEMO_REPOSITORY)
        agent.start()
        try:
            yield WebStack(host=host, api=api, kubesim=kubesim, cluster=cluster)
        finally:
            agent.stop()
            daemon.stop()
            host.stop()
            kubesim.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, web_stack: WebStack):
    """A fresh browser context (empty session storage) at desktop width. Errors on the console fail the test,
    and so does the function key appearing in any console message (the page never logs it)."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    messages: list[str] = []
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: messages.append(f"console {message.type}: {message.text}"))
    yield page
    context.close()
    # NB: Chromium logs every 4xx answer as "Failed to load resource"; the page handles those (401, 400, 404).
    problems += [m for m in messages if m.startswith("console error: ") and "Failed to load resource" not in m]
    assert not problems, problems
    assert not [m for m in messages if web_stack.api.function_key in m]


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
