-- SCIM bearer tokens: only the SHA-256 of each token is kept.
CREATE TABLE scim_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

-- Directory users. `attrs` holds the stored SCIM resource (JSON, without id/meta/groups);
-- the columns beside it are copies of filterable attributes, kept in step on every write.
CREATE TABLE users (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_name TEXT NOT NULL,
    user_name_ci TEXT NOT NULL UNIQUE,
    external_id TEXT,
    display_name TEXT,
    nick_name TEXT,
    title TEXT,
    user_type TEXT,
    preferred_language TEXT,
    locale TEXT,
    timezone TEXT,
    profile_url TEXT,
    active BOOLEAN NOT NULL,
    name_formatted TEXT,
    name_family TEXT,
    name_given TEXT,
    name_middle TEXT,
    name_prefix TEXT,
    name_suffix TEXT,
    employee_number TEXT,
    cost_center TEXT,
    organization TEXT,
    division TEXT,
    department TEXT,
    manager_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    attrs TEXT NOT NULL
);
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_display_name ON users (display_name);
CREATE INDEX users_updated_at ON users (updated_at);

-- One row per value of a multi-valued attribute (emails, phoneNumbers, ims, photos,
-- entitlements, roles, x509Certificates), for filters such as emails[type eq "work"].
CREATE TABLE user_values (
    user_seq BIGINT NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    attr TEXT NOT NULL,
    value TEXT,
    value_ci TEXT,
    type TEXT,
    is_primary BOOLEAN NOT NULL,
    display TEXT
);
CREATE INDEX user_values_user ON user_values (user_seq);
CREATE INDEX user_values_lookup ON user_values (attr, value_ci);

CREATE TABLE groups (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    display_name_ci TEXT NOT NULL UNIQUE,
    external_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX groups_external_id ON groups (external_id);

-- Membership rows: adding or removing one member touches one row, whatever the group's size.
CREATE TABLE group_members (
    group_seq BIGINT NOT NULL REFERENCES groups (seq) ON DELETE CASCADE,
    user_seq BIGINT NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, user_seq)
);
CREATE INDEX group_members_user ON group_members (user_seq);
