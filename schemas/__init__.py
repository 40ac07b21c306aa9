"""The contract: partner API and event models, the topic registry, the CloudEvents mapping."""
