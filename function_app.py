"""The Functions app: wiring only. Each area registers its functions on a Blueprint of its own."""

import azure.durable_functions as df

from activities import configurations as configuration_activities
from api import clusters, configurations, openapi, operations
from orchestrators import create_configuration

app = df.DFApp()

for blueprint in (clusters.bp, configurations.bp, operations.bp, openapi.bp,
                  create_configuration.bp, configuration_activities.bp):
    app.register_functions(blueprint)
