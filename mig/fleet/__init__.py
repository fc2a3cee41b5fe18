"""mig over a fleet: many databases, or schemas of one database, migrated with bounded
parallelism, a canary phase, a failure policy, resumable outcome records and a report
(docs/fleet.md).

- :mod:`~mig.fleet.targets`: the fleet's sources (a file, a catalog query, a name pattern)
  and shards;
- :mod:`~mig.fleet.run`: the scheduler, the canary phase and the failure policy;
- :mod:`~mig.fleet.outcomes`: what a run gives back: each target's outcome, the journal's
  account of a success, the summary;
- :mod:`~mig.fleet.journal`: the per-target outcome records that make a rerun resume;
- :mod:`~mig.fleet.verbs`: ``apply``, ``status``, ``seed``, ``rollback``, ``wait`` and
  ``verify`` over the targets, each calling mig's own verb once per target (``verify``: once
  per server);
- :mod:`~mig.fleet.report`: the progress line.
"""

from __future__ import annotations

from .outcomes import Failure, Outcome, Place, Result, Summary
from .targets import Target, load, parse_shard, shard
from .verbs import FleetOptions, apply, rollback, seed, status, verify, wait

__all__ = ["Failure", "FleetOptions", "Outcome", "Place", "Result", "Summary", "Target", "apply",
           "load", "parse_shard", "rollback", "seed", "shard", "status", "verify", "wait"]
