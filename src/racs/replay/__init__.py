"""Replay traffic through provider cache models: what-if strategies and the hindsight optimum."""
