-- Console access tokens (Nova's console_auth_tokens): a console URL handed out
-- stays usable across a restart until it expires. Only the SHA-256 of the token
-- is stored, so the database never holds a usable token.

CREATE TABLE console_auth_tokens (
    -- Hex SHA-256 of the token carried in the console URL.
    token_hash    TEXT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    -- Nova's console type ('serial').
    console_type  TEXT NOT NULL,
    -- Where the proxy connects: the guest's serial socket.
    access_path   TEXT NOT NULL,
    -- Wall-clock Unix seconds: the token is refused from this instant on.
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX console_auth_tokens_instance ON console_auth_tokens (instance_uuid);
CREATE INDEX console_auth_tokens_expires ON console_auth_tokens (expires_at);
