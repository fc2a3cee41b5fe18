"""Store users' and invitations' email addresses in lower case.

Addresses are already unique case-insensitively (the unique indexes are on lower(email)) and
sign-in compares lower(email); storing the lower-case form makes what is stored what is
compared, so exports, joins between users and invitations, and mail deduplication agree.
Lower-casing leaves lower(email) unchanged, so no unique index can be violated, and the
format checks hold for the lower-case form. Changed rows get a new updated_at (the trigger).

Irreversible: the original capitalisation is not kept. The previous schema accepts lower-case
addresses, so rolling back (``mig rollback --force``) keeps them lower-case.
"""

from mig.data import data_step

__depends__ = {"20260208_120000_system_config_and_audit_logs"}
# A commit per batch: on a busy users table, row locks last one batch, never the whole run.
__transactional__ = False


def lowercase_user_emails(batch):
    """users.email in lower case (soft-deleted users too)."""
    batch.execute("UPDATE users SET email = lower(email) WHERE {range} AND {where}")


def lowercase_invitation_emails(batch):
    """invitations.email in lower case, whatever the invitation's status."""
    batch.execute("UPDATE invitations SET email = lower(email) WHERE {range} AND {where}")


steps = [
    data_step(lowercase_user_emails, table="users", where="email <> lower(email)",
              batch_size=1000, lock_timeout="2s", attempts=5),
    data_step(lowercase_invitation_emails, table="invitations", where="email <> lower(email)",
              batch_size=1000, lock_timeout="2s", attempts=5),
]
