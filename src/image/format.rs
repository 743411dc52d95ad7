//! Disk image format detection from the bytes themselves, so an upload whose real
//! format differs from its declared `disk_format` is refused (as Glance's format
//! inspector does), and `virtual_size` is known without running qemu-img.

/// How many leading bytes detection needs (the ISO 9660 volume descriptor ends here).
pub(crate) const HEAD_LEN: usize = 34 * 1024;
/// The VHD footer sits in the last 512 bytes of a fixed VHD.
pub(crate) const TAIL_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detected {
    /// "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso" or "raw".
    pub format: &'static str,
    pub virtual_size: i64,
    /// Set for images that are dangerous to hand to a hypervisor.
    pub unsafe_reason: Option<String>,
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn qcow2(head: &[u8]) -> Option<Detected> {
    if head.get(..4)? != b"QFI\xfb" {
        return None;
    }
    let version = be_u32(head, 4)?;
    let backing_file_offset = be_u64(head, 8)?;
    let size = be_u64(head, 24)?;
    // Version 3 headers carry incompatible feature bits; bit 2 is an external data file.
    let external_data = version >= 3 && be_u64(head, 72).is_some_and(|f| f & 0b100 != 0);
    let unsafe_reason = if backing_file_offset != 0 {
        Some("QCOW2 images with a backing file are not allowed".to_owned())
    } else if external_data {
        Some("QCOW2 images with an external data file are not allowed".to_owned())
    } else {
        None
    };
    Some(Detected {
        format: "qcow2",
        virtual_size: size as i64,
        unsafe_reason,
    })
}

fn vmdk(head: &[u8]) -> Option<Detected> {
    if head.get(..4)? == b"KDMV" {
        let sectors = le_u64(head, 12)?;
        return Some(Detected {
            format: "vmdk",
            virtual_size: (sectors * 512) as i64,
            unsafe_reason: None,
        });
    }
    if head.starts_with(b"# Disk DescriptorFile") {
        return Some(Detected {
            format: "vmdk",
            virtual_size: 0,
            unsafe_reason: Some(
                "VMDK descriptor files that reference other files are not allowed".into(),
            ),
        });
    }
    None
}

fn vdi(head: &[u8]) -> Option<Detected> {
    if le_u32(head, 64)? != 0xbeda_107f {
        return None;
    }
    Some(Detected {
        format: "vdi",
        virtual_size: le_u64(head, 368)? as i64,
        unsafe_reason: None,
    })
}

fn vhdx(head: &[u8]) -> Option<Detected> {
    (head.get(..8)? == b"vhdxfile").then_some(Detected {
        format: "vhdx",
        virtual_size: 0,
        unsafe_reason: None,
    })
}

fn vhd(head: &[u8], tail: &[u8]) -> Option<Detected> {
    let footer = if head.get(..8)? == b"conectix" {
        head
    } else if tail.len() >= 512 && &tail[tail.len() - 512..tail.len() - 504] == b"conectix" {
        &tail[tail.len() - 512..]
    } else {
        return None;
    };
    Some(Detected {
        format: "vhd",
        virtual_size: be_u64(footer, 48)? as i64,
        unsafe_reason: None,
    })
}

fn iso(head: &[u8]) -> Option<Detected> {
    let pvd = 16 * 2048;
    if head.get(pvd + 1..pvd + 6)? != b"CD001" {
        return None;
    }
    let blocks = le_u32(head, pvd + 80)?;
    let block_size = le_u16(head, pvd + 128)?;
    Some(Detected {
        format: "iso",
        virtual_size: i64::from(blocks) * i64::from(block_size),
        unsafe_reason: None,
    })
}

/// Detects the format of an image from its first `HEAD_LEN` bytes, its last
/// `TAIL_LEN` bytes and its size.
pub(crate) fn detect(head: &[u8], tail: &[u8], size: i64) -> Detected {
    qcow2(head)
        .or_else(|| vmdk(head))
        .or_else(|| vdi(head))
        .or_else(|| vhdx(head))
        .or_else(|| vhd(head, tail))
        .or_else(|| iso(head))
        .unwrap_or(Detected {
            format: "raw",
            virtual_size: size,
            unsafe_reason: None,
        })
}

/// Whether bytes detected as `detected` may be stored under `declared`.
/// Raw-like formats (raw, ami, aki, ari) take anything that is not a container
/// format (an ISO is raw bytes too); container formats must be what they say.
pub(crate) fn matches_declared(declared: &str, detected: &Detected) -> bool {
    match declared {
        "raw" | "ami" | "aki" | "ari" => matches!(detected.format, "raw" | "iso"),
        "ploop" => detected.format == "raw",
        other => detected.format == other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qcow2_header(size: u64, backing: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h
    }

    #[test]
    fn qcow2_size_and_backing_file() {
        let d = detect(&qcow2_header(1 << 30, 0), &[], 200_000);
        assert_eq!(d.format, "qcow2");
        assert_eq!(d.virtual_size, 1 << 30);
        assert!(d.unsafe_reason.is_none());
        assert!(
            detect(&qcow2_header(1 << 30, 0x200), &[], 0)
                .unsafe_reason
                .is_some()
        );
    }

    #[test]
    fn iso_vdi_vmdk_vhd() {
        let mut iso_img = vec![0u8; HEAD_LEN];
        let pvd = 16 * 2048;
        iso_img[pvd + 1..pvd + 6].copy_from_slice(b"CD001");
        iso_img[pvd + 80..pvd + 84].copy_from_slice(&100u32.to_le_bytes());
        iso_img[pvd + 128..pvd + 130].copy_from_slice(&2048u16.to_le_bytes());
        assert_eq!(
            detect(&iso_img, &[], 0),
            Detected {
                format: "iso",
                virtual_size: 204_800,
                unsafe_reason: None
            }
        );

        let mut vdi_img = vec![0u8; 512];
        vdi_img[64..68].copy_from_slice(&0xbeda_107fu32.to_le_bytes());
        vdi_img[368..376].copy_from_slice(&4096u64.to_le_bytes());
        assert_eq!(detect(&vdi_img, &[], 0).virtual_size, 4096);

        let mut vmdk_img = vec![0u8; 512];
        vmdk_img[..4].copy_from_slice(b"KDMV");
        vmdk_img[12..20].copy_from_slice(&8u64.to_le_bytes());
        assert_eq!(detect(&vmdk_img, &[], 0).virtual_size, 4096);

        let mut footer = vec![0u8; 512];
        footer[..8].copy_from_slice(b"conectix");
        footer[48..56].copy_from_slice(&(1u64 << 20).to_be_bytes());
        let d = detect(&[0u8; 1024], &footer, 1 << 20);
        assert_eq!((d.format, d.virtual_size), ("vhd", 1 << 20));
    }

    #[test]
    fn raw_is_the_fallback_and_mismatches_are_caught() {
        let raw = detect(b"hello world", &[], 11);
        assert_eq!((raw.format, raw.virtual_size), ("raw", 11));
        assert!(matches_declared("raw", &raw));
        assert!(!matches_declared("qcow2", &raw));
        let q = detect(&qcow2_header(1, 0), &[], 512);
        assert!(
            !matches_declared("raw", &q),
            "qcow2 bytes declared raw are refused"
        );
        assert!(matches_declared("qcow2", &q));
        assert!(
            detect(&[1, 2], &[], 2).format == "raw",
            "short input does not panic"
        );
    }
}
