"""A local Azure Functions host for Python v2 apps (see README.md in this folder).

Layers, bottom to top: `settings` / `hostconfig` (what the app asked for), `indexing` (what the app
contains, read through `azure.functions`' own API), `routing` / `keys` / `bindings` / `invoking` (the
engine), `http_server` (the HTTP trigger front end) and `host` (puts them together), `__main__` (CLI).
"""
