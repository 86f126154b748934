"""The command tree and flags, spelled as az spells them (`azlocal` = `az` for these command groups)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from cli import clusters, configurations
from cli.errors import EXIT_USAGE
from cli.output import FORMATS

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_TIMEOUT = 600.0
WAIT_INTERVAL, WAIT_TIMEOUT = 2.0, 3600.0
# Flags whose values are themselves flags (`--operator-params '--git-readonly'`): argparse would take such a
# value for an unknown option, so `--flag value` is joined into `--flag=value` before parsing.
FLAG_VALUED = ("--operator-params", "--helm-operator-params")


class Parser(argparse.ArgumentParser):
    """argparse with az's error line (`ERROR: ...`) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"ERROR: {self.prog}: {message}\nTry '{self.prog} -h' for help.\n")


def three_state(value: str) -> bool:
    """az's `get_three_state_flag`: `--flag` alone is true; `--flag true|false` (yes/no, 1/0) too."""
    lowered = value.lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid choice: '{value}' (choose from 'false', 'true')")


def common_flags() -> argparse.ArgumentParser:
    """The global flags every az command takes."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("Global Arguments")
    group.add_argument("--output", "-o", choices=FORMATS, default="json", help="Output format. Default: json.")
    group.add_argument("--query", help="JMESPath query string, applied before output.")
    group.add_argument("--debug", action="store_true",
                       help="Show the requests made (method, URL, status, time; never keys or secrets) "
                            "and a traceback on unexpected errors.")
    group.add_argument("--only-show-errors", action="store_true", help="Only show errors, no warnings or progress.")
    group.add_argument("--subscription", default=DEFAULT_SUBSCRIPTION,
                       help=f"Subscription id. Default: {DEFAULT_SUBSCRIPTION}.")
    return common


def add_command(group: argparse._SubParsersAction, name: str, handler: Callable, help_text: str,
                common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command = group.add_parser(name, help=help_text, description=help_text, parents=[common])
    command.set_defaults(handler=handler)
    return command


def add_configuration_target(command: argparse.ArgumentParser) -> None:
    command.add_argument("--name", "-n", required=True, help="Name of the source control configuration.")
    add_cluster_target(command)


def add_cluster_target(command: argparse.ArgumentParser) -> None:
    command.add_argument("--cluster-name", "-c", required=True, help="Name of the Kubernetes cluster.")
    command.add_argument("--resource-group", "-g", required=True, help="Name of the resource group.")
    command.add_argument("--cluster-type", choices=("connectedClusters", "managedClusters"),
                         default="connectedClusters",
                         help="connectedClusters (Azure Arc) or managedClusters (AKS). Default: connectedClusters.")


def add_wait_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--no-wait", action="store_true", help="Do not wait for the operation to finish.")
    command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                         help=f"Seconds to wait before giving up (exit 1). Default: {DEFAULT_TIMEOUT:g}.")


def add_create_flags(command: argparse.ArgumentParser) -> None:
    add_configuration_target(command)
    add = command.add_argument
    add("--repository-url", "-u", required=True, help="URL of the Git repository (http[s], git, ssh).")
    add("--scope", choices=("cluster", "namespace"), default="cluster", help="Operator scope. Default: cluster.")
    add("--operator-instance-name", help="Instance name of the operator. Default: the configuration name.")
    add("--operator-namespace", default="default", help="Namespace of the operator. Default: default.")
    add("--operator-params", default="--git-readonly",
        help="Flux daemon parameters, single-quoted. Default: '--git-readonly'.")
    add("--operator-type", default="flux", help="Type of the operator. Only flux is supported.")
    add("--ssh-private-key", help="base64-encoded PEM or OpenSSH private key for ssh repositories.")
    add("--ssh-private-key-file", help="File of the private key (read and base64-encoded).")
    add("--ssh-known-hosts", help="base64-encoded known_hosts contents.")
    add("--ssh-known-hosts-file", help="known_hosts file (read and base64-encoded).")
    add("--https-user", help="Username for https repositories (raw or base64).")
    add("--https-key", help="Key or token for https repositories (raw or base64).")
    add("--enable-helm-operator", nargs="?", const=True, default=False, type=three_state,
        metavar="{true,false}", help="Install the Helm operator. Default: false.")
    add("--helm-operator-params", help="Chart values of the Helm operator, e.g. '--set helm.versions=v3'.")
    add("--helm-operator-chart-version",
        help=f"Chart version of the Helm operator (1.2.0 or later). Default: {configurations.DEFAULT_CHART_VERSION}.")
    add_wait_flags(command)


def add_configuration_commands(group: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    create = add_command(group, "create", configurations.create,
                         "Create a source control configuration and wait until it is installed or failed.", common)
    add_create_flags(create)
    show = add_command(group, "show", configurations.show, "Show a source control configuration.", common)
    add_configuration_target(show)
    listing = add_command(group, "list", configurations.list_, "List the source control configurations of "
                          "a cluster.", common)
    add_cluster_target(listing)
    delete = add_command(group, "delete", configurations.delete,
                         "Delete a source control configuration and wait for its cluster cleanup.", common)
    add_configuration_target(delete)
    delete.add_argument("--yes", "-y", action="store_true", help="Do not prompt for confirmation.")
    add_wait_flags(delete)
    wait = add_command(group, "wait", configurations.wait,
                       "Place the CLI in a waiting state until a condition of the configuration is met.", common)
    add_configuration_target(wait)
    condition = wait.add_mutually_exclusive_group(required=True)
    condition.add_argument("--custom", help="Wait until this JMESPath query on the shown configuration is true, "
                                            "e.g. \"complianceStatus.complianceState=='Installed'\".")
    condition.add_argument("--created", action="store_true", help="Wait until created with provisioningState "
                                                                  "Succeeded.")
    condition.add_argument("--exists", action="store_true", help="Wait until the configuration exists.")
    condition.add_argument("--deleted", action="store_true", help="Wait until it is gone.")
    wait.add_argument("--interval", type=float, default=WAIT_INTERVAL,
                      help=f"Polling interval in seconds. Default: {WAIT_INTERVAL:g} (az: 30; the service is local).")
    wait.add_argument("--timeout", type=float, default=WAIT_TIMEOUT,
                      help=f"Maximum wait in seconds. Default: {WAIT_TIMEOUT:g}.")


def add_cluster_commands(group: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def add_target(command: argparse.ArgumentParser) -> None:
        command.add_argument("--name", "-n", required=True, help="Name of the connected cluster.")
        command.add_argument("--resource-group", "-g", required=True, help="Name of the resource group.")

    connect = add_command(group, "connect", clusters.connect, "Register a Kubernetes cluster with the service.",
                          common)
    add_target(connect)
    connect.add_argument("--kube-config", help="Kubeconfig file. Default: $KUBECONFIG, else ~/.kube/config.")
    connect.add_argument("--location", "-l", help="Accepted for az compatibility; not used locally.")
    add_target(add_command(group, "show", clusters.show, "Show a connected cluster.", common))
    listing = add_command(group, "list", clusters.list_, "List connected clusters.", common)
    listing.add_argument("--resource-group", "-g", help="Name of the resource group. Default: the subscription.")
    delete = add_command(group, "delete", clusters.delete, "Unregister a connected cluster.", common)
    add_target(delete)
    delete.add_argument("--yes", "-y", action="store_true", help="Do not prompt for confirmation.")


def build_parser() -> argparse.ArgumentParser:
    common = common_flags()
    root = Parser(prog="azlocal", description="az-compatible CLI of the local GitOps configuration service.")
    groups = root.add_subparsers(dest="group", required=True, parser_class=Parser, metavar="<group>")
    k8s = groups.add_parser("k8s-configuration", help="Source control configurations (Flux v1).")
    k8s_commands = k8s.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="<command>")
    flux = k8s_commands.add_parser("flux", help="The Flux commands (same operations as the group's own).")
    add_configuration_commands(flux.add_subparsers(dest="flux_command", required=True, parser_class=Parser,
                                                   metavar="<command>"), common)
    add_configuration_commands(k8s_commands, common)
    connected = groups.add_parser("connectedk8s", help="Kubernetes clusters registered with the service.")
    add_cluster_commands(connected.add_subparsers(dest="command", required=True, parser_class=Parser,
                                                  metavar="<command>"), common)
    return root


def join_flag_values(argv: list[str]) -> list[str]:
    joined: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token in FLAG_VALUED:
            value = next(tokens, None)
            joined.append(token if value is None else f"{token}={value}")
        else:
            joined.append(token)
    return joined


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(join_flag_values(sys.argv[1:] if argv is None else argv))
