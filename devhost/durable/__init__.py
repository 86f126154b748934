"""Durable Functions for devhost: orchestrations, activities, timers, events and sub-orchestrations on Azurite.

Modules, bottom to top: `options` (host.json), `history` (events in the Durable Task JSON shape),
`replay` (task numbering and what the orchestrator's answer asks for), `store` (the table layout),
`leasing` (blob leases), `partitions` (who works which partition), `forwarding` (requests for
other partitions go to their owner), `metrics`, `engine` (steps, activities, timers, recovery),
`management` (the HTTP management API and the client binding), `service` (the host service).
"""

from devhost.durable.service import DurableService

__all__ = ["DurableService"]
