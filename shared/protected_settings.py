"""Sealing a configuration's protected settings (`sshPrivateKey`, `httpsUser`, `httpsKey`) for storage."""

from __future__ import annotations

from shared.errors import ValidationError
from shared.secrets import SecretBox
from shared.validation import ConfigurationInput, repository_endpoint, repository_url_kind

SSH_SETTINGS = ("sshPrivateKey",)
HTTPS_SETTINGS = ("httpsUser", "httpsKey")


def submitted_settings(spec: ConfigurationInput) -> dict[str, str]:
    settings = spec.protected_settings
    values = {"sshPrivateKey": settings.ssh_private_key, "httpsUser": settings.https_user,
              "httpsKey": settings.https_key}
    return {key: value for key, value in values.items() if value}


def seal_protected_settings(spec: ConfigurationInput, *, box: SecretBox, previous: str | None,
                            previous_url: str | None = None) -> str | None:
    """The sealed settings to store, or None when there are none.

    A PUT that sends no protected settings keeps the previously stored ones that still fit the URL
    (an SSH key for an SSH/git URL, https credentials for an http(s) URL): they are write-only, so a
    client that round-trips a GET cannot send them back, and must not lose them. They are bound to the
    repository's scheme, host and port, though: a PUT that moves the URL elsewhere must send them again
    (or clear them by sending each as ""), or they would be handed to another server.
    """
    settings = submitted_settings(spec)
    if not settings and previous:
        kept_names = HTTPS_SETTINGS if repository_url_kind(spec.repository_url) == "http" else SSH_SETTINGS
        settings = {key: value for key, value in box.open(previous).items()
                    if key in kept_names and key not in spec.protected_settings.cleared}
        if settings and previous_url and repository_endpoint(previous_url) != repository_endpoint(spec.repository_url):
            names = ", ".join(sorted(settings))
            raise ValidationError(
                "InvalidArgumentValue",
                f"The repository URL moves to another scheme, host or port, and the stored {names} were given for "
                "the old one: they are not carried over. Send them again for the new URL, or clear them "
                "explicitly (each as an empty string).", "properties.configurationProtectedSettings")
    return box.seal(settings) if settings else None
