"""The Functions app: wiring only. Each area registers its functions on a Blueprint of its own."""

import os

import azure.durable_functions as df

from activities import configurations as configuration_activities
from activities import deletion as deletion_activities
from api import clusters, configuration_details, configurations, openapi, operations
from cleanup import timer as cleanup_timer
from orchestrators import create_configuration, delete_configuration
from portal import pages
from shared.settings import DEFAULT_CLEANUP_SCHEDULE
from status import queue_handler

# NB: the status queue trigger and the cleanup timer name their queue / schedule by these settings. These
# defaults reach the Python worker (and devhost) only; the real Functions host resolves %NAME% from its app
# settings, so in Azure both must be set (README, "Beyond one machine").
os.environ.setdefault("STATUS_QUEUE_NAME", "configuration-status")
os.environ.setdefault("CLEANUP_SCHEDULE", DEFAULT_CLEANUP_SCHEDULE)

app = df.DFApp()

for blueprint in (clusters.bp, configurations.bp, configuration_details.bp, operations.bp, openapi.bp,
                  create_configuration.bp, configuration_activities.bp, delete_configuration.bp,
                  deletion_activities.bp, queue_handler.bp, cleanup_timer.bp, pages.bp):
    app.register_functions(blueprint)
