"""Each target's server asked before a run that changes targets, on one connection: where its
migration records are (two entries of a listing that reach the same records are refused), and
whether it is at head or which migration is its newest, which decides a target without running
it and proves a success the journal records still holds."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..commands.state import Head, behind, head_of
from ..config import Settings
from ..disk.scripts import Script
from ..engine.lock import TrackingPlace, tracking_place
from ..errors import BadListing, MigError
from .outcomes import Place, Recorded
from .settings import target_settings
from .targets import Target


@dataclass(frozen=True)
class Look:
    """What a target's server says before a run that changes targets, on one connection:
    where its migration records are, and what the verb asks to decide without running."""

    place: TrackingPlace
    head: Head | None = None  # proven at head (:func:`mig.commands.state.at_head`), if asked
    behind: bool = False  # proven not current, nothing to adopt (state.behind), if asked
    newest: str | None = None  # its newest applied migration, if asked and readable
    settled: bool = False  # newest was read, and no non-transactional run is unfinished


# What a verb asks of a target besides where its records are (see :func:`look_at`).
ASK_HEAD, ASK_NEWEST = "head", "newest"


def look_at(ts: Settings, verb: str, ask: str, scripts: list[Script]) -> Look | None:
    """Ask a target, on one connection: where its records are (:func:`tracking_place`) and,
    as ``ask`` says, whether it is at head (the one query of a no-op run) or its newest
    applied migration. None when it cannot be asked: the run then reports why."""
    import psycopg2

    from ..engine import tracking
    from ..engine.connect import connect, open_database

    try:
        conn = connect(open_database(ts), verb=f"fleet {verb}", watch_client=False)
    except MigError:
        return None
    try:
        place = tracking_place(conn, ts)
        found = tracking.read_head(conn, ts.migration_table)
        if ask == ASK_HEAD:
            return Look(place, head=head_of(found, scripts), behind=behind(found, scripts))
        if found is None:
            return Look(place)
        applied, unfinished = found
        return Look(place, newest=applied[-1][0] if applied else None, settled=not unfinished)
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def look_at_all(settings: Settings, targets: list[Target], jobs: int,
            ask: Callable[[Settings], Look | None]) -> dict[str, Look]:
    """Each target asked (``jobs`` at a time); refused when two reach the same records.

    :raises BadListing: two entries reach the same database and schema, however written (a
        host alias, the default port given or not, ``schema=public`` or not); each pair named
        by where the listing has them. Nothing has run.
    """
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="mig-fleet-look") as pool:
        looks = list(pool.map(lambda t: ask(target_settings(settings, t)), targets))
    first: dict[tuple, Target] = {}
    problems: list[BadListing] = []
    for target, look in zip(targets, looks):
        if look is None:
            continue
        place = look.place
        same = first.setdefault((place.server, place.database, place.schema, place.table),
                                target)
        if same is not target:
            problems.append(BadListing(
                f"{target.listed_at or target.name}: {target.where} reaches the same records "
                f"as {same.listed_at or same.name} ({same.where}): {place.shown}",
                where=target.listed_at,
                hint="list each database or schema once, however it is reached"))
    if problems:
        raise BadListing.of("the fleet", problems)
    return {t.name: look for t, look in zip(targets, looks) if look is not None}


def at_head_still(look: Look, record: Recorded) -> Place | None:
    """A recorded success holds while the target is at head (apply, seed: a seed is loaded
    only at head; a target rolled back since runs again, and its seed is refused)."""
    if look.head is None:
        return None
    return Place(look.head.version, "current")


def newest_still(look: Look, record: Recorded) -> Place | None:
    """A recorded success holds while the target's newest applied migration is the one
    recorded, and no run is unfinished (rollback, apply --to)."""
    if not look.settled or look.newest != record.version:
        return None
    return Place(look.newest)
