"""What is on disk: migration files (:mod:`.scripts`), the history lock file ``mig.sum``
(:mod:`.sumfile`) and SQL text split into statements (:mod:`.sqltext`). Nothing here connects
to a database."""
