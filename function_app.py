"""The Functions app: wiring only. Each area registers its functions on a Blueprint of its own."""

import os

import azure.durable_functions as df

from activities import configurations as configuration_activities
from activities import deletion as deletion_activities
from api import clusters, configurations, openapi, operations
from orchestrators import create_configuration, delete_configuration
from status import queue_handler

# NB: the status queue trigger names its queue by this setting; without it the host could not bind it.
os.environ.setdefault("STATUS_QUEUE_NAME", "configuration-status")

app = df.DFApp()

for blueprint in (clusters.bp, configurations.bp, operations.bp, openapi.bp,
                  create_configuration.bp, configuration_activities.bp, delete_configuration.bp,
                  deletion_activities.bp, queue_handler.bp):
    app.register_functions(blueprint)
