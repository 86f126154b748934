"""The Functions app: wiring only. Each area registers its functions on a Blueprint of its own."""

import azure.durable_functions as df

from api import clusters, configurations, openapi, operations

app = df.DFApp()

for blueprint in (clusters.bp, configurations.bp, operations.bp, openapi.bp):
    app.register_functions(blueprint)
