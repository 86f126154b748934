"""Runs last (directory order): after the whole suite, no secret any test sent is readable in storage."""

from __future__ import annotations

from tests.api.conftest import SENT_SECRETS
from tests.api.validation_cases import ALL_SECRETS
from tests.fixtures.storage_scan import all_stored_text, find_secrets


def secret_needles() -> list[str]:
    """Each secret whole, and each long line of it (a PEM body line found alone is still a leak)."""
    sent = SENT_SECRETS + ALL_SECRETS
    needles = set(sent)
    for secret in sent:
        needles.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 40)
    return sorted(needles)


def test_no_secret_is_stored_in_plain_text(storage_connection_string: str):
    assert SENT_SECRETS, "the suite sent no secrets: this scan would prove nothing"
    stored = all_stored_text(storage_connection_string)
    assert any(where.startswith("table configurations") for where, _ in stored), "nothing was stored to scan"
    assert any(where.startswith("table clusters") for where, _ in stored)

    assert find_secrets(storage_connection_string, secret_needles()) == []
