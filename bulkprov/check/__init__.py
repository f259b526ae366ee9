"""The validation stage: a raw row in, an API user object or the row's errors out.

:mod:`~bulkprov.check.validator` checks one row at a time; :mod:`~bulkprov.check.columnwise` vouches for
a chunk's plain rows column by column at C speed (the rest go through the validator); both share the
duplicate bookkeeping of :mod:`~bulkprov.check.firstrows`; :mod:`~bulkprov.check.plain` says what is
normalised before the checks; :mod:`~bulkprov.check.names` what a role, bot or group name means on the account
written to (a pure function of its directory, handed down by ``jobs/``, and the lookup sheets);
:mod:`~bulkprov.check.relaxed` what strict ids off lets through.  What a column is, and its id kinds, are :mod:`bulkprov.schema`'s.
"""
