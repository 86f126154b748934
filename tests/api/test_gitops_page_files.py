"""The GitOps page's files: served without a key, only the listed files, with a policy that keeps the page to
its own origin (nothing fetched from elsewhere, no inline script)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.fixtures.devhost_process import DevHost

# A reference that would fetch from another origin: src=, href=, url( or @import with a scheme or `//`.
EXTERNAL_REFERENCE = re.compile(rb"""(\bsrc|\bhref|url|@import|fetch)\s*[=(]?\s*["']?(https?:)?//""")


def page_url(host: DevHost, asset: str = "") -> str:
    return f"{host.base_url}/api/gitops/{asset}"


def test_the_external_reference_check_catches_what_it_is_for():
    for text in (b'<script src="https://cdn.example/x.js">', b"<link href='//fonts.example/f.css'>",
                 b"body { background: url(https://img.example/a.png) }", b'@import "https://x.example/a.css";',
                 b'fetch("https://api.example/x")'):
        assert EXTERNAL_REFERENCE.search(text), text
    assert not EXTERNAL_REFERENCE.search(b'<input placeholder="https://github.com/org/repo">')


def test_the_bare_path_redirects_to_the_page_folder(app_host: DevHost):
    response = requests.get(f"{app_host.base_url}/api/gitops", allow_redirects=False, timeout=30)

    assert response.status_code == 301
    assert response.headers["Location"].endswith("/api/gitops/")


def test_the_page_is_served_without_a_key_with_a_same_origin_policy(app_host: DevHost):
    response = requests.get(page_url(app_host), timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "connect-src 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.text
    assert '<script src="app.js"' in html and 'href="app.css"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script (the policy refuses it)"
    assert not EXTERNAL_REFERENCE.search(response.content), "the page must not load anything from another origin"


@pytest.mark.parametrize(("asset", "content_type"), [("app.js", "text/javascript; charset=utf-8"),
                                                     ("app.css", "text/css; charset=utf-8"),
                                                     ("favicon.svg", "image/svg+xml"),
                                                     ("index.html", "text/html; charset=utf-8")])
def test_each_asset_has_its_content_type_and_no_external_reference(app_host: DevHost, asset: str,
                                                                    content_type: str):
    response = requests.get(page_url(app_host, asset), timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.content
    assert not EXTERNAL_REFERENCE.search(response.content), asset


@pytest.mark.parametrize("asset", ["missing.js", "..%2Fhost.json", "..%2F..%2Ffunction_app.py", "static/app.js",
                                   "app.js%00", "APP.JS"])
def test_anything_else_under_the_page_is_not_found(app_host: DevHost, asset: str):
    response = requests.get(page_url(app_host, asset), timeout=30)

    assert response.status_code == 404
    assert b"import" not in response.content and b"extensionBundle" not in response.content


def test_the_page_accepts_only_get_and_head(app_host: DevHost):
    assert requests.head(page_url(app_host), timeout=30).status_code == 200
    assert requests.post(page_url(app_host), data=b"x", timeout=30).status_code == 404
