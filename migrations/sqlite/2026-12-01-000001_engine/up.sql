-- Hubs: connected Meta businesses. The access token and app secret are AES-256-GCM
-- ciphertexts (nonce, ciphertext, tag), sealed with the hub id as associated data.
CREATE TABLE hubs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    business_id TEXT NOT NULL,
    business_name TEXT NOT NULL,
    app_id TEXT NOT NULL,
    login_method TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    owner TEXT NOT NULL,
    access_token BLOB NOT NULL,
    app_secret BLOB,
    safeguard_percent INTEGER NOT NULL,
    safeguard_window_minutes INTEGER NOT NULL,
    safeguard_max_removals INTEGER,
    sync_interval_hours INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A business is connected at most once at a time.
CREATE UNIQUE INDEX hubs_business ON hubs (business_id) WHERE status <> 'disconnected';

-- Access grants: a directory group or user gets a role (and asset tasks) on a hub. Deleting
-- the group or user deletes its grants, in the same transaction that enqueues the
-- reconciles of everyone they reached.
CREATE TABLE grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    hub_seq BIGINT NOT NULL REFERENCES hubs (seq) ON DELETE CASCADE,
    group_seq BIGINT REFERENCES groups (seq) ON DELETE CASCADE,
    user_seq BIGINT REFERENCES users (seq) ON DELETE CASCADE,
    hub_role TEXT NOT NULL,
    business_role TEXT NOT NULL,
    -- JSON: [{"asset_id": "...", "kind": "page" | "ad_account" | "catalog", "tasks": [...]}]
    assets TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((group_seq IS NULL) <> (user_seq IS NULL))
);
CREATE INDEX grants_hub ON grants (hub_seq);
CREATE INDEX grants_group ON grants (group_seq);
CREATE INDEX grants_user ON grants (user_seq);

-- Members: people as Meta shows them in a hub's business (or a pending invitation), one
-- per email. `user_id` is the matched directory user's SCIM id; it has no foreign key
-- because the member outlives the user until the user's removal has reached Meta.
CREATE TABLE members (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    hub_seq BIGINT NOT NULL REFERENCES hubs (seq) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_ci TEXT NOT NULL,
    name TEXT,
    business_user_id TEXT,
    invitation_id TEXT,
    meta_status TEXT NOT NULL,
    business_role TEXT,
    -- JSON: {"<asset id>": ["TASK", ...]}, as last seen or set.
    assets TEXT NOT NULL,
    state TEXT NOT NULL,
    user_id TEXT,
    hub_role TEXT,
    exemption_reason TEXT,
    exemption_by TEXT,
    exemption_at BIGINT,
    partner_business_id TEXT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (hub_seq, email_ci)
);
CREATE INDEX members_user ON members (user_id);

-- The durable task queue. A worker claims a task by setting it `running` with a lease, one
-- more attempt and one more claim; the claim number is the fencing token every later write
-- of that worker must present. `attempts` counts the attempts that used up a try (a
-- deferral gives its attempt back); `claims` only grows.
CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    hub_seq BIGINT NOT NULL REFERENCES hubs (seq) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    user_id TEXT,
    member_id TEXT,
    email TEXT,
    triggered_by TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    claims INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_after BIGINT NOT NULL,
    lease_until BIGINT,
    status_reason TEXT,
    -- JSON {"class", "code", "subcode", "message"}
    last_error TEXT,
    -- JSON, while a sync runs
    progress TEXT,
    -- An owner approved this task's removals past the safeguard.
    approved BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
-- One waiting reconcile per (hub, user); `running` is left out, so a change that arrives
-- while that person's reconcile runs queues one more run instead of being lost.
CREATE UNIQUE INDEX tasks_one_waiting_reconcile ON tasks (hub_seq, user_id)
    WHERE kind = 'reconcile_member' AND status IN ('pending', 'deferred');
-- One sync per hub at a time, waiting or running.
CREATE UNIQUE INDEX tasks_one_sync ON tasks (hub_seq)
    WHERE kind = 'sync_hub' AND status IN ('pending', 'deferred', 'running');
CREATE INDEX tasks_due ON tasks (status, run_after);
CREATE INDEX tasks_by_hub ON tasks (hub_seq, seq);
CREATE INDEX tasks_by_user ON tasks (user_id);

-- The assets the hub's last sync saw (Pages, ad accounts, catalogs of the business).
CREATE TABLE hub_assets (
    hub_seq BIGINT NOT NULL REFERENCES hubs (seq) ON DELETE CASCADE,
    asset_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    owned_by TEXT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (hub_seq, asset_id)
);

-- The Graph calls each task made, in order, with their outcome.
CREATE TABLE task_calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_seq BIGINT NOT NULL REFERENCES tasks (seq) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    request TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX task_calls_task ON task_calls (task_seq, seq);
