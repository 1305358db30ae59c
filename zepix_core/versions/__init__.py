"""Version management: the versioned plugin store, the policy that picks the
version that runs, upgrades through the probation gate, canaries and removal.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["canary", "gate", "installing", "origin", "policy", "reconcile", "removal", "rules", "store"]
