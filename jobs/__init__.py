"""The scheduler, the outbox and mail delivery."""
