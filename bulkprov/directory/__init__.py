"""The account's directory as bulkprov keeps and uses it: ``cache`` (one file per account in the state
directory, with its age), ``account`` (the directory of the account a run talks to: cached or read within
the run's rate budget, one refresh for an unknown name, the fallback when it cannot be read) and
``resolve`` (names to ids, a pure function of what is known).  Reading the three listings is
:mod:`bulkprov.kore.directory`'s."""
