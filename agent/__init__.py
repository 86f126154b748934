"""The cluster-side agent: watches the flux operator Deployments and reports status to the service.

It never imports the application: it talks to the cluster through a kubeconfig and to the service
through the `configuration-status` storage queue only (see README.md).
"""
