"""Backends run the pods: embedded (processes on this machine), kind, or any kube context."""
