-- Guests: external collaborators registered by an admin. A member whose email is a
-- guest's is `guest` rather than `unmatched`.
CREATE TABLE guests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_ci TEXT NOT NULL UNIQUE,
    partner_business_id TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX members_email ON members (email_ci);
