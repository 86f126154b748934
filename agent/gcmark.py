"""Flux v1's garbage-collection marks, computed exactly as fluxcd/flux 1.x does.

- Sync-set name (pkg/daemon/sync.go `makeGitConfigHash`): base64.RawURLEncoding of
  sha256(safeURL + branch + path1 + path2 ...), the strings concatenated with no separator.
- Resource id (pkg/resource/id.go): `<namespace>:<kind lowercased>/<name>`, with namespace
  `<cluster>` for cluster-scoped kinds.
- Label `fluxcd.io/sync-gc-mark` (pkg/cluster/kubernetes/sync.go `makeGCMark`):
  "sha256." + base64.RawURLEncoding(sha256(syncSetName + resourceID)).
- Annotation `fluxcd.io/sync-checksum`: hex sha1 of the manifest document's bytes as read from Git.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

GC_MARK_LABEL = "fluxcd.io/sync-gc-mark"
CHECKSUM_ANNOTATION = "fluxcd.io/sync-checksum"
CLUSTER_SCOPE = "<cluster>"


def _raw_urlsafe_b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def safe_url(url: str) -> str:
    """The URL without a password (Flux's Remote.SafeURL); scp-like `git@host:path` stays as it is."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def sync_set_name(*, url: str, branch: str, paths: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    hasher.update(safe_url(url).encode())
    hasher.update(branch.encode())
    for path in paths:
        hasher.update(path.encode())
    return _raw_urlsafe_b64(hasher.digest())


def resource_id(*, namespace: str | None, kind: str, name: str) -> str:
    """Flux's resource id; pass namespace=None for cluster-scoped objects."""
    return f"{namespace or CLUSTER_SCOPE}:{kind.lower()}/{name}"


def make_gc_mark(sync_set: str, resource: str) -> str:
    hasher = hashlib.sha256()
    hasher.update(sync_set.encode())
    hasher.update(resource.encode())
    return "sha256." + _raw_urlsafe_b64(hasher.digest())


def checksum(document: bytes) -> str:
    return hashlib.sha1(document).hexdigest()
