"""One flux v1 sync of one configuration: Git branch -> cluster objects, as fluxd's sync loop does.

The agent calls, every `spec.poll_interval_seconds` (`--git-poll-interval`, default 5m):

    spec = SyncSpec.from_configuration(url=..., operator_params="--git-branch=master ...",
                                       secret_data=decoded_secret_data)   # or secret_data_from_secret(obj)
    result = sync_once(spec, api_client, work_dir)    # never raises for Git, manifest or apply problems
    result.state            # "Synced" | "Failed"
    result.message          # one line for complianceStatus.message (actionable when Failed)
    result.commit, result.committed_at   # sha and ISO-8601 UTC committer time -> lastConfigApplied
    result.applied, result.deleted       # Flux resource ids, e.g. "team-a:deployment/arc-k8s-demo"

`work_dir` keeps the working clone between calls (one directory per configuration). What it does:
1. fetch `--git-branch` (default master) over git://, http(s) or ssh (agent/gitrepo.py) and check it out;
2. read every *.yaml / *.yml under each `--git-path` (default: the whole repository; a comma list),
   multi-document files and `kind: List` included, empty documents skipped;
3. apply each object in Flux's kind order (namespaces first): create, or JSON merge-patch when it
   exists, with the label `fluxcd.io/sync-gc-mark` and the annotation `fluxcd.io/sync-checksum`
   (agent/gcmark.py); namespaced objects without a namespace go to `spec.default_namespace`;
4. with `--sync-garbage-collection`, delete every object whose gc-mark belongs to this sync set
   (same URL, branch and paths) and is no longer in Git, owned objects excluded — as Flux, marks
   from another sync set are left alone; without it nothing is deleted;
5. unless `--git-readonly` (implied when `--git-user` or `--git-email` is missing, as in the seed),
   move the annotated tag `--git-label` (default flux-sync) to the synced commit and push it.
   The tag moves only when every object applied.
`--manifest-generation` (.flux.yaml) is not supported: it is parsed and ignored (plain manifests are read).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from agent import safe_yaml
from agent.gcmark import (
    CHECKSUM_ANNOTATION,
    GC_MARK_LABEL,
    checksum,
    make_gc_mark,
    resource_id,
    sync_set_name,
)
from agent.gitrepo import GitCredentials, GitSyncError, fetch_branch, move_sync_tag

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = 30
MAX_MANIFEST_CHARS = 4 * 1024 * 1024  # one YAML file from Git


# --- the specification ---------------------------------------------------------------------------
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


def parse_duration(text: str) -> float:
    """Go-style duration ("5m", "1m30s", "45s") in seconds; ValueError when malformed."""
    total, rest = 0.0, text.strip()
    if not rest:
        raise ValueError("empty duration")
    for match in _DURATION.finditer(rest):
        total += float(match.group(1)) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[match.group(2)]
    if _DURATION.sub("", rest):
        raise ValueError(f"invalid duration {text!r}")
    return total


@dataclass(frozen=True)
class SyncSpec:
    url: str
    branch: str = "master"
    paths: tuple[str, ...] = ()
    readonly: bool = True
    poll_interval_seconds: float = 300.0
    garbage_collection: bool = False
    label: str = "flux-sync"
    git_user: str | None = None
    git_email: str | None = None
    credentials: GitCredentials = field(default_factory=GitCredentials)
    default_namespace: str = "default"
    configuration_id: str = ""

    @classmethod
    def from_configuration(cls, *, url: str, operator_params: str = "",
                           secret_data: Mapping[str, str | bytes] | None = None,
                           default_namespace: str = "default", configuration_id: str = "") -> SyncSpec:
        """From the repository URL, the operatorParams string and the decoded Secret data
        (`identity`, `known_hosts`, `GIT_AUTHUSER`, `GIT_AUTHKEY`). Unknown flags are ignored."""
        options: dict[str, str | None] = {}
        for token in shlex.split(operator_params or ""):
            if token.startswith("--"):
                name, eq, value = token[2:].partition("=")
                options[name] = value if eq else None
        data = {key: (value.decode() if isinstance(value, bytes) else value)
                for key, value in (secret_data or {}).items()}
        user, email = options.get("git-user"), options.get("git-email")
        readonly = _flag(options, "git-readonly") or not user or not email
        return cls(
            url=url, branch=options.get("git-branch") or "master",
            paths=tuple(p.strip() for p in (options.get("git-path") or "").split(",") if p.strip()),
            readonly=readonly,
            poll_interval_seconds=parse_duration(options.get("git-poll-interval") or "5m"),
            garbage_collection=_flag(options, "sync-garbage-collection"),
            label=options.get("git-label") or "flux-sync", git_user=user, git_email=email,
            credentials=GitCredentials(identity=data.get("identity"), known_hosts=data.get("known_hosts"),
                                       https_user=data.get("GIT_AUTHUSER"), https_key=data.get("GIT_AUTHKEY")),
            default_namespace=default_namespace, configuration_id=configuration_id)

    @property
    def sync_set(self) -> str:
        return sync_set_name(url=self.url, branch=self.branch, paths=self.paths)


def _flag(options: Mapping[str, str | None], name: str) -> bool:
    if name not in options:
        return False
    value = options[name]
    return value is None or value.lower() not in ("false", "0", "no")


def secret_data_from_secret(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """Decoded `data` (base64) and `stringData` of a Secret object as returned by the API."""
    out = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    out.update({key: value.encode() for key, value in (secret.get("stringData") or {}).items()})
    return out


@dataclass(frozen=True)
class SyncResult:
    state: str                           # "Synced" | "Failed"
    message: str
    commit: str | None = None
    committed_at: str | None = None      # ISO-8601 UTC -> lastConfigApplied
    applied: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state == "Synced"


class ManifestError(Exception):
    pass


# --- manifests -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    source: str                 # file path relative to the repository
    body: dict[str, Any]
    raw: bytes                  # the document's bytes, for the checksum


def _split_documents(text: str) -> Iterator[str]:
    chunk: list[str] = []
    for line in text.splitlines(keepends=True):
        if re.match(r"^---(\s|$)", line):
            yield "".join(chunk)
            chunk = []
        else:
            chunk.append(line)
    yield "".join(chunk)


def read_manifests(root: Path, paths: Iterable[str]) -> list[Manifest]:
    """Every object in *.yaml / *.yml files under `paths` (relative to `root`; none = all of it)."""
    wanted = list(paths) or ["."]
    manifests: list[Manifest] = []
    for rel in wanted:
        base = (root / rel).resolve()
        if not base.is_relative_to(root.resolve()) or not base.exists():
            raise ManifestError(f"git path '{rel}' not found in the repository (--git-path)")
        files = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
            and ".git" not in p.relative_to(root).parts)
        for file in files:
            manifests += _read_file(file, file.relative_to(root).as_posix())
    return manifests


def _read_file(file: Path, source: str) -> list[Manifest]:
    text = file.read_text(errors="replace")
    try:
        safe_yaml.load_all(text, max_chars=MAX_MANIFEST_CHARS)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{source} line {mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ManifestError(f"invalid YAML in {where}: {problem}") from None
    out: list[Manifest] = []
    for document in _split_documents(text):
        body = safe_yaml.load(document, max_chars=MAX_MANIFEST_CHARS)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ManifestError(f"{source}: a document is not a mapping (an object with apiVersion and kind)")
        items = (body.get("items") or []) if body.get("kind") == "List" else [body]
        for item in items:
            meta = item.get("metadata") if isinstance(item, dict) else None
            if not isinstance(meta, dict) or not item.get("apiVersion") or not item.get("kind") \
                    or not meta.get("name"):
                raise ManifestError(f"{source}: an object lacks apiVersion, kind or metadata.name")
            out.append(Manifest(source=source, body=item, raw=document.encode()))
    return out


# --- the cluster ---------------------------------------------------------------------------------
def _call(api: ApiClient, method: str, path: str, body: Any = None, *, query: list[tuple[str, str]] | None = None,
          content_type: str = "application/json") -> Any:
    request = api.param_serialize(method, path, query_params=query or [], body=body, auth_settings=["BearerToken"],
                                  header_params={"Content-Type": content_type, "Accept": "application/json"})
    response = api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
    raw = response.read()
    if not 200 <= response.status < 300:
        raise ApiException(status=response.status, reason=response.reason, http_resp=response)
    return json.loads(raw) if raw else None


def _api_message(error: ApiException) -> str:
    try:
        return json.loads(error.body).get("message") or f"{error.status} {error.reason}"
    except (TypeError, ValueError, AttributeError):
        return f"{error.status} {error.reason}"


@dataclass(frozen=True)
class ApiResource:
    group_version: str
    plural: str
    kind: str
    namespaced: bool

    def base(self) -> str:
        return "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.base()}/namespaces/{namespace}/{self.plural}"
        return f"{self.base()}/{self.plural}"


class Discovery:
    """apiVersion + kind -> resource, asked lazily once per sync (CRDs applied earlier show up)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.by_gv: dict[str, dict[str, ApiResource]] = {}

    def resources(self, group_version: str) -> dict[str, ApiResource]:
        if group_version not in self.by_gv:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            try:
                doc = _call(self.api, "GET", path)
            except ApiException as error:
                if error.status == 404:
                    return {}
                raise
            self.by_gv[group_version] = {
                r["kind"]: ApiResource(group_version, r["name"], r["kind"], bool(r.get("namespaced")))
                for r in doc.get("resources", []) if "/" not in r["name"] and "list" in r.get("verbs", [])}
        return self.by_gv[group_version]

    def find(self, api_version: str, kind: str) -> ApiResource | None:
        found = self.resources(api_version).get(kind)
        if found is None:
            self.by_gv.pop(api_version, None)      # NB: a CRD applied a moment ago; ask again once
            found = self.resources(api_version).get(kind)
        return found

    def preferred(self) -> list[ApiResource]:
        versions = ["v1"]
        groups = _call(self.api, "GET", "/apis", query=[]) or {}
        versions += [g["preferredVersion"]["groupVersion"] for g in groups.get("groups", [])]
        return [r for gv in versions for r in self.resources(gv).values()]


_RANKS = {"namespace": 0, "customresourcedefinition": 1, "serviceaccount": 1, "clusterrole": 1, "role": 1,
          "persistentvolume": 1, "service": 1, "resourcequota": 2, "limitrange": 2, "secret": 2,
          "configmap": 2, "rolebinding": 2, "clusterrolebinding": 2, "persistentvolumeclaim": 2,
          "ingress": 2, "daemonset": 3, "deployment": 3, "replicationcontroller": 3, "replicaset": 3,
          "job": 3, "cronjob": 3, "statefulset": 3}


def _rank(kind: str) -> int:
    """Flux's rankOfKind: the order objects are applied in (deleted in reverse)."""
    return _RANKS.get(kind.lower(), 4)


def _apply(api: ApiClient, resource: ApiResource, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    collection = resource.collection(meta.get("namespace"))
    try:
        _call(api, "POST", collection, body=body)
        return
    except ApiException as error:
        if error.status != 409:
            raise
    _call(api, "PATCH", f"{collection}/{meta['name']}", body=body, content_type="application/merge-patch+json")


# --- the sync ------------------------------------------------------------------------------------
def sync_once(spec: SyncSpec, api_client: ApiClient, work_dir: Path) -> SyncResult:
    """Fetch, apply, collect garbage and move the sync tag once; see the module docstring."""
    try:
        checkout = fetch_branch(url=spec.url, branch=spec.branch, credentials=spec.credentials,
                                work_dir=Path(work_dir))
    except GitSyncError as error:
        return _failed(spec, str(error))
    commit = {"commit": checkout.commit, "committed_at": checkout.committed_at}
    try:
        manifests = read_manifests(checkout.path, spec.paths)
    except ManifestError as error:
        return _failed(spec, f"{error} (branch {spec.branch}, commit {checkout.commit[:7]})", **commit)

    discovery = Discovery(api_client)
    sync_set = spec.sync_set
    applied: list[str] = []
    errors: list[str] = []
    desired: set[str] = set()
    for manifest in sorted(manifests, key=lambda m: (_rank(m.body["kind"]), m.body["metadata"]["name"])):
        body = json.loads(json.dumps(manifest.body, default=str))
        meta = body["metadata"]
        try:
            resource = discovery.find(body["apiVersion"], body["kind"])
        except ApiException as error:
            return _failed(spec, f"cluster discovery failed: {_api_message(error)}", **commit)
        if resource is None:
            errors.append(f"{manifest.source}: the cluster does not serve {body['apiVersion']} {body['kind']}")
            continue
        if resource.namespaced:
            meta["namespace"] = meta.get("namespace") or spec.default_namespace
        else:
            meta.pop("namespace", None)
        rid = resource_id(namespace=meta.get("namespace"), kind=body["kind"], name=meta["name"])
        desired.add(rid)
        meta.setdefault("labels", {})
        meta["labels"] = {**(meta["labels"] or {}), GC_MARK_LABEL: make_gc_mark(sync_set, rid)}
        meta["annotations"] = {**(meta.get("annotations") or {}), CHECKSUM_ANNOTATION: checksum(manifest.raw)}
        try:
            _apply(api_client, resource, body)
            applied.append(rid)
        except ApiException as error:
            errors.append(f"{rid} ({manifest.source}): {_api_message(error)}")
        except Exception as error:  # noqa: BLE001 - connection / TLS problems reaching the cluster
            return _failed(spec, f"cannot reach the cluster: {type(error).__name__}: {error}", **commit)

    deleted: list[str] = []
    if spec.garbage_collection:
        try:
            deleted = _collect_garbage(api_client, discovery, sync_set, desired, errors)
        except ApiException as error:
            errors.append(f"garbage collection failed: {_api_message(error)}")

    if errors:
        shown = "; ".join(errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
        return SyncResult(state="Failed", message=f"sync of commit {checkout.commit[:7]} failed: {shown}",
                          applied=tuple(applied), deleted=tuple(deleted), errors=tuple(errors), **commit)

    if not spec.readonly:
        try:
            move_sync_tag(checkout=checkout, url=spec.url, tag=spec.label, user=spec.git_user or "",
                          email=spec.git_email or "", credentials=spec.credentials)
        except GitSyncError as error:
            return SyncResult(state="Failed", message=f"objects synced, but {error}", applied=tuple(applied),
                              deleted=tuple(deleted), errors=(str(error),), **commit)
    message = (f"synced commit {checkout.commit[:7]} of branch {spec.branch}: {len(applied)} objects applied"
               + (f", {len(deleted)} deleted" if deleted else ""))
    log.info("sync configuration=%s commit=%s applied=%d deleted=%d", spec.configuration_id, checkout.commit,
             len(applied), len(deleted))
    return SyncResult(state="Synced", message=message, applied=tuple(applied), deleted=tuple(deleted), **commit)


def _failed(spec: SyncSpec, message: str, **commit: Any) -> SyncResult:
    log.warning("sync failed configuration=%s message=%s", spec.configuration_id, message)
    return SyncResult(state="Failed", message=message, **commit)


def _collect_garbage(api: ApiClient, discovery: Discovery, sync_set: str, desired: set[str],
                     errors: list[str]) -> list[str]:
    """Delete objects marked by this sync set that Git no longer has; returns their ids."""
    orphans: list[tuple[ApiResource, dict[str, Any], str]] = []
    for resource in discovery.preferred():
        listing = _call(api, "GET", resource.collection(None), query=[("labelSelector", GC_MARK_LABEL)])
        for item in listing.get("items", []):
            meta = item.get("metadata", {})
            if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
                continue
            namespace = meta.get("namespace") if resource.namespaced else None
            rid = resource_id(namespace=namespace, kind=resource.kind, name=meta["name"])
            if rid in desired or (meta.get("labels") or {}).get(GC_MARK_LABEL) != make_gc_mark(sync_set, rid):
                continue
            orphans.append((resource, meta, rid))
    deleted = []
    for resource, meta, rid in sorted(orphans, key=lambda o: (-_rank(o[0].kind), o[2])):
        try:
            _call(api, "DELETE", f"{resource.collection(meta.get('namespace'))}/{meta['name']}")
            deleted.append(rid)
        except ApiException as error:
            if error.status != 404:
                errors.append(f"deleting {rid}: {_api_message(error)}")
    return deleted
