"""Watches through the official client: order, resumption, 410 Gone, bookmarks, selectors."""

from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.fixtures.kubesim_process import KubeSimProcess


def _collect(core: client.CoreV1Api, namespace: str, *, count: int, **kwargs: object) -> tuple[threading.Thread, list]:
    """Watch configmaps in a thread until `count` events arrived (or the server's timeout)."""
    events: list = []
    watcher = watch.Watch()

    def run() -> None:
        for event in watcher.stream(core.list_namespaced_config_map, namespace, timeout_seconds=10, **kwargs):
            events.append(event)
            if len(events) >= count:
                watcher.stop()
                break

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, events


def test_watch_sees_changes_in_order_and_resumes(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    thread, events = _collect(core, namespace, count=3, resource_version=start)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w"}, "data": {"n": "1"}})
    modified = core.patch_namespaced_config_map("w", namespace, {"data": {"n": "2"}})
    core.delete_namespaced_config_map("w", namespace)
    thread.join(15)
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "w"), ("MODIFIED", "w"),
                                                                        ("DELETED", "w")]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert events[1]["object"].data == {"n": "2"}

    resumed = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1,
                                        resource_version=modified.metadata.resource_version))
    assert [(e["type"], e["object"].metadata.name) for e in resumed] == [("DELETED", "w")]


def test_watch_without_version_starts_with_current_objects(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "existing"}})
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1))
    assert sorted((e["type"], e["object"].metadata.name) for e in events) == [
        ("ADDED", "existing"), ("ADDED", "kube-root-ca.crt")]


def test_too_old_resource_version_is_gone(kubesim: KubeSimProcess, core: client.CoreV1Api, namespace: str) -> None:
    old = core.create_namespaced_config_map(namespace, {"metadata": {"name": "old"}}).metadata.resource_version
    core.patch_namespaced_config_map("old", namespace, {"data": {"a": "b"}})
    status, _body = kubesim.request("POST", "/kubesim/compact")  # forget the event window, as etcd compaction
    assert status == 200
    with pytest.raises(ApiException) as gone:
        list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1,
                                  resource_version=old))
    assert gone.value.status == 410
    status, raw = kubesim.request(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={old}&timeoutSeconds=1")
    assert status == 200
    event = raw if isinstance(raw, dict) else json.loads(raw.splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith(f"too old resource version: {old} (")


def test_small_window_expires_old_versions(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.fixtures.kubesim_process import running_kubesim

    with running_kubesim(tmp_path_factory.mktemp("window"), extra_args=["--watch-window", "5"]) as sim:
        api_client = sim.api_client()
        core = client.CoreV1Api(api_client)
        first = core.create_namespace({"metadata": {"name": "w1"}}).metadata.resource_version
        for index in range(6):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
        with pytest.raises(ApiException) as gone:
            list(watch.Watch().stream(core.list_namespace, timeout_seconds=1, resource_version=first))
        assert gone.value.status == 410
        api_client.close()


def test_bookmarks_and_timeout(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1,
                                       allow_watch_bookmarks=True, resource_version=start))
    assert events and events[-1]["type"] == "BOOKMARK"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= int(start)


def test_selector_transitions(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "s", "labels": {"app": "flux"}}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"app": "other"}}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"app": "flux"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "unrelated"}})
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1,
                                       resource_version=start, label_selector="app=flux"))
    assert [e["type"] for e in events] == ["ADDED", "DELETED", "ADDED"]


def test_watch_across_namespaces_and_single_object(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_config_map_for_all_namespaces().metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "x"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "y"}})
    everywhere = list(watch.Watch().stream(core.list_config_map_for_all_namespaces, timeout_seconds=1,
                                           resource_version=start))
    assert [(e["object"].metadata.namespace, e["object"].metadata.name) for e in everywhere] == [
        (namespace, "x"), (namespace, "y")]
    one = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1,
                                    resource_version=start, field_selector="metadata.name=y"))
    assert [e["object"].metadata.name for e in one] == ["y"]



def test_a_client_resuming_from_every_bookmark_misses_nothing_when_the_stream_lags(
        core: client.CoreV1Api, namespace: str) -> None:
    """As the agent watches: short watches, each resumed from the last resourceVersion it saw (bookmarks
    included). Big objects meet a slow reader, so the watch's time is up while events still wait to be sent
    (the socket is full). Its closing BOOKMARK must not promise them: the resumed watches deliver them all."""
    version = core.list_namespaced_config_map(namespace).metadata.resource_version
    names = [f"big-{i:02d}" for i in range(24)]
    blob = "x" * 400_000

    def write() -> None:
        time.sleep(0.3)  # NB: the first watch is open by then
        for name in names:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": {"blob": blob}})

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    seen: set[str] = set()
    for number in range(30):
        for event in watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1,
                                          allow_watch_bookmarks=True, resource_version=version):
            raw = event["raw_object"]
            version = raw["metadata"]["resourceVersion"]
            if event["type"] == "ADDED":
                seen.add(raw["metadata"]["name"])
            if number == 0:
                time.sleep(0.3)  # NB: the slow reader: the server's writes back up behind it
        if seen == set(names):
            break
    writer.join(30)
    assert seen == set(names), f"{len(set(names) - seen)} ConfigMaps never reached the resumed watches"
