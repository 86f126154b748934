"""HTTP to the local service: endpoint, function key, api-version, ARM errors, and `--debug` lines.

Debug lines name the method, the URL (the key travels in a header, never in the URL), the status and the
time taken; never headers or bodies, which carry the function key and protected settings.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from cli.errors import CliError, api_error
from cli.keys import function_key

API_VERSION = "2021-03-01"
DEFAULT_ENDPOINT = "http://localhost:7071"
ENDPOINT_VARIABLE = "AZLOCAL_ENDPOINT"
REQUEST_TIMEOUT = 60


def endpoint() -> str:
    return (os.environ.get(ENDPOINT_VARIABLE, "").strip() or DEFAULT_ENDPOINT).rstrip("/")


def path_of(*segments: str) -> str:
    """`/a/b/c` with each segment URL-quoted (names come from the user)."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


class ServiceClient:
    """One session with the service; the key is looked up on the first call that needs it."""

    def __init__(self, *, base_url: str | None = None, debug: bool = False,
                 key_source: Callable[[], str] = function_key) -> None:
        self.base_url = base_url or endpoint()
        self.debug = debug
        self._key_source = key_source
        self._key: str | None = None
        self.session = requests.Session()

    def not_running(self) -> CliError:
        return CliError(f"The local GitOps service is not running at {self.base_url}. Start it with 'make up'.")

    def key(self) -> str:
        if self._key is None:
            # A stopped stack explains a missing key better than the key store, which would retry for long.
            self.probe()
            self._key = self._key_source()
        return self._key

    def probe(self) -> None:
        """Raises the not-running error when nothing answers at the endpoint."""
        try:
            self.session.get(f"{self.base_url}/api/openapi.json", timeout=10)
        except requests.RequestException:
            raise self.not_running() from None

    def call(self, method: str, path: str, *, body: Any = None) -> requests.Response:
        """`method /api{path}?api-version=...`; a non-2xx answer raises its ARM error as a CliError."""
        return self.call_url(method, f"{self.base_url}/api{path}?api-version={API_VERSION}", body=body)

    def call_url(self, method: str, url: str, *, body: Any = None) -> requests.Response:
        headers = {"x-functions-key": self.key(), "accept": "application/json"}
        self.trace(f"Request method: '{method}'")
        self.trace(f"Request URL: '{url}'")
        started = time.monotonic()
        try:
            response = self.session.request(method, url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)
        except requests.ConnectionError:
            raise self.not_running() from None
        except requests.Timeout:
            raise CliError(f"The local GitOps service at {self.base_url} did not answer within "
                           f"{REQUEST_TIMEOUT} seconds.") from None
        self.trace(f"Response status: {response.status_code}")
        self.trace(f"Elapsed: {time.monotonic() - started:.3f} s")
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def trace(self, line: str) -> None:
        if self.debug:
            print(f"DEBUG: {line}", file=sys.stderr)


def error_of(response: requests.Response) -> CliError:
    """The ARM error of a failed answer; a body that is not one still gives the status."""
    try:
        error = response.json()["error"]
        return api_error(str(error["code"]), str(error["message"]), error.get("target"),
                         status=response.status_code)
    except (ValueError, KeyError, TypeError, AttributeError):
        if response.status_code == 401:
            return CliError(f"The service refused the function key (401). Check {ENDPOINT_VARIABLE} and "
                            "AZLOCAL_FUNCTION_KEY point at the same local host.")
        return api_error(f"HttpError{response.status_code}",
                         f"Operation returned an invalid status code '{response.reason}'",
                         status=response.status_code)
