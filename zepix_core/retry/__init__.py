"""Retries for every outbound call (see the retry issue)."""
