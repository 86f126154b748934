"""SSH deploy keys that the service generates for ssh URLs given without a private key (SPEC 4, step 3)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ALGORITHMS = ("rsa-4096", "ed25519")


@dataclass(frozen=True)
class DeployKey:
    private_openssh: str  # secret: sealed before storage, never logged
    public_openssh: str   # `ssh-rsa AAAA... ` shown as repositoryPublicKey


def generate_deploy_key(algorithm: str = "rsa-4096", *, comment: str = "") -> DeployKey:
    """A new key pair in OpenSSH format; RSA 4096 by default, Ed25519 on request (setting SSH_KEY_ALGORITHM)."""
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "rsa-4096":
        key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    else:
        raise ValueError(f"SSH_KEY_ALGORITHM must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode("ascii")
    return DeployKey(private, f"{public} {comment}".strip())
