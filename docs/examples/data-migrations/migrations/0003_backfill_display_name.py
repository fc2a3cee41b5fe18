"""Backfill accounts.display_name: the full name, else the part of the email before the @."""

from mig.data import data_step

__depends__ = {"0002_display_name"}
# One commit per batch: row locks last one batch, and a re-run resumes after the last one.
__transactional__ = False


def fill_display_name(batch):
    """Set display_name where it is still empty."""
    batch.execute(
        "UPDATE accounts"
        " SET display_name = coalesce(nullif(btrim(full_name), ''), split_part(email, '@', 1))"
        " WHERE {range} AND {where}"
    )


def clear_display_name(batch):
    """Back to the state before the backfill: no account had a display name."""
    batch.execute("UPDATE accounts SET display_name = NULL WHERE {range} AND {where}")


steps = [
    data_step(
        fill_display_name,
        clear_display_name,
        table="accounts",
        where="display_name IS NULL",
        backward_where="display_name IS NOT NULL",
        batch_size=2000,
        pause=0.01,  # seconds between batches: room for the application's own queries
        lock_timeout="2s",
        attempts=5,
    ),
]
