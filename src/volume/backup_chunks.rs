//! Incremental backups that hold only what changed, as Cinder's chunked backup
//! drivers do: every backup keeps, beside its data file, the SHA-256 of each 1 MiB
//! chunk of the volume it saw (`backup-<id>.sha256`, Cinder's "sha256file"). An
//! incremental backup's data file is a sparse file of the volume's length in which
//! only the chunks whose hash differs from its parent's are written; restoring
//! starts from the chain's full backup and lays each increment's changed chunks over
//! it, oldest first. A chunk that changed to zeros stays a hole: the hash lists, not
//! the holes, say which chunks an increment carries.
//!
//! Backups made before hash lists existed (and imported ones) have none: they are
//! whole copies, and their hashes are computed from their data when an increment
//! needs them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The chunk size (Cinder's posix driver defaults to 1.9 GB objects with 32 KiB
/// hash blocks; 1 MiB keeps a 1 GiB volume's list at 32 KiB).
pub(super) const CHUNK: usize = 1 << 20;

type Hash = [u8; 32];

/// The hash list beside a backup's data file.
pub(super) fn hashes_path(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Whether a backup's data file holds only changed chunks (it has a hash list and
/// a parent).
pub(super) fn is_delta(data: &Path, has_parent: bool) -> bool {
    has_parent && hashes_path(data).exists()
}

/// Reads up to one chunk; a short read only at the end.
fn read_chunk(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn write_hashes(data: &Path, hashes: &[Hash]) -> io::Result<()> {
    let path = hashes_path(data);
    let tmp = path.with_extension("sha256.tmp");
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    for h in hashes {
        out.write_all(h)?;
    }
    out.sync_all()?;
    std::fs::rename(&tmp, &path)
}

fn read_hashes(data: &Path) -> io::Result<Option<Vec<Hash>>> {
    let bytes = match std::fs::read(hashes_path(data)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() % 32 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a hash list", hashes_path(data).display()),
        ));
    }
    Ok(Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect(),
    ))
}

/// The hash of each chunk of a whole file (a full backup, or a volume).
fn hash_file(path: &Path) -> io::Result<Vec<Hash>> {
    let mut src = File::open(path)?;
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::new();
    loop {
        let n = read_chunk(&mut src, &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.push(Sha256::digest(&buf[..n]).into());
    }
}

/// The hash list of a backup: its own, or computed from a whole one's data.
fn hashes_of(data: &Path) -> io::Result<Vec<Hash>> {
    match read_hashes(data)? {
        Some(h) => Ok(h),
        None => hash_file(data),
    }
}

/// Records the hash list of a full backup just written at `data`.
pub(super) fn record_full(data: &Path) -> io::Result<()> {
    let hashes = hash_file(data)?;
    write_hashes(data, &hashes)
}

/// Writes an incremental backup of `source` at `dest`: only the chunks whose hash
/// differs from `parent`'s are written. Returns how many chunks it carries.
pub(super) fn write_delta(source: &Path, parent: &Path, dest: &Path) -> io::Result<usize> {
    let before = hashes_of(parent)?;
    let mut src = File::open(source)?;
    let tmp = dest.with_extension("tmp");
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut buf = vec![0u8; CHUNK];
    let (mut hashes, mut changed, mut len) = (Vec::new(), 0, 0u64);
    loop {
        let n = read_chunk(&mut src, &mut buf)?;
        if n == 0 {
            break;
        }
        let h: Hash = Sha256::digest(&buf[..n]).into();
        if before.get(hashes.len()) != Some(&h) {
            changed += 1;
            if buf[..n].iter().any(|b| *b != 0) {
                out.seek(SeekFrom::Start(len))?;
                out.write_all(&buf[..n])?;
            }
        }
        hashes.push(h);
        len += n as u64;
    }
    out.set_len(len)?;
    out.sync_all()?;
    // The list first: a data file without its list would read as a whole backup.
    write_hashes(dest, &hashes)?;
    std::fs::rename(&tmp, dest)?;
    if let Some(dir) = dest.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(changed)
}

/// Builds the volume a chain of backups describes (`chain[0]` the backup to
/// restore, each next one its parent, the last a whole backup) at `out`.
pub(super) fn materialize(chain: &[PathBuf], out: &Path) -> io::Result<()> {
    let Some((base, deltas)) = chain.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty chain"));
    };
    super::backend::copy_whole(base, out, 0)?;
    let mut dst = OpenOptions::new().write(true).open(out)?;
    let mut prev = hashes_of(base)?;
    let mut buf = vec![0u8; CHUNK];
    for delta in deltas.iter().rev() {
        let hashes = read_hashes(delta)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no hash list", delta.display()),
            )
        })?;
        let mut src = File::open(delta)?;
        for (i, h) in hashes.iter().enumerate() {
            if prev.get(i) == Some(h) {
                continue;
            }
            let at = (i * CHUNK) as u64;
            src.seek(SeekFrom::Start(at))?;
            let n = read_chunk(&mut src, &mut buf)?;
            dst.seek(SeekFrom::Start(at))?;
            dst.write_all(&buf[..n])?;
        }
        dst.set_len(src.metadata()?.len())?;
        prev = hashes;
    }
    dst.sync_all()
}

/// Removes a backup's files (data, hash list, and what a crash left half-written).
pub(super) fn remove(data: &Path) -> io::Result<()> {
    let list = hashes_path(data);
    for p in [
        data.to_owned(),
        data.with_extension("tmp"),
        list.clone(),
        list.with_extension("sha256.tmp"),
    ] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_at(path: &Path, at: u64, data: &[u8]) {
        let mut f = OpenOptions::new().write(true).open(path).expect("open");
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(data).expect("write");
    }

    /// Two increments over a full backup restore to the volume as it was at each
    /// point, and each increment holds only the chunks that changed.
    #[test]
    fn increments_carry_changed_chunks_and_restore_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vol = dir.path().join("volume");
        let len = 8 * CHUNK as u64;
        File::create(&vol)
            .expect("create")
            .set_len(len)
            .expect("len");
        write_at(&vol, 0, b"boot sector");
        write_at(&vol, 5 * CHUNK as u64 + 7, b"data five");

        let full = dir.path().join("backup-full");
        crate::volume::backend::copy_whole(&vol, &full, 0).expect("full");
        record_full(&full).expect("hashes");
        let at_full = std::fs::read(&vol).expect("read");

        // First increment: chunk 2 written, chunk 5 zeroed.
        write_at(&vol, 2 * CHUNK as u64, b"new in two");
        write_at(&vol, 5 * CHUNK as u64 + 7, &[0u8; 9]);
        let inc1 = dir.path().join("backup-inc1");
        assert_eq!(write_delta(&vol, &full, &inc1).expect("inc1"), 2);
        let at_inc1 = std::fs::read(&vol).expect("read");

        // Second increment: only chunk 7.
        write_at(&vol, 7 * CHUNK as u64, b"tail");
        let inc2 = dir.path().join("backup-inc2");
        assert_eq!(write_delta(&vol, &inc1, &inc2).expect("inc2"), 1);
        let at_inc2 = std::fs::read(&vol).expect("read");
        // Sparse: the increment's data blocks are about one chunk, not eight.
        let blocks =
            std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&inc2).expect("meta"));
        assert!(
            blocks * 512 <= 2 * CHUNK as u64,
            "increment uses {} bytes",
            blocks * 512
        );

        let out = dir.path().join("out");
        for (chain, want) in [
            (vec![full.clone()], &at_full),
            (vec![inc1.clone(), full.clone()], &at_inc1),
            (vec![inc2.clone(), inc1.clone(), full.clone()], &at_inc2),
        ] {
            materialize(&chain, &out).expect("materialize");
            assert!(
                std::fs::read(&out).expect("read") == *want,
                "chain of {}",
                chain.len()
            );
        }
        assert!(is_delta(&inc2, true) && !is_delta(&full, false));
        remove(&inc2).expect("remove");
        assert!(!inc2.exists() && !hashes_path(&inc2).exists());
    }

    /// An increment over a whole backup without a hash list (made before lists
    /// existed) hashes that backup's data instead.
    #[test]
    fn parent_without_list_is_hashed_from_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vol = dir.path().join("volume");
        File::create(&vol)
            .expect("create")
            .set_len(3 * CHUNK as u64)
            .expect("len");
        let old = dir.path().join("backup-old");
        crate::volume::backend::copy_whole(&vol, &old, 0).expect("old");
        write_at(&vol, CHUNK as u64, b"x");
        let inc = dir.path().join("backup-inc");
        assert_eq!(write_delta(&vol, &old, &inc).expect("inc"), 1);
        let out = dir.path().join("out");
        materialize(&[inc, old], &out).expect("materialize");
        assert!(std::fs::read(&out).expect("read") == std::fs::read(&vol).expect("read"));
    }
}
