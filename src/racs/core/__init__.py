"""Facts and money, the bottom layer: value types, errors, limits, cache tiers, hashing,
provider facts and the model catalog, token classes and prices.

Nothing here imports from any other part of racs (the import-direction test holds it).
"""
