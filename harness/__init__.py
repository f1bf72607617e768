"""drainlab: prove whether a service shuts down gracefully when Kubernetes deletes its pods."""

__version__ = "0.1.0"
