"""The data plane: when each node's proxy really stopped routing to a deleted pod."""
