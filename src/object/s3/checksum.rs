//! `x-amz-checksum-*`: the CRC32, CRC32C, SHA-1 or SHA-256 of the body that boto3
//! (≥ 1.36) and the aws CLI send by default, as a header or as an `aws-chunked`
//! trailer. The body is hashed as it passes; a mismatch fails the stream before the
//! object's row is written (S3's `BadDigest`), so a corrupted upload stores nothing.

use base64::Engine;
use sha1::Digest as _;

/// The checksum algorithms S3 defines (CRC64NVME is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
}

impl Algorithm {
    pub(super) fn from_header(name: &str) -> Option<Algorithm> {
        Some(
            match name
                .trim()
                .to_ascii_lowercase()
                .strip_prefix("x-amz-checksum-")?
            {
                "crc32" => Algorithm::Crc32,
                "crc32c" => Algorithm::Crc32c,
                "sha1" => Algorithm::Sha1,
                "sha256" => Algorithm::Sha256,
                _ => return None,
            },
        )
    }

    pub(super) fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name S3's messages use (`CRC32`).
    pub(super) fn label(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Whether a base64 value has this algorithm's length.
    pub(super) fn valid_value(self, b64: &str) -> bool {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .is_ok_and(|v| v.len() == self.digest_len())
    }
}

/// A running checksum.
pub(super) enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub(super) fn new(alg: Algorithm) -> Hasher {
        match alg {
            Algorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The checksum as S3 writes it: base64 of the big-endian digest.
    pub(super) fn finish(self) -> String {
        let raw: Vec<u8> = match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// What a request asks to be checked: the algorithm and, for a header, its value
/// (a trailer's value comes at the end of the `aws-chunked` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expected {
    pub alg: Algorithm,
    pub value: Option<String>,
}

/// The checksum a request declares, or the `InvalidRequest` message of a bad one.
pub(super) fn expected(headers: &axum::http::HeaderMap) -> Result<Option<Expected>, String> {
    let mut found = None;
    for (name, value) in headers {
        let Some(alg) = Algorithm::from_header(name.as_str()) else {
            continue;
        };
        let v = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
        if !alg.valid_value(&v) {
            return Err(format!("Value for {} header is invalid.", alg.header()));
        }
        if found.is_some() {
            return Err("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.".into());
        }
        found = Some(Expected {
            alg,
            value: Some(v),
        });
    }
    if found.is_some() {
        return Ok(found);
    }
    if let Some(t) = headers.get("x-amz-trailer") {
        let t = String::from_utf8_lossy(t.as_bytes()).to_ascii_lowercase();
        let Some(alg) = Algorithm::from_header(&t) else {
            return Err(format!(
                "The value specified in the x-amz-trailer header is not supported: {t}"
            ));
        };
        return Ok(Some(Expected { alg, value: None }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(alg: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(alg);
        h.update(&data[..3]);
        h.update(&data[3..]);
        h.finish()
    }

    #[test]
    fn known_values() {
        // The values boto3 sends for b"hello world".
        assert_eq!(of(Algorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(of(Algorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(
            of(Algorithm::Sha1, b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            of(Algorithm::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[test]
    fn headers_and_trailers() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-amz-checksum-crc32", "DUoRhQ==".parse().expect("v"));
        assert_eq!(
            expected(&h).expect("ok"),
            Some(Expected {
                alg: Algorithm::Crc32,
                value: Some("DUoRhQ==".into())
            })
        );
        h.insert("x-amz-checksum-crc32", "nope".parse().expect("v"));
        assert!(expected(&h).is_err());
        let mut t = axum::http::HeaderMap::new();
        t.insert("x-amz-trailer", "x-amz-checksum-crc32c".parse().expect("v"));
        assert_eq!(
            expected(&t).expect("ok").map(|e| e.alg),
            Some(Algorithm::Crc32c)
        );
    }
}
