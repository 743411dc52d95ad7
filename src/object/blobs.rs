//! Object bytes on disk: one file per object under `state_dir/objects`, written to a
//! temp file while the MD5 is computed on the fly, fsynced and renamed into place, so
//! a crash leaves the old object or nothing; read back as streams of ranges. Memory
//! stays flat for any size: nothing holds a whole object.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The byte stream both front-ends hand to the service and get back from it.
pub(crate) use crate::bytestream::ByteStream;

/// Directory of object files, below the state directory.
pub(crate) const OBJECTS_DIR: &str = "objects";

#[derive(Clone)]
pub(crate) struct Blobs {
    dir: PathBuf,
}

/// A finished write: the new file's id, its size and MD5 (hex).
#[derive(Debug)]
pub(crate) struct Written {
    pub blob: String,
    pub size: u64,
    pub md5: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("object too large")]
    TooLarge,
    #[error("the client stopped sending: {0}")]
    Client(std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Blobs {
    /// Opens the store, emptying `tmp/` (writes a crash interrupted).
    pub(crate) fn open(state_dir: &Path) -> anyhow::Result<Blobs> {
        let dir = state_dir.join(OBJECTS_DIR);
        let tmp = dir.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Blobs { dir })
    }

    pub(crate) fn path(&self, blob: &str) -> PathBuf {
        let shard = blob.get(..2).unwrap_or("00");
        self.dir.join(shard).join(blob)
    }

    /// Streams `body` into a new file: temp, fsync, rename, fsync of the directory.
    /// The file is durable when this returns; the caller commits the row naming it.
    pub(crate) async fn write(
        &self,
        mut body: ByteStream,
        limit: u64,
    ) -> Result<Written, WriteError> {
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.dir.join("tmp").join(&blob);
        let mut f = tokio::fs::File::create(&tmp).await?;
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let result: Result<(), WriteError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(WriteError::Client)?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(WriteError::TooLarge);
                }
                md5.update(&chunk);
                f.write_all(&chunk).await?;
            }
            f.flush().await?;
            f.sync_all().await?;
            Ok(())
        }
        .await;
        drop(f);
        if let Err(e) = result {
            crate::fsutil::discard_async(&tmp).await;
            return Err(e);
        }
        let dest = self.path(&blob);
        let shard = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let moved = async {
            tokio::fs::create_dir_all(&shard).await?;
            tokio::fs::rename(&tmp, &dest).await?;
            let d = tokio::fs::File::open(&shard).await?;
            d.sync_all().await
        }
        .await;
        if let Err(e) = moved {
            crate::fsutil::discard_async(&tmp).await;
            return Err(e.into());
        }
        Ok(Written {
            blob,
            size,
            md5: hex::encode(md5.finalize()),
        })
    }

    /// `len` bytes of the file from `start`, as a stream of 64 KiB chunks.
    pub(crate) async fn read(
        &self,
        blob: &str,
        start: u64,
        len: u64,
    ) -> std::io::Result<ByteStream> {
        let mut f = tokio::fs::File::open(self.path(blob)).await?;
        if start > 0 {
            f.seek(SeekFrom::Start(start)).await?;
        }
        let reader = tokio_util::io::ReaderStream::with_capacity(f.take(len), 64 * 1024);
        Ok(Box::pin(reader))
    }

    /// Unlinks a file no row references; a missing file is already gone.
    pub(crate) async fn remove(&self, blob: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(blob)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every file in the store (for the start-up sweep of files a crash left
    /// behind between their rename and the commit of their row).
    pub(crate) fn list(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(&self.dir)? {
            let shard = shard?;
            if shard.file_name() == "tmp" || !shard.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(shard.path())? {
                out.push(f?.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let v: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures_util::stream::iter(v))
    }

    async fn collect(mut s: ByteStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        out
    }

    #[tokio::test]
    async fn write_then_read_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = Blobs::open(dir.path()).expect("open");
        let w = b
            .write(chunks(&[b"hello ", b"world"]), 100)
            .await
            .expect("write");
        assert_eq!(w.size, 11);
        assert_eq!(w.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            collect(b.read(&w.blob, 6, 5).await.expect("read")).await,
            b"world"
        );
        assert_eq!(b.list().expect("list"), vec![w.blob.clone()]);
        b.remove(&w.blob).await.expect("remove");
        assert!(b.list().expect("list").is_empty());
    }

    #[tokio::test]
    async fn too_large_or_broken_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = Blobs::open(dir.path()).expect("open");
        assert!(matches!(
            b.write(chunks(&[b"0123456789"]), 5).await,
            Err(WriteError::TooLarge)
        ));
        let broken: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ]));
        assert!(matches!(
            b.write(broken, 100).await,
            Err(WriteError::Client(_))
        ));
        assert!(b.list().expect("list").is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("objects/tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }
}
