"""Model names, offline preparation of the embedded models, and path resolution."""
