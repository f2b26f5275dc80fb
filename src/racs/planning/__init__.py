"""The planner's pieces: input validation, lints, the per-family planner and the engine's
memories (drift, keep-warm, usage aggregates). Pure or self-contained; the engine wires them.
"""
