//! Helpers for privileged tests that build a fake host out of network namespaces:
//! a loud skip unless root with the tools, `sh`, and traffic helpers (a DHCP client,
//! ICMP ping, TCP) that run on threads that entered a namespace, so no DHCP client
//! or ping binary is needed. Shared by `tests/dataplane.rs` and
//! `tests/network_e2e.rs` (`#[macro_use] #[path = "common/netns.rs"] mod netns;`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Command;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- environment

pub(crate) fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string));
    if uid.as_deref() != Some("0") {
        return Some("not root".into());
    }
    for tool in ["ip", "nft", "dnsmasq", "sysctl", "kill"] {
        let found = std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .chain(["/usr/sbin", "/sbin"])
            .any(|d| std::path::Path::new(d).join(tool).exists());
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

macro_rules! require_privileges {
    () => {
        if let Some(reason) = $crate::netns::skip_reason() {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}

pub(crate) fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ------------------------------------------------------- namespace-bound sockets

pub(crate) mod sys {
    use std::ffi::c_void;
    unsafe extern "C" {
        pub(crate) fn setns(fd: i32, nstype: i32) -> i32;
        pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
        pub(crate) fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            val: *const c_void,
            len: u32,
        ) -> i32;
    }
    pub(crate) const CLONE_NEWNET: i32 = 0x4000_0000;
    pub(crate) const AF_INET: i32 = 2;
    pub(crate) const SOCK_RAW: i32 = 3;
    pub(crate) const IPPROTO_ICMP: i32 = 1;
    pub(crate) const AF_INET6: i32 = 10;
    pub(crate) const IPPROTO_ICMPV6: i32 = 58;
    pub(crate) const SOL_SOCKET: i32 = 1;
    pub(crate) const SO_BINDTODEVICE: i32 = 25;
}

/// Runs `f` on a thread that entered namespace `ns`; sockets it creates stay there.
pub(crate) fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid fd only changes this thread's network namespace.
        let rc = unsafe { sys::setns(file.as_raw_fd(), sys::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread panicked")
}

pub(crate) fn bind_to_device(fd: i32, dev: &str) {
    // SAFETY: the pointer and length describe `dev`'s bytes, valid for the call.
    let rc = unsafe {
        sys::setsockopt(
            fd,
            sys::SOL_SOCKET,
            sys::SO_BINDTODEVICE,
            dev.as_ptr().cast(),
            dev.len() as u32,
        )
    };
    assert_eq!(
        rc,
        0,
        "SO_BINDTODEVICE: {}",
        std::io::Error::last_os_error()
    );
}

// ------------------------------------------------------------------ DHCP client

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lease {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub router: Option<Ipv4Addr>,
    pub mtu: Option<u16>,
    /// Classless static routes (option 121) as (`a.b.c.d/len`, next hop).
    pub routes: Vec<(String, Ipv4Addr)>,
}

/// Decodes option 121 (RFC 3442): width, significant octets of the destination, router.
pub(crate) fn classless_routes(b: &[u8]) -> Vec<(String, Ipv4Addr)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let width = b[i] as usize;
        let n = width.div_ceil(8);
        let Some(chunk) = b.get(i + 1..i + 1 + n + 4) else {
            break;
        };
        let mut dst = [0u8; 4];
        dst[..n].copy_from_slice(&chunk[..n]);
        let gw = Ipv4Addr::new(chunk[n], chunk[n + 1], chunk[n + 2], chunk[n + 3]);
        out.push((format!("{}/{width}", Ipv4Addr::from(dst)), gw));
        i += 1 + n + 4;
    }
    out
}

pub(crate) fn dhcp_packet(xid: u32, mac: [u8; 6], kind: u8, extra: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // ethernet
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80; // broadcast flag: we have no address to receive unicast on
    p[28..34].copy_from_slice(&mac);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, kind]);
    for (code, val) in extra {
        p.push(*code);
        p.push(val.len() as u8);
        p.extend_from_slice(val);
    }
    p.extend_from_slice(&[55, 4, 1, 3, 26, 121, 255]);
    p
}

/// (message type, yiaddr, options) of a reply to `xid`.
/// A DHCP option: (code, value).
pub(crate) type DhcpOpt = (u8, Vec<u8>);

pub(crate) fn dhcp_parse(p: &[u8], xid: u32) -> Option<(u8, Ipv4Addr, Vec<DhcpOpt>)> {
    if p.len() < 240
        || p[0] != 2
        || p[4..8] != xid.to_be_bytes()
        || p[236..240] != [99, 130, 83, 99]
    {
        return None;
    }
    let yiaddr = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let mut opts = Vec::new();
    let mut i = 240;
    while i + 1 < p.len() && p[i] != 255 {
        if p[i] == 0 {
            i += 1;
            continue;
        }
        let (code, len) = (p[i], p[i + 1] as usize);
        opts.push((code, p.get(i + 2..i + 2 + len)?.to_vec()));
        i += 2 + len;
    }
    let kind = opts.iter().find(|(c, _)| *c == 53)?.1.first().copied()?;
    Some((kind, yiaddr, opts))
}

pub(crate) fn opt(opts: &[DhcpOpt], code: u8) -> Option<&[u8]> {
    opts.iter()
        .find(|(c, _)| *c == code)
        .map(|(_, v)| v.as_slice())
}

pub(crate) fn v4(b: &[u8]) -> Option<Ipv4Addr> {
    (b.len() >= 4).then(|| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

/// DISCOVER/OFFER/REQUEST/ACK on `eth0` of `ns`; configures the address and the
/// routes the way a DHCP client does: the option 121 routes when there are any
/// (the router option is then ignored, RFC 3442), else the default route.
pub(crate) fn dhcp(ns: &str, mac: &str) -> Result<Lease, String> {
    let mac_bytes: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap_or(0))
        .collect();
    let mac6: [u8; 6] = mac_bytes.try_into().map_err(|_| "bad mac".to_string())?;
    let lease = in_netns(ns, move || dhcp_exchange(mac6))?;
    let prefix = format!("{}/{}", lease.ip, lease.prefix);
    sh(&["ip", "-n", ns, "addr", "replace", &prefix, "dev", "eth0"]);
    for (dst, gw) in &lease.routes {
        let dst = if dst == "0.0.0.0/0" { "default" } else { dst };
        sh(&[
            "ip",
            "-n",
            ns,
            "route",
            "replace",
            dst,
            "via",
            &gw.to_string(),
        ]);
    }
    if let Some(gw) = lease.router.filter(|_| lease.routes.is_empty()) {
        sh(&[
            "ip",
            "-n",
            ns,
            "route",
            "replace",
            "default",
            "via",
            &gw.to_string(),
        ]);
    }
    Ok(lease)
}

pub(crate) fn dhcp_exchange(mac: [u8; 6]) -> Result<Lease, String> {
    dhcp_exchange_on("eth0", mac)
}

/// The DHCP exchange over device `dev` of the calling thread's namespace.
pub(crate) fn dhcp_exchange_on(dev: &str, mac: [u8; 6]) -> Result<Lease, String> {
    let sock = UdpSocket::bind("0.0.0.0:68").map_err(|e| e.to_string())?;
    bind_to_device(sock.as_raw_fd(), dev);
    sock.set_broadcast(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .map_err(|e| e.to_string())?;
    let xid: u32 = rand_xid();
    let deadline = Instant::now() + Duration::from_secs(15);
    let server: SocketAddr = "255.255.255.255:67".parse().map_err(|_| "addr")?;
    let mut offer: Option<(Ipv4Addr, Vec<u8>)> = None;
    let mut buf = [0u8; 1500];
    let mut last_send = Instant::now() - Duration::from_secs(10);
    while Instant::now() < deadline {
        if last_send.elapsed() > Duration::from_secs(1) {
            let pkt = match &offer {
                None => dhcp_packet(xid, mac, 1, &[]),
                Some((ip, sid)) => dhcp_packet(
                    xid,
                    mac,
                    3,
                    &[(50, ip.octets().to_vec()), (54, sid.clone())],
                ),
            };
            sock.send_to(&pkt, server)
                .map_err(|e| format!("send: {e}"))?;
            last_send = Instant::now();
        }
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Some((kind, yiaddr, opts)) = dhcp_parse(&buf[..n], xid) else {
            continue;
        };
        match (kind, &offer) {
            (2, None) => {
                let sid = opt(&opts, 54).ok_or("offer without server id")?.to_vec();
                offer = Some((yiaddr, sid));
                last_send = Instant::now() - Duration::from_secs(10);
            }
            (5, Some(_)) => {
                let mask = opt(&opts, 1).and_then(v4).ok_or("ack without netmask")?;
                return Ok(Lease {
                    ip: yiaddr,
                    prefix: u32::from(mask).count_ones() as u8,
                    router: opt(&opts, 3).and_then(v4),
                    mtu: opt(&opts, 26).map(|b| u16::from_be_bytes([b[0], b[1]])),
                    routes: opt(&opts, 121).map(classless_routes).unwrap_or_default(),
                });
            }
            (6, _) => return Err("DHCPNAK".into()),
            _ => {}
        }
    }
    Err("no DHCP answer within 15 s".into())
}

pub(crate) fn rand_xid() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

// ---------------------------------------------------------------- DHCPv6 client

/// DHCPv6 Solicit from `eth0` of `ns` (client id DUID-LL from `mac`, one IA_NA);
/// returns the address the server's Advertise offers. Enough to prove which
/// address a stateful server hands this MAC, without a full client.
pub(crate) fn dhcp6_solicit(ns: &str, mac: &str) -> Result<Ipv6Addr, String> {
    let mac6: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap_or(0))
        .collect();
    let link = sh(&["ip", "-n", ns, "-j", "link", "show", "dev", "eth0"]);
    let v: serde_json::Value = serde_json::from_str(&link).map_err(|e| e.to_string())?;
    let ifindex = v[0]["ifindex"].as_u64().ok_or("no ifindex")? as u32;
    in_netns(ns, move || {
        let sock = UdpSocket::bind("[::]:546").map_err(|e| e.to_string())?;
        bind_to_device(sock.as_raw_fd(), "eth0");
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .map_err(|e| e.to_string())?;
        let xid = rand_xid().to_be_bytes();
        let mut pkt = vec![1, xid[1], xid[2], xid[3]];
        let mut duid = vec![0, 3, 0, 1];
        duid.extend_from_slice(&mac6);
        let opt6 = |p: &mut Vec<u8>, code: u16, val: &[u8]| {
            p.extend_from_slice(&code.to_be_bytes());
            p.extend_from_slice(&(val.len() as u16).to_be_bytes());
            p.extend_from_slice(val);
        };
        opt6(&mut pkt, 1, &duid);
        opt6(&mut pkt, 3, &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        opt6(&mut pkt, 8, &[0, 0]);
        let server =
            std::net::SocketAddrV6::new("ff02::1:2".parse().expect("addr"), 547, 0, ifindex);
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last_send = Instant::now() - Duration::from_secs(10);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            // Sending fails while the link-local address is still tentative.
            if last_send.elapsed() > Duration::from_secs(1) && sock.send_to(&pkt, server).is_ok() {
                last_send = Instant::now();
            }
            let Ok((n, _)) = sock.recv_from(&mut buf) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let b = &buf[..n];
            if n < 4 || b[0] != 2 || b[1..4] != pkt[1..4] {
                continue;
            }
            let mut i = 4;
            while i + 4 <= n {
                let code = u16::from_be_bytes([b[i], b[i + 1]]);
                let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
                let val = b.get(i + 4..i + 4 + len).ok_or("truncated option")?;
                // IA_NA: IAID, T1, T2, then options; IAADDR (5) starts with the address.
                if code == 3 && val.len() >= 12 + 4 + 16 && val[12..14] == [0, 5] {
                    let a: [u8; 16] = val[16..32].try_into().map_err(|_| "iaaddr")?;
                    return Ok(Ipv6Addr::from(a));
                }
                i += 4 + len;
            }
            return Err(format!("advertise without an address: {b:02x?}"));
        }
        Err("no DHCPv6 advertise within 15 s".into())
    })
}

// --------------------------------------------------------------- ping and TCP

pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One ICMP echo from `ns` to `dst`; true when the reply came within `wait`.
pub(crate) fn ping(ns: &str, dst: Ipv4Addr, wait: Duration) -> bool {
    echo(ns, IpAddr::V4(dst), wait)
}

/// One ICMPv6 echo from `ns` to `dst`; true when the reply came within `wait`.
pub(crate) fn ping6(ns: &str, dst: Ipv6Addr, wait: Duration) -> bool {
    echo(ns, IpAddr::V6(dst), wait)
}

/// One echo request over a raw socket in `ns`. IPv4 raw sockets carry the IP
/// header on receive and need our checksum; for ICMPv6 the kernel fills in the
/// checksum and strips the header.
fn echo(ns: &str, dst: IpAddr, wait: Duration) -> bool {
    let (family, proto, request, reply) = match dst {
        IpAddr::V4(_) => (sys::AF_INET, sys::IPPROTO_ICMP, 8u8, 0u8),
        IpAddr::V6(_) => (sys::AF_INET6, sys::IPPROTO_ICMPV6, 128, 129),
    };
    in_netns(ns, move || {
        // SAFETY: plain socket(2); the fd is owned by the UdpSocket below.
        let fd = unsafe { sys::socket(family, sys::SOCK_RAW, proto) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd is a fresh, valid datagram-style socket we own.
        let sock = unsafe { UdpSocket::from_raw_fd(fd) };
        let id = (rand_xid() & 0xffff) as u16;
        let mut pkt = vec![request, 0, 0, 0];
        pkt.extend_from_slice(&id.to_be_bytes());
        pkt.extend_from_slice(&[0, 1]);
        pkt.extend_from_slice(b"onestack-ping");
        if dst.is_ipv4() {
            let c = checksum(&pkt);
            pkt[2..4].copy_from_slice(&c.to_be_bytes());
        }
        let deadline = Instant::now() + wait;
        if sock.send_to(&pkt, SocketAddr::from((dst, 0))).is_err() {
            return false;
        }
        let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let header = if dst.is_ipv4() {
                ((buf[0] & 0x0f) as usize) * 4
            } else {
                0
            };
            let icmp = &buf[header.min(n)..n];
            if from.ip() == dst
                && icmp.len() >= 8
                && icmp[0] == reply
                && icmp[4..6] == id.to_be_bytes()
            {
                return true;
            }
        }
        false
    })
}

/// A TCP listener in `ns` that answers each connection with the peer's address.
pub(crate) fn serve_peer_address(ns: &str, port: u16) {
    let listener = in_netns(ns, move || {
        TcpListener::bind(("0.0.0.0", port)).expect("bind")
    });
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let peer = conn
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = conn.write_all(peer.as_bytes());
        }
    });
}

/// Connects from `ns` and returns what the server wrote (the address it saw), or
/// the error kind (a timeout means the SYN was dropped).
pub(crate) fn tcp_peer(
    ns: &str,
    dst: Ipv4Addr,
    port: u16,
    wait: Duration,
) -> Result<String, std::io::ErrorKind> {
    in_netns(ns, move || {
        let mut s = TcpStream::connect_timeout(&SocketAddr::from((dst, port)), wait)
            .map_err(|e| e.kind())?;
        s.set_read_timeout(Some(wait)).map_err(|e| e.kind())?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| e.kind())?;
        Ok(out)
    })
}

/// Polls `f` until true or the deadline (links and ARP settle in milliseconds).
pub(crate) fn eventually(wait: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
