//! Password and secret hashing. bcrypt over a SHA-256 pre-hash, so long secrets
//! (application credential secrets are 86 characters) are not cut at bcrypt's 72 bytes.

use base64::Engine;
use sha2::{Digest, Sha256};

/// bcrypt work factor: about 60 ms per hash on one core of a small VM.
pub const COST: u32 = 10;

fn prehash(secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash(secret: &str) -> anyhow::Result<String> {
    Ok(bcrypt::hash(prehash(secret), COST)?)
}

pub fn verify(secret: &str, hash: &str) -> bool {
    bcrypt::verify(prehash(secret), hash).unwrap_or(false)
}

/// A random secret for generated passwords and application credentials.
pub fn generate(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_secret() {
        let h = hash("s3cret").expect("hash");
        assert!(h.starts_with("$2"));
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cret ", &h));
        assert!(!verify("s3cret", "not a hash"));
    }

    #[test]
    fn long_secrets_differ_after_72_bytes() {
        let a = "x".repeat(80);
        let b = format!("{}y", "x".repeat(79));
        let h = hash(&a).expect("hash");
        assert!(!verify(&b, &h));
    }
}
