"""Every contact mig has with yoyo, behind small typed functions.

yoyo reads the migration files and owns the tables that say which migrations are applied
(``_yoyo_migration``, ``_yoyo_log``, its version table); mig uses both and writes those rows
itself, in yoyo's own format, so that ``yoyo list`` keeps working. What of yoyo's mig needs,
public or not, is reached here and nowhere else (``tests/test_architecture.py`` fails on an
import of yoyo, or a use of one of its private names, in any other module), so a yoyo
release that changes any of it is met in this package alone:

- ``ini``: yoyo's own reader of ``yoyo.ini``, loaded without the rest of yoyo;
- ``migrations``: yoyo's migration objects (made, loaded, their ids and hashes) and the
  Python migration file it imports;
- ``steps``: the insides of a loaded migration's steps, and the collector of a file being
  imported;
- ``backend``: yoyo's PostgreSQL backend on a connection mig opened and locked;
- ``rows``: yoyo's tracking tables made current, and their rows written, removed and renamed
  in yoyo's format.

yoyo is imported when it is first needed: by ``backend`` as it is imported (its class is a
subclass of yoyo's), by the other modules' functions when first called. Reading the settings
or the records therefore never imports it.
"""
