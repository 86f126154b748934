"""Settings precedence, connection strings, host id and host.json overrides (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.hostconfig import load_host_config
from devhost.settings import (
    DEVSTORE_ACCOUNT_KEY,
    SettingsError,
    default_host_id,
    is_function_disabled,
    load_settings,
    parse_connection_string,
)


def test_use_development_storage_is_expanded_to_azurite_defaults():
    account = parse_connection_string("UseDevelopmentStorage=true")
    assert account.account_name == "devstoreaccount1"
    assert account.account_key == DEVSTORE_ACCOUNT_KEY
    assert account.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert account.queue_endpoint == "http://127.0.0.1:10001/devstoreaccount1"
    assert account.table_endpoint == "http://127.0.0.1:10002/devstoreaccount1"
    assert "UseDevelopmentStorage" not in account.connection_string
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;" in account.connection_string


def test_explicit_endpoints_are_kept():
    account = parse_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k==;"
        "BlobEndpoint=http://127.0.0.1:5/devstoreaccount1;QueueEndpoint=http://127.0.0.1:6/devstoreaccount1;"
        "TableEndpoint=http://127.0.0.1:7/devstoreaccount1;"
    )
    assert (account.blob_endpoint, account.queue_endpoint, account.table_endpoint) == (
        "http://127.0.0.1:5/devstoreaccount1", "http://127.0.0.1:6/devstoreaccount1",
        "http://127.0.0.1:7/devstoreaccount1")
    assert account.account_key == "k=="


def test_cloud_account_endpoints_are_derived():
    account = parse_connection_string("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc;"
                                      "EndpointSuffix=core.windows.net")
    assert account.blob_endpoint == "https://acct.blob.core.windows.net"
    assert account.table_endpoint == "https://acct.table.core.windows.net"


@pytest.mark.parametrize("bad", ["AccountName=x", "garbage", "BlobEndpoint=http://h/acct"])
def test_unusable_connection_strings_are_rejected(bad):
    with pytest.raises(SettingsError):
        parse_connection_string(bad)


def test_environment_wins_over_local_settings(tmp_path):
    (tmp_path / "local.settings.json").write_text(json.dumps({
        "IsEncrypted": False,
        "Values": {"A": "file", "B": "file", "AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        "Host": {"LocalHttpPort": 7999},
    }))
    environ = {"B": "env"}
    settings = load_settings(tmp_path, environ)
    assert environ["A"] == "file"
    assert environ["B"] == "env"
    assert settings.skipped_local_settings == ("B",)
    assert settings.storage is not None and settings.storage.account_name == "devstoreaccount1"
    assert settings.local_http_port == 7999


def test_missing_local_settings_is_fine(tmp_path):
    settings = load_settings(tmp_path, {})
    assert settings.storage is None
    with pytest.raises(SettingsError, match="AzureWebJobsStorage is not set"):
        settings.require_storage()


def test_encrypted_local_settings_are_refused(tmp_path):
    (tmp_path / "local.settings.json").write_text('{"IsEncrypted": true, "Values": {}}')
    with pytest.raises(SettingsError, match="encrypted"):
        load_settings(tmp_path, {})


def test_host_id_from_folder_name_and_override(tmp_path):
    folder = tmp_path / "My Function_App.Name-that-is-much-longer-than-32-characters"
    folder.mkdir()
    host_id = default_host_id(folder)
    assert host_id == "my-function-app-name-that-is-muc"
    assert len(host_id) <= 32
    assert load_settings(folder, {"AzureFunctionsWebHost__hostid": "Custom-Id"}).host_id == "custom-id"


def test_disabled_setting():
    assert is_function_disabled("f", {"AzureWebJobs.f.Disabled": "true"})
    assert is_function_disabled("f", {"AzureWebJobs__f__Disabled": "1"})
    assert not is_function_disabled("f", {"AzureWebJobs.g.Disabled": "true"})


def test_route_prefix_default_custom_empty_and_override(tmp_path: Path):
    assert load_host_config(tmp_path, {}).route_prefix == "api"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0",
                                                   "extensions": {"http": {"routePrefix": "v1/"}}}))
    assert load_host_config(tmp_path, {}).route_prefix == "v1"
    config = load_host_config(tmp_path, {"AzureFunctionsJobHost__Extensions__Http__RoutePrefix": ""})
    assert config.route_prefix == ""
    config = load_host_config(tmp_path, {"AzureFunctionsJobHost__extensions__queues__batchSize": "4"})
    assert config.get("extensions", "queues", "batchSize") == "4"
    assert config.route_prefix == "v1"
