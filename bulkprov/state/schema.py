"""The ledger's SQL schema and its migrations (:mod:`bulkprov.state.ledger` opens, creates and migrates it).

``PRAGMA user_version`` carries :data:`SCHEMA_VERSION`; each migration is one script run in one transaction.
"""

SCHEMA_VERSION = 3
LEDGER_NAME = "ledger.sqlite3"

SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,          -- sha256(command, input sha256, host)
    command TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    host TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    state TEXT NOT NULL,             -- running | interrupted | finished | stopped-by-guard | awaiting-approval | refused
    counts TEXT,                     -- JSON {status: n}
    results_path TEXT,
    settings TEXT,                   -- JSON, never secrets
    retry_of TEXT,
    pid INTEGER,                     -- v3: the process and machine that ran it (is a "running" run alive?)
    machine TEXT,
    finished_by TEXT,                -- v3: the later sync that did what this one left undone
    note TEXT                        -- v3: why it stopped or was refused (a code)
);
CREATE INDEX runs_identity ON runs(identity, started);
CREATE TABLE rows (
    run_id TEXT NOT NULL REFERENCES runs(id),
    row INTEGER NOT NULL,
    action TEXT NOT NULL,
    email TEXT NOT NULL,
    org_user_id TEXT NOT NULL,
    key TEXT NOT NULL,               -- normalised key the API knows the user by (model.match_key)
    payload_hash TEXT NOT NULL,
    state TEXT NOT NULL,             -- pending | in_flight | done
    batch TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    status TEXT,
    reason TEXT,
    error_code TEXT,
    http_status INTEGER,
    updated TEXT NOT NULL,
    payload TEXT,                    -- v2: the update sent (JSON), so the undo file survives a crash
    PRIMARY KEY (run_id, row)
);
CREATE INDEX rows_done ON rows(key, action, status);
CREATE TABLE budget (                -- when recent requests to a host ended (wall clock), so that
    host TEXT NOT NULL,              -- back-to-back runs share the account's rate windows
    ended REAL NOT NULL
);
CREATE INDEX budget_host ON budget(host, ended);
CREATE TABLE synced_users (          -- the roster the last successful sync applied, per host
    host TEXT NOT NULL,
    key TEXT NOT NULL,
    email TEXT NOT NULL,
    org_user_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    applied TEXT,                    -- v2: the fields as last applied (JSON), for fields usersInfo omits
    PRIMARY KEY (host, key)
);
CREATE TABLE before_images (         -- v2: each user as it was before this run changed or removed it
    run_id TEXT NOT NULL REFERENCES runs(id),
    row INTEGER NOT NULL,
    user TEXT NOT NULL,              -- the usersInfo object (JSON)
    PRIMARY KEY (run_id, row)
);
"""

# Version 1 ledgers (bulkprov before the run-integrity work) gain v2's columns and table.
MIGRATE_1_TO_2 = """
ALTER TABLE rows ADD COLUMN payload TEXT;
ALTER TABLE synced_users ADD COLUMN applied TEXT;
CREATE TABLE before_images (run_id TEXT NOT NULL REFERENCES runs(id), row INTEGER NOT NULL, user TEXT NOT NULL,
                            PRIMARY KEY (run_id, row));
UPDATE runs SET state='interrupted' WHERE state='aborted';
"""
# Version 2 ledgers gain who ran each run, which later sync finished it, and why it stopped.
MIGRATE_2_TO_3 = """
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN machine TEXT;
ALTER TABLE runs ADD COLUMN finished_by TEXT;
ALTER TABLE runs ADD COLUMN note TEXT;
"""
