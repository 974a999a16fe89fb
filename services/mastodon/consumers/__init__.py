"""The durable JetStream consumers (and background work) of the service."""
