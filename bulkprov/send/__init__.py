"""Sending: batches, the multi-window rate limiter, the dispatcher (retry, breaker, reconcile), payloads."""
