"""Learned reuse: each lineage's gaps between uses, and the policy that acts on them."""
