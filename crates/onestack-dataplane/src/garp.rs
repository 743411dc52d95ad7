//! Gratuitous ARP from a router's external leg when it takes on an address (its
//! gateway IP or a floating IP), as Neutron's L3 agent sends with `arping`: the
//! hosts on the external network (the laptop behind a host-only NIC) update their
//! ARP caches at once instead of sending to the MAC the address had before. The
//! frames go out of a raw packet socket opened inside the router's namespace, so no
//! helper program is needed.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

/// How many announcements, and how far apart (arping -c 3 style).
const COUNT: usize = 3;
const INTERVAL: Duration = Duration::from_millis(500);
const ETH_P_ARP: u16 = 0x0806;

/// Why announcing failed (logged; an announcement is best effort).
#[derive(Debug, thiserror::Error)]
pub enum GarpError {
    #[error("bad MAC address {0}")]
    Mac(String),
    #[error("entering namespace {path}: {source}")]
    Enter {
        path: String,
        source: std::io::Error,
    },
    #[error("no interface {0} in the namespace")]
    NoDevice(String),
    #[error("raw socket: {0}")]
    Socket(std::io::Error),
}

/// One announcement to make: `addresses` on `device` (MAC `mac`) inside the network
/// namespace file `netns` (None: the current namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub netns: Option<PathBuf>,
    pub device: String,
    pub mac: String,
    pub addresses: Vec<Ipv4Addr>,
}

/// Sends the announcements from a thread of their own (entering a namespace changes
/// the calling thread), without delaying the caller; failures are logged.
pub fn announce(a: Announcement) {
    if a.addresses.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("garp".into())
        .spawn(move || {
            if let Err(e) = send_all(&a) {
                tracing::warn!(device = %a.device, error = %e, "gratuitous ARP not sent");
            } else {
                tracing::debug!(device = %a.device, addresses = ?a.addresses, "gratuitous ARP sent");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the gratuitous ARP thread");
    }
}

fn send_all(a: &Announcement) -> Result<(), GarpError> {
    let mac = parse_mac(&a.mac).ok_or_else(|| GarpError::Mac(a.mac.clone()))?;
    if let Some(path) = &a.netns {
        enter(path)?;
    }
    let socket = raw_socket()?;
    let index = if_index(&a.device)?;
    for round in 0..COUNT {
        if round > 0 {
            std::thread::sleep(INTERVAL);
        }
        for ip in &a.addresses {
            send(&socket, index, &frame(mac, *ip))?;
        }
    }
    Ok(())
}

/// `fa:16:3e:00:00:01` as bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A broadcast Ethernet frame carrying a gratuitous ARP request for `ip`
/// (sender and target address both `ip`, target MAC zero), the form every
/// Linux neighbour table accepts as an update.
pub fn frame(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&1u16.to_be_bytes()); // request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip.octets());
    f
}

fn enter(path: &std::path::Path) -> Result<(), GarpError> {
    super::netns::enter_path(path).map_err(|source| GarpError::Enter {
        path: path.display().to_string(),
        source,
    })
}

fn raw_socket() -> Result<OwnedFd, GarpError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if fd < 0 {
        return Err(GarpError::Socket(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a new, valid descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn if_index(device: &str) -> Result<i32, GarpError> {
    let name =
        std::ffi::CString::new(device).map_err(|_| GarpError::NoDevice(device.to_owned()))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(GarpError::NoDevice(device.to_owned()));
    }
    i32::try_from(index).map_err(|_| GarpError::NoDevice(device.to_owned()))
}

fn send(socket: &OwnedFd, index: i32, frame: &[u8]) -> Result<(), GarpError> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid starting value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ARP.to_be();
    addr.sll_ifindex = index;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: `frame` and `addr` are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(GarpError::Socket(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gratuitous_arp_frame() {
        let mac = parse_mac("fa:16:3e:00:00:9a").expect("mac");
        let f = frame(mac, Ipv4Addr::new(172, 24, 4, 10));
        assert_eq!(f.len(), 42);
        assert_eq!(&f[..6], &[0xff; 6], "broadcast");
        assert_eq!(&f[6..12], &mac, "from the leg's MAC");
        assert_eq!(&f[12..14], &[0x08, 0x06], "ARP");
        assert_eq!(&f[20..22], &[0, 1], "request");
        assert_eq!(&f[22..28], &mac, "sender MAC");
        assert_eq!(&f[28..32], &[172, 24, 4, 10], "sender IP");
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[172, 24, 4, 10], "target IP = sender IP");
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("FA:16:3e:0:00:01"),
            Some([0xfa, 0x16, 0x3e, 0, 0, 1])
        );
        assert_eq!(parse_mac("fa:16:3e:00:00"), None);
        assert_eq!(parse_mac("fa:16:3e:00:00:01:02"), None);
        assert_eq!(parse_mac("zz:16:3e:00:00:01"), None);
    }
}
