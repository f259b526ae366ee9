"""A state directory: the run ledger (with the roster sync applied), its lock, and the room to record a run.

Below the orchestrator (:mod:`bulkprov.jobs`) and sync: a job opens its state directory once and carries it.
"""
