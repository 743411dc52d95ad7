//! Password and secret hashing. bcrypt over a SHA-256 pre-hash, so long secrets
//! (application credential secrets are 86 characters) are not cut at bcrypt's 72 bytes.

use base64::Engine;
use sha2::{Digest, Sha256};

/// bcrypt work factor: about 60 ms per hash on one core of a small VM.
pub(crate) const COST: u32 = 10;

fn prehash(secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn hash(secret: &str) -> anyhow::Result<String> {
    Ok(bcrypt::hash(prehash(secret), COST)?)
}

pub(crate) fn verify(secret: &str, hash: &str) -> bool {
    bcrypt::verify(prehash(secret), hash).unwrap_or(false)
}

/// A random secret for generated passwords and application credentials.
/// Never starts with `-`, which a command line would take for an option
/// (`openstack --os-password -x...`).
pub(crate) fn generate(bytes: usize) -> String {
    loop {
        let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
        let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        if !s.starts_with('-') {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_never_look_like_an_option() {
        // 1 in 64 would start with `-` without the check: 2000 draws miss it
        // with a probability of about e^-31.
        for _ in 0..2000 {
            assert!(!generate(12).starts_with('-'));
        }
    }

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
