//! A streaming reader of tar archives (ustar, GNU long names, pax headers), for bulk
//! extract: it reads one 512-byte header at a time and hands each member's bytes on
//! as they arrive, so an archive of any size goes through in flat memory.

use tokio::io::{AsyncRead, AsyncReadExt};

const BLOCK: usize = 512;

/// What a header says of the member that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    pub size: u64,
    /// A regular file (the only kind bulk extract stores).
    pub is_file: bool,
}

/// A damaged archive, worded as Python's `tarfile` (which Swift's answer quotes).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TarError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads members from an archive stream in order.
pub(crate) struct TarReader<R> {
    inner: R,
    /// Bytes of the current member not yet read, and its padding to the block.
    remaining: u64,
    padding: u64,
    done: bool,
    /// Whether a header has been read: past the first one, a header that cannot
    /// be read ends the archive instead of failing it (see `read_header`).
    started: bool,
}

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for sizes of 8 GiB and more: high bit of the first byte set.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The `path` and `size` records of a pax extended header.
fn pax_records(data: &[u8]) -> (Option<String>, Option<u64>) {
    let (mut path, mut size) = (None, None);
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|b| *b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp || len > rest.len() {
            break;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            let (k, v) = (&record[..eq], &record[eq + 1..]);
            match k {
                b"path" => path = Some(String::from_utf8_lossy(v).into_owned()),
                b"size" => size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    (path, size)
}

/// Longest GNU long name or pax header this reader keeps in memory.
const MAX_META: u64 = 1024 * 1024;

impl<R: AsyncRead + Unpin> TarReader<R> {
    pub(crate) fn new(inner: R) -> TarReader<R> {
        TarReader {
            inner,
            remaining: 0,
            padding: 0,
            done: false,
            started: false,
        }
    }

    /// Reads up to `max` bytes of the current member; empty at its end.
    pub(crate) async fn read_data(&mut self, max: usize) -> Result<bytes::Bytes, TarError> {
        let want = (self.remaining.min(max as u64)) as usize;
        if want == 0 {
            return Ok(bytes::Bytes::new());
        }
        let mut buf = vec![0u8; want];
        let n = self.inner.read(&mut buf).await?;
        if n == 0 {
            return Err(TarError::Invalid("unexpected end of data"));
        }
        buf.truncate(n);
        self.remaining -= n as u64;
        Ok(buf.into())
    }

    /// Skips what is left of the current member and its padding.
    async fn skip_rest(&mut self) -> Result<(), TarError> {
        let mut left = self.remaining + self.padding;
        let mut sink = [0u8; 8192];
        while left > 0 {
            let want = left.min(sink.len() as u64) as usize;
            let n = self.inner.read(&mut sink[..want]).await?;
            if n == 0 {
                return Err(TarError::Invalid("unexpected end of data"));
            }
            left -= n as u64;
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    async fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, TarError> {
        let mut block = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            let n = self.inner.read(&mut block[got..]).await?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                return Err(TarError::Invalid("truncated header"));
            }
            got += n;
        }
        Ok(Some(block))
    }

    /// Reads a metadata member's body (GNU long name, pax header) whole.
    async fn read_meta(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        if size > MAX_META {
            return Err(TarError::Invalid("header too long"));
        }
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data).await?;
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.remaining = 0;
        self.padding = pad;
        self.skip_rest().await?;
        Ok(data)
    }

    /// The next header block and its size field, or None where the archive ends.
    ///
    /// Python's `tarfile`, which Swift's bulk extract runs, fails an archive whose
    /// first header is missing, cut or damaged, and a member whose long-name or pax
    /// header is not followed by a good one (`after_meta`); anywhere else such a
    /// header ends the archive, as do the zero blocks, so an archive without its
    /// end blocks extracts as it does in Swift.
    async fn read_header(
        &mut self,
        after_meta: bool,
    ) -> Result<Option<([u8; BLOCK], u64)>, TarError> {
        let strict = !self.started || after_meta;
        let block = match self.read_block().await {
            Ok(Some(b)) => b,
            Ok(None) if !self.started => return Err(TarError::Invalid("empty file")),
            Ok(None) if after_meta => return Err(TarError::Invalid("empty header")),
            Ok(None) => return Ok(None),
            Err(e) if strict => return Err(e),
            Err(_) => return Ok(None),
        };
        if block.iter().all(|b| *b == 0) {
            if after_meta {
                return Err(TarError::Invalid("end of file header"));
            }
            return Ok(None);
        }
        let size = check_sum(&block)
            .and_then(|()| octal(&block[124..136]).ok_or(TarError::Invalid("invalid header")));
        match size {
            Ok(size) => {
                self.started = true;
                Ok(Some((block, size)))
            }
            Err(e) if strict => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The next member (after skipping the rest of the current one), or None at the
    /// end of the archive.
    pub(crate) async fn next_member(&mut self) -> Result<Option<Member>, TarError> {
        self.skip_rest().await?;
        if self.done {
            return Ok(None);
        }
        let mut long_name: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        let mut after_meta = false;
        loop {
            let Some((block, size)) = self.read_header(after_meta).await? else {
                self.done = true;
                return Ok(None);
            };
            after_meta = true;
            let kind = block[156];
            match kind {
                b'L' => {
                    let data = self.read_meta(size).await?;
                    long_name = Some(cstr(&data));
                    continue;
                }
                b'x' => {
                    let data = self.read_meta(size).await?;
                    let (p, s) = pax_records(&data);
                    if p.is_some() {
                        long_name = p;
                    }
                    pax_size = s.or(pax_size);
                    continue;
                }
                b'g' | b'K' => {
                    self.read_meta(size).await?;
                    continue;
                }
                _ => {}
            }
            let name = long_name.take().unwrap_or_else(|| header_name(&block));
            let size = pax_size.take().unwrap_or(size);
            // Directories, links and devices carry no data that extract stores;
            // their size field is skipped as any other.
            let is_file = matches!(kind, b'0' | 0 | b'7');
            self.remaining = size;
            self.padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
            return Ok(Some(Member {
                name,
                size,
                is_file,
            }));
        }
    }
}

/// A header block's checksum: the sum of its bytes, the checksum field
/// counted as spaces.
fn check_sum(block: &[u8]) -> Result<(), TarError> {
    let stored = octal(&block[148..156]).ok_or(TarError::Invalid("bad checksum"))?;
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    if sum != stored {
        return Err(TarError::Invalid("bad checksum"));
    }
    Ok(())
}

/// A member's name from its header. POSIX ustar splits long names into a
/// prefix (GNU tar uses the same bytes for other fields and says so with
/// "ustar  ").
fn header_name(block: &[u8]) -> String {
    let base = cstr(&block[0..100]);
    if &block[257..263] != b"ustar\0" {
        return base;
    }
    let prefix = cstr(&block[345..500]);
    if prefix.is_empty() {
        base
    } else {
        format!("{prefix}/{base}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: usize, kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = header(name, data.len(), b'0');
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    #[tokio::test]
    async fn reads_members_and_long_names() {
        let long = format!("c/{}", "x".repeat(150));
        let mut tar = header("c", 0, b'5');
        let mut ln = header("././@LongLink", long.len() + 1, b'L');
        ln.extend_from_slice(long.as_bytes());
        ln.push(0);
        ln.resize(ln.len().div_ceil(BLOCK) * BLOCK, 0);
        tar.extend(ln);
        tar.extend(member("ignored", b"hello"));
        tar.extend(member("c/b", &[7u8; 1000]));
        tar.extend(vec![0u8; BLOCK * 2]);
        let mut r = TarReader::new(&tar[..]);
        let d = r.next_member().await.expect("read").expect("dir");
        assert!(!d.is_file);
        let m = r.next_member().await.expect("read").expect("long");
        assert_eq!(
            (m.name.as_str(), m.size, m.is_file),
            (long.as_str(), 5, true)
        );
        assert_eq!(&r.read_data(100).await.expect("data")[..], b"hello");
        let m = r.next_member().await.expect("read").expect("b");
        assert_eq!(m.name, "c/b");
        // Not reading it: next_member skips the data.
        assert!(r.next_member().await.expect("read").is_none());
    }

    #[tokio::test]
    async fn refuses_garbage() {
        let junk = vec![1u8; BLOCK];
        assert!(TarReader::new(&junk[..]).next_member().await.is_err());
        assert!(TarReader::new(&b""[..]).next_member().await.is_err());
    }

    /// Each member's name and data, to the archive's end.
    async fn read_all(tar: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(tar);
        let mut out = Vec::new();
        while let Some(m) = r.next_member().await? {
            let mut data = Vec::new();
            loop {
                let chunk = r.read_data(4096).await?;
                if chunk.is_empty() {
                    break;
                }
                data.extend_from_slice(&chunk);
            }
            out.push((m.name, data));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn past_the_first_member_a_bad_or_missing_header_ends_the_archive() {
        let mut tar = member("a", b"one");
        tar.extend(member("b", &[2u8; 700]));
        let both = vec![
            ("a".to_owned(), b"one".to_vec()),
            ("b".to_owned(), vec![2u8; 700]),
        ];
        // No end blocks at all.
        assert_eq!(read_all(&tar).await.expect("no end blocks"), both);
        // Garbage, or half a header, where the next header would be.
        for tail in [vec![1u8; BLOCK], vec![b'x'; 100]] {
            let mut t = tar.clone();
            t.extend(tail);
            assert_eq!(read_all(&t).await.expect("tail ignored"), both);
        }
    }

    #[tokio::test]
    async fn a_cut_first_header_cut_data_or_a_bad_header_after_a_long_name_fail() {
        let cut_header = &member("a", b"one")[..300];
        assert_eq!(
            read_all(cut_header).await.expect_err("cut").to_string(),
            "truncated header"
        );
        let cut_data = &member("a", &[1u8; 2000])[..BLOCK + 1000];
        assert_eq!(
            read_all(cut_data).await.expect_err("cut").to_string(),
            "unexpected end of data"
        );
        let mut ln = header("././@LongLink", 4, b'L');
        ln.extend_from_slice(b"abc\0");
        ln.resize(2 * BLOCK, 0);
        let mut bad = member("first", b"1");
        bad.extend(ln.clone());
        bad.extend(vec![1u8; BLOCK]);
        assert_eq!(
            read_all(&bad).await.expect_err("bad").to_string(),
            "bad checksum"
        );
        let mut ended = member("first", b"1");
        ended.extend(ln);
        assert_eq!(
            read_all(&ended).await.expect_err("end").to_string(),
            "empty header"
        );
    }

    #[tokio::test]
    async fn ustar_prefix_and_base_256_sizes_are_read() {
        let mut h = header("name", 0, b'0');
        h[345..351].copy_from_slice(b"a/long");
        // GNU base-256: the high bit of the first byte, the size in the rest.
        h[124..136].fill(0);
        h[124] = 0x80;
        h[135] = 3;
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h.extend_from_slice(b"xyz");
        h.resize(2 * BLOCK, 0);
        assert_eq!(
            read_all(&h).await.expect("read"),
            [("a/long/name".to_owned(), b"xyz".to_vec())]
        );
    }

    #[test]
    fn pax_path_and_size() {
        let rec = b"18 path=a/b/c\xc3\xa9.t\n11 size=42\n";
        assert_eq!(
            pax_records(rec),
            (Some("a/b/c\u{e9}.t".to_owned()), Some(42))
        );
    }
}
