//! Fernet tokens: the token carries who, scope, methods and times, encrypted and
//! signed with keys kept in the state directory, so tokens survive restarts without
//! being stored. Key layout follows keystone-manage: file `0` is the staged key, the
//! highest number is the primary that signs, the rest only verify.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::Context;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

/// How many keys (staged + primary + secondaries) rotation keeps.
pub const MAX_ACTIVE_KEYS: usize = 3;

/// What a token says, before it is checked against the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPayload {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "m")]
    pub methods: Vec<String>,
    #[serde(rename = "s")]
    pub scope: ScopePayload,
    /// Issued-at and expiry, microseconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at: i64,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// This token's audit id, then the one of the token it was rescoped from.
    #[serde(rename = "a")]
    pub audit_ids: Vec<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub app_cred_id: Option<String>,
    /// The trust a trust-scoped token acts under.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub trust_id: Option<String>,
    /// The OAuth1 access token an `oauth1` token acts under.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub oauth_access_token_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopePayload {
    #[serde(rename = "n")]
    Unscoped,
    #[serde(rename = "p")]
    Project(String),
    #[serde(rename = "d")]
    Domain(String),
    #[serde(rename = "s")]
    System,
}

impl TokenPayload {
    pub fn issued_at(&self) -> DateTime<Utc> {
        micros(self.issued_at)
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        micros(self.expires_at)
    }
}

fn micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// A 22-character URL-safe audit id, as Keystone makes them.
pub fn new_audit_id() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Encrypts and decrypts tokens with the key repository of the state directory.
pub struct TokenProvider {
    dir: PathBuf,
    keys: RwLock<fernet::MultiFernet>,
}

impl TokenProvider {
    /// Loads the key repository, creating it (staged + primary) on first start.
    pub fn open(dir: &Path) -> anyhow::Result<TokenProvider> {
        ensure_repository(dir)?;
        let keys = load_keys(dir)?;
        Ok(TokenProvider {
            dir: dir.to_owned(),
            keys: RwLock::new(keys),
        })
    }

    /// Re-reads the key files, to pick up a rotation done by `onestack fernet-rotate`.
    pub fn reload(&self) -> anyhow::Result<()> {
        let keys = load_keys(&self.dir)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    pub fn encode(&self, payload: &TokenPayload) -> anyhow::Result<String> {
        let bytes = serde_json::to_vec(payload)?;
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        Ok(keys.encrypt(&bytes))
    }

    /// Decrypts a token; `None` for anything forged, corrupted or signed by a key we
    /// no longer hold. Expiry is checked by the caller against the payload.
    pub fn decode(&self, token: &str) -> Option<TokenPayload> {
        if token.len() > 1024 {
            return None;
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let bytes = keys.decrypt(token).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The keys that seal credential blobs at rest (Keystone's credential key
/// repository): `credential-keys/` next to the token keys, created on first use.
pub struct CredentialKeys(fernet::MultiFernet);

impl CredentialKeys {
    pub fn open(dir: &Path) -> anyhow::Result<CredentialKeys> {
        ensure_repository(dir)?;
        Ok(CredentialKeys(load_keys(dir)?))
    }

    pub fn seal(&self, clear: &str) -> String {
        self.0.encrypt(clear.as_bytes())
    }

    pub fn unseal(&self, sealed: &str) -> Option<String> {
        String::from_utf8(self.0.decrypt(sealed).ok()?).ok()
    }
}

impl TokenProvider {
    /// Where the credential keys live: beside the token key repository.
    pub fn credential_keys_dir(&self) -> PathBuf {
        self.dir.with_file_name("credential-keys")
    }
}

fn key_files(dir: &Path) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        {
            keys.push((n, entry.path()));
        }
    }
    keys.sort();
    Ok(keys)
}

fn ensure_repository(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    if key_files(dir)?.is_empty() {
        write_atomic(
            &dir.join("0"),
            fernet::Fernet::generate_key().as_bytes(),
            0o600,
        )?;
        write_atomic(
            &dir.join("1"),
            fernet::Fernet::generate_key().as_bytes(),
            0o600,
        )?;
    }
    Ok(())
}

/// Primary (highest index) first, so it is the one that encrypts.
fn load_keys(dir: &Path) -> anyhow::Result<fernet::MultiFernet> {
    let mut files = key_files(dir)?;
    files.reverse();
    let mut keys = Vec::new();
    for (_, path) in files {
        let text = std::fs::read_to_string(&path)?;
        let key = fernet::Fernet::new(text.trim())
            .with_context(|| format!("{} is not a valid Fernet key", path.display()))?;
        keys.push(key);
    }
    anyhow::ensure!(!keys.is_empty(), "no Fernet keys in {}", dir.display());
    Ok(fernet::MultiFernet::new(keys))
}

/// Rotates the repository like `keystone-manage fernet_rotate`: the staged key
/// becomes primary, a new staged key is made, the oldest secondaries are dropped.
pub fn rotate(dir: &Path) -> anyhow::Result<u32> {
    ensure_repository(dir)?;
    let files = key_files(dir)?;
    let next = files.last().map(|(n, _)| n + 1).unwrap_or(1);
    std::fs::rename(dir.join("0"), dir.join(next.to_string()))
        .context("promoting the staged key")?;
    write_atomic(
        &dir.join("0"),
        fernet::Fernet::generate_key().as_bytes(),
        0o600,
    )?;
    let mut files = key_files(dir)?;
    // Keep the staged key (0) and the newest MAX_ACTIVE_KEYS-1 others.
    files.retain(|(n, _)| *n != 0);
    while files.len() > MAX_ACTIVE_KEYS - 1 {
        let (_, oldest) = files.remove(0);
        std::fs::remove_file(&oldest)?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> TokenPayload {
        TokenPayload {
            user_id: "u1".into(),
            methods: vec!["password".into()],
            scope: ScopePayload::Project("p1".into()),
            issued_at: 1_700_000_000_000_000,
            expires_at: 1_700_003_600_000_000,
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
            trust_id: None,
            oauth_access_token_id: None,
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = TokenProvider::open(&dir.path().join("keys")).expect("open");
        let original = payload();
        let t = p.encode(&original).expect("encode");
        assert_eq!(p.decode(&t), Some(original));
        let mut bad = t.clone();
        bad.replace_range(20..21, if &t[20..21] == "A" { "B" } else { "A" });
        assert_eq!(p.decode(&bad), None);
        assert_eq!(p.decode("garbage"), None);
    }

    #[test]
    fn tokens_survive_rotation_until_key_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        let p = TokenProvider::open(&keys).expect("open");
        let t = p.encode(&payload()).expect("encode");
        rotate(&keys).expect("rotate 1");
        p.reload().expect("reload");
        assert!(p.decode(&t).is_some(), "old primary still verifies");
        rotate(&keys).expect("rotate 2");
        rotate(&keys).expect("rotate 3");
        p.reload().expect("reload");
        assert_eq!(key_files(&keys).expect("ls").len(), MAX_ACTIVE_KEYS);
        assert!(p.decode(&t).is_none(), "a dropped key no longer verifies");
    }
}
