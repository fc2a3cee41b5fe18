"""What runs against a connection: connections (:mod:`.connect`), the migration lock
(:mod:`.lock`), the tracking tables (:mod:`.tracking`), one migration applied or rolled back
(:mod:`.runner`), scratch databases (:mod:`.scratch`), schema snapshots (:mod:`.snapshot`) and
the diagram (:mod:`.erd`). The verbs of :mod:`mig.commands` are built from these."""
