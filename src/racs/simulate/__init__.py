"""``racs simulate``: a deterministic structured-versus-naive prompt-caching demonstration."""
