//! Image bytes on disk: streamed in with checksums computed on the fly (never held
//! in memory), written to a temp file, fsynced and renamed; streamed back out with
//! Range support.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::StreamExt;
use md5::Md5;
use sha2::{Digest, Sha512};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::format::{self, Detected, HEAD_LEN, TAIL_LEN};
use super::model::ImageData;
use crate::bytestream::ByteStream;
use crate::http::error::ApiError;
use crate::logged::OrLog;

/// Where image files live: `images/<id>` once complete, `staging/<id>` for
/// interoperable import, `.tmp-*` while being written.
#[derive(Clone)]
pub(crate) struct ImageFiles {
    images: PathBuf,
    staging: PathBuf,
}

/// What an upload produced: sizes and hashes, plus the format the bytes really are.
pub(crate) struct Received {
    pub data: ImageData,
    pub detected: Detected,
}

/// Streams hashes, the head and the tail of an image as it passes.
struct Digester {
    md5: Md5,
    sha512: Sha512,
    head: Vec<u8>,
    tail: Vec<u8>,
    size: i64,
}

impl Digester {
    fn new() -> Self {
        Digester {
            md5: Md5::new(),
            sha512: Sha512::new(),
            head: Vec::new(),
            tail: Vec::new(),
            size: 0,
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        self.md5.update(chunk);
        self.sha512.update(chunk);
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.tail
            .extend_from_slice(&chunk[chunk.len().saturating_sub(TAIL_LEN)..]);
        if self.tail.len() > TAIL_LEN {
            self.tail.drain(..self.tail.len() - TAIL_LEN);
        }
        self.size += chunk.len() as i64;
    }

    fn finish(self) -> Received {
        let detected = format::detect(&self.head, &self.tail, self.size);
        Received {
            data: ImageData {
                size: self.size,
                virtual_size: detected.virtual_size,
                checksum: hex::encode(self.md5.finalize()),
                os_hash_value: hex::encode(self.sha512.finalize()),
            },
            detected,
        }
    }
}

impl ImageFiles {
    pub(crate) fn open(state_dir: &Path) -> anyhow::Result<ImageFiles> {
        let files = ImageFiles {
            images: state_dir.join("images"),
            staging: state_dir.join("staging"),
        };
        for d in [&files.images, &files.staging] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            crate::fsutil::make_private(d)?;
        }
        Ok(files)
    }

    pub(crate) fn path(&self, id: &str) -> PathBuf {
        self.images.join(id)
    }

    pub(crate) fn staging_path(&self, id: &str) -> PathBuf {
        self.staging.join(id)
    }

    fn temp_path(&self, id: &str) -> PathBuf {
        self.images
            .join(format!(".tmp-{id}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// Removes temp files left by uploads that a crash cut short.
    pub(crate) fn sweep_temps(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.images) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count()
    }

    /// Streams an upload (or a web-download's response body) into `dest` through
    /// a temp file; at most `limit` bytes are accepted (413 beyond). Nothing is
    /// left behind on failure.
    pub(crate) async fn receive<S, E>(
        &self,
        id: &str,
        stream: S,
        dest: &Path,
        limit: i64,
    ) -> Result<Received, ApiError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.temp_path(id);
        let result = write_stream(&tmp, stream, limit).await;
        match result {
            Ok(received) => {
                tokio::fs::rename(&tmp, dest)
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?;
                sync_dir(dest).await;
                Ok(received)
            }
            Err(e) => {
                crate::fsutil::discard_async(&tmp).await;
                Err(e)
            }
        }
    }

    /// Reads a file already on disk (a staged import) for its hashes and format.
    pub(crate) async fn digest_file(path: &Path) -> anyhow::Result<Received> {
        let mut f = tokio::fs::File::open(path).await?;
        let mut d = Digester::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            d.update(&buf[..n]);
        }
        Ok(d.finish())
    }

    pub(crate) async fn remove(&self, id: &str) {
        for p in [self.path(id), self.staging_path(id)] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "could not remove image file")
                }
            }
        }
    }
}

async fn write_stream<S, E>(tmp: &Path, mut stream: S, limit: i64) -> Result<Received, ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let internal = |e: std::io::Error| ApiError::Internal(e.into());
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .await
        .map_err(internal)?;
    let mut digest = Digester::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("The image upload was interrupted: {e}")))?;
        if digest.size + chunk.len() as i64 > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "Image exceeds the storage quota or size limit: at most {limit} more bytes are allowed."
            )));
        }
        digest.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    file.sync_all().await.map_err(internal)?;
    Ok(digest.finish())
}

async fn sync_dir(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let synced = match tokio::fs::File::open(dir).await {
        Ok(d) => d.sync_all().await,
        Err(e) => Err(e),
    };
    synced.or_warn(&dir.display().to_string(), "syncing the image directory");
}

/// A parsed `Range: bytes=a-b` header against a file of `size` bytes.
pub(crate) fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (s.parse().ok()?, size - 1),
        (s, e) => (s.parse().ok()?, e.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

/// Opens `path` and returns its bytes `start..=end` as a stream.
pub(crate) async fn stream_file(path: &Path, start: u64, end: u64) -> anyhow::Result<ByteStream> {
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(start)).await?;
    Ok(crate::bytestream::from_reader(f.take(end + 1 - start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
    }

    #[tokio::test]
    async fn receive_hashes_and_enforces_limit() {
        use crate::bytestream::once;
        use bytes::Bytes;
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ImageFiles::open(dir.path()).expect("files");
        let dest = files.path("img");
        let r = files
            .receive("img", once(Bytes::from_static(b"hello")), &dest, 10)
            .await
            .expect("receive");
        assert_eq!(r.data.size, 5);
        assert_eq!(r.data.checksum, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello");
        let err = files
            .receive(
                "img2",
                once(Bytes::from_static(b"0123456789ab")),
                &files.path("img2"),
                10,
            )
            .await;
        assert!(matches!(err, Err(ApiError::PayloadTooLarge(_))));
        assert!(!files.path("img2").exists());
        assert_eq!(files.sweep_temps(), 0, "failed upload left no temp file");
    }
}
