"""`local.settings.json`: created from the sample on first run, with a fresh secrets encryption key."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.fernet import Fernet


def ensure_local_settings(app_dir: Path) -> Path:
    """Create `local.settings.json` from the sample if missing; fill an empty encryption key once."""
    target = app_dir / "local.settings.json"
    if target.exists():
        settings = json.loads(target.read_text(encoding="utf-8"))
    else:
        settings = json.loads((app_dir / "local.settings.sample.json").read_text(encoding="utf-8"))
    values = settings.setdefault("Values", {})
    if target.exists() and values.get("SECRETS_ENCRYPTION_KEY"):
        return target
    if not values.get("SECRETS_ENCRYPTION_KEY"):
        values["SECRETS_ENCRYPTION_KEY"] = Fernet.generate_key().decode("ascii")
    target.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    target.chmod(0o600)
    return target
