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


LOG_SUFFIXES = (".log", ".stdout", ".stderr", ".out", ".err")


def test_no_secret_is_in_any_log(tmp_path_factory):
    """Every log the suite's processes wrote (hosts, agents, kubesim, make up, git servers) is free of secrets.

    NB: only log files: the tests' own inputs (key files, kubeconfigs) live in the same temp folders.
    """
    logs = [path for path in tmp_path_factory.getbasetemp().rglob("*")
            if path.is_file() and path.name.rstrip("0123456789").rstrip(".").endswith(LOG_SUFFIXES)]
    assert len(logs) >= 10, f"only {len(logs)} log files found: this scan would prove nothing"
    assert sum(path.stat().st_size for path in logs) > 100_000
    needles = secret_needles()
    leaks = [(str(path), needle[:12] + "...") for path in logs
             for needle in needles if needle in path.read_text(errors="replace")]
    assert leaks == []
