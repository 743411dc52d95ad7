//! The request body as the signature declared it: a stream that checks the SHA-256
//! of a signed payload as it passes (failing at the end, before the object's row is
//! written, so a tampered body stores nothing), and the `aws-chunked` decoder with each
//! chunk's signature checked. Memory stays at one chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::auth::{ChunkSigner, Payload, chunk_signature};
use super::checksum::{Expected, Hasher};
use crate::object::blobs::ByteStream;

/// The largest `aws-chunked` chunk accepted (SDKs send 64 KiB to 8 MiB).
const MAX_CHUNK: usize = 16 * 1024 * 1024;

fn bad(flag: &AtomicBool, why: &str) -> std::io::Error {
    flag.store(true, Ordering::Release);
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned())
}

/// Where a body's checksum lands once the whole body matched it.
pub(super) type Verified = Arc<std::sync::Mutex<Option<String>>>;

/// The checks on a request body: the declared `x-amz-checksum-*` and where to
/// report it, `sum_bad` set when it does not match.
pub(super) struct ChecksumCheck {
    pub expected: Expected,
    pub bad: Arc<AtomicBool>,
    pub verified: Verified,
}

/// `raw` checked against `payload` and the declared checksum; `flag` is set when
/// the payload check fails.
pub(super) fn checked(
    raw: ByteStream,
    payload: Payload,
    flag: Arc<AtomicBool>,
    sum: Option<ChecksumCheck>,
) -> ByteStream {
    let trailers: Trailers = Arc::default();
    let body = decoded(raw, payload, flag, trailers.clone());
    match sum {
        None => body,
        Some(sum) => with_checksum(body, sum, trailers),
    }
}

/// Trailer fields of an `aws-chunked` body, filled when its last chunk is read.
type Trailers = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// Hashes the body as it passes and compares at its end with the header's value or
/// the trailer's.
fn with_checksum(body: ByteStream, sum: ChecksumCheck, trailers: Trailers) -> ByteStream {
    let state = (body, Some(Hasher::new(sum.expected.alg)), sum, trailers);
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut body, hasher, sum, trailers)| async move {
            let mut hasher = hasher?;
            match body.next().await {
                Some(Ok(c)) => {
                    hasher.update(&c);
                    Some((Ok(c), (body, Some(hasher), sum, trailers)))
                }
                Some(Err(e)) => Some((Err(e), (body, None, sum, trailers))),
                None => {
                    let want = sum.expected.value.clone().or_else(|| {
                        trailers.lock().ok().and_then(|t| {
                            t.iter()
                                .find(|(k, _)| k == sum.expected.alg.header())
                                .map(|(_, v)| v.clone())
                        })
                    });
                    let got = hasher.finish();
                    if want.as_deref() == Some(got.as_str()) {
                        if let Ok(mut v) = sum.verified.lock() {
                            *v = Some(got);
                        }
                        None
                    } else {
                        let e = bad(&sum.bad, "x-amz-checksum mismatch");
                        Some((Err(e), (body, None, sum, trailers)))
                    }
                }
            }
        },
    ))
}

fn decoded(
    raw: ByteStream,
    payload: Payload,
    flag: Arc<AtomicBool>,
    trailers: Trailers,
) -> ByteStream {
    match payload {
        Payload::Unsigned => raw,
        Payload::Sha256(expected) => {
            let state = (raw, Sha256::new(), Some(expected), flag);
            Box::pin(futures_util::stream::unfold(
                state,
                |(mut raw, mut h, expected, flag)| async move {
                    let expected = expected?;
                    match raw.next().await {
                        Some(Ok(c)) => {
                            h.update(&c);
                            Some((Ok(c), (raw, h, Some(expected), flag)))
                        }
                        Some(Err(e)) => Some((Err(e), (raw, h, None, flag))),
                        None => {
                            let got = hex::encode(h.clone().finalize());
                            if got == expected {
                                None
                            } else {
                                let e = bad(&flag, "x-amz-content-sha256 mismatch");
                                Some((Err(e), (raw, h, None, flag)))
                            }
                        }
                    }
                },
            ))
        }
        Payload::Chunked(signer) => {
            let prev = signer.as_ref().map(|s| s.seed.clone()).unwrap_or_default();
            let state = Dechunk {
                raw,
                buf: BytesMut::new(),
                signer,
                prev,
                flag,
                trailers,
                done: false,
            };
            Box::pin(futures_util::stream::unfold(state, |mut s| async move {
                if s.done {
                    return None;
                }
                match s.next_chunk().await {
                    Ok(Some(b)) => Some((Ok(b), s)),
                    Ok(None) => None,
                    Err(e) => {
                        s.done = true;
                        Some((Err(e), s))
                    }
                }
            }))
        }
    }
}

struct Dechunk {
    raw: ByteStream,
    buf: BytesMut,
    signer: Option<ChunkSigner>,
    prev: String,
    flag: Arc<AtomicBool>,
    trailers: Trailers,
    done: bool,
}

impl Dechunk {
    /// The `name:value` lines after the last chunk, up to the empty line (or the
    /// end of the body).
    async fn read_trailers(&mut self) -> std::io::Result<()> {
        loop {
            if self.buf.starts_with(b"\r\n") || self.buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            if self.buf.len() > 16 * 1024 {
                return Err(bad(&self.flag, "aws-chunked trailers too long"));
            }
            match self.raw.next().await {
                Some(Ok(c)) => self.buf.extend_from_slice(&c),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let fields: Vec<(String, String)> = text
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        if let Ok(mut t) = self.trailers.lock() {
            *t = fields;
        }
        Ok(())
    }

    /// The next data chunk; `None` after the final zero-length chunk.
    async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                let (size_hex, ext) = line.split_once(';').unwrap_or((line.as_str(), ""));
                let size = usize::from_str_radix(size_hex.trim(), 16)
                    .map_err(|_| bad(&self.flag, "bad aws-chunked header"))?;
                if size > MAX_CHUNK {
                    return Err(bad(&self.flag, "aws-chunked chunk too large"));
                }
                let need = pos + 2 + size + if size == 0 { 0 } else { 2 };
                if self.buf.len() >= need {
                    self.buf.advance(pos + 2);
                    let data = self.buf.split_to(size).freeze();
                    if size > 0 {
                        if &self.buf[..2] != b"\r\n" {
                            return Err(bad(&self.flag, "bad aws-chunked framing"));
                        }
                        self.buf.advance(2);
                    }
                    if let Some(s) = &self.signer {
                        let sig = ext.trim().strip_prefix("chunk-signature=").unwrap_or("");
                        let want = chunk_signature(s, &self.prev, &data);
                        if sig != want {
                            return Err(bad(&self.flag, "aws-chunked chunk signature mismatch"));
                        }
                        self.prev = want;
                    }
                    if size == 0 {
                        // Trailers (checksums) follow; the data is complete.
                        self.done = true;
                        self.read_trailers().await?;
                        return Ok(None);
                    }
                    return Ok(Some(data));
                }
            } else if self.buf.len() > 4096 {
                return Err(bad(&self.flag, "bad aws-chunked header"));
            }
            match self.raw.next().await {
                Some(Ok(c)) => self.buf.extend_from_slice(&c),
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "aws-chunked body ended early",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(parts: Vec<&'static [u8]>) -> ByteStream {
        Box::pin(futures_util::stream::iter(
            parts.into_iter().map(|p| Ok(Bytes::from_static(p))),
        ))
    }

    async fn all(mut s: ByteStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn sha256_checked_at_the_end() {
        let flag = Arc::new(AtomicBool::new(false));
        let good = hex::encode(Sha256::digest(b"hello"));
        let s = checked(
            of(vec![b"he", b"llo"]),
            Payload::Sha256(good),
            flag.clone(),
            None,
        );
        assert_eq!(all(s).await.expect("ok"), b"hello");
        let s = checked(
            of(vec![b"hellx"]),
            Payload::Sha256("00".repeat(32)),
            flag.clone(),
            None,
        );
        assert!(all(s).await.is_err());
        assert!(flag.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn unsigned_chunks_decode_across_reads() {
        let flag = Arc::new(AtomicBool::new(false));
        let s = checked(
            of(vec![
                b"5\r\nhel",
                b"lo\r\n4\r\n abc",
                b"\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n",
            ]),
            Payload::Chunked(None),
            flag.clone(),
            None,
        );
        assert_eq!(all(s).await.expect("ok"), b"hello abc");
    }

    fn crc32(
        value: Option<&str>,
        bad: &Arc<AtomicBool>,
        verified: &Verified,
    ) -> Option<ChecksumCheck> {
        Some(ChecksumCheck {
            expected: Expected {
                alg: super::super::checksum::Algorithm::Crc32,
                value: value.map(str::to_owned),
            },
            bad: bad.clone(),
            verified: verified.clone(),
        })
    }

    #[tokio::test]
    async fn checksums_in_headers_and_trailers() {
        let flag = Arc::new(AtomicBool::new(false));
        let sum_bad = Arc::new(AtomicBool::new(false));
        let verified = Verified::default();
        // CRC32 of "hello world" is DUoRhQ==.
        let s = checked(
            of(vec![
                b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
            ]),
            Payload::Chunked(None),
            flag.clone(),
            crc32(None, &sum_bad, &verified),
        );
        assert_eq!(all(s).await.expect("ok"), b"hello world");
        assert_eq!(
            verified.lock().expect("lock").take().as_deref(),
            Some("DUoRhQ==")
        );
        let s = checked(
            of(vec![
                b"5\r\nhello\r\n6\r\n wxrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
            ]),
            Payload::Chunked(None),
            flag.clone(),
            crc32(None, &sum_bad, &verified),
        );
        assert!(all(s).await.is_err());
        assert!(sum_bad.load(Ordering::Acquire));
        assert!(verified.lock().expect("lock").is_none());
        let ok = Arc::new(AtomicBool::new(false));
        let s = checked(
            of(vec![b"hello ", b"world"]),
            Payload::Unsigned,
            flag.clone(),
            crc32(Some("DUoRhQ=="), &ok, &verified),
        );
        assert_eq!(all(s).await.expect("ok"), b"hello world");
        assert!(!ok.load(Ordering::Acquire));
        assert_eq!(
            verified.lock().expect("lock").take().as_deref(),
            Some("DUoRhQ==")
        );
    }
}
