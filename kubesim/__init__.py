"""kubesim: a Kubernetes API server emulator over HTTPS, for local runs and tests.

Clients reach it only through the kubeconfig it writes, exactly as a real cluster: the official
`kubernetes` client and `kubectl` need no insecure flags. It never imports the application.
See kubesim/README.md for what it serves and what it leaves out.
"""

KUBERNETES_VERSION = "v1.32.4"
