"""`azlocal`: the az-compatible command line of the local GitOps configuration service (SPEC section 8)."""
