-- The CMS's sessions: the browser holds only a random id (its SHA-256 is the key here); the tokens the auth
-- service issued for the signed-in user stay on the server. The CMS keeps no business data.
CREATE TABLE sessions (
    id_digest TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    access_token TEXT NOT NULL,
    access_expires_at TIMESTAMPTZ NOT NULL,
    refresh_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
