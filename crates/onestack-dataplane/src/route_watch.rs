//! Follows the host's IPv4 default routes, so the external masquerade (which goes
//! out of the default-route devices only) moves with them within about a second,
//! not at the next periodic resync: a VirtualBox NAT NIC whose DHCP lease arrives
//! after start, a laptop that changes Wi-Fi.
//!
//! An rtnetlink socket subscribed to link, IPv4 address and IPv4 route changes is
//! opened inside the host namespace (by a short-lived thread that entered it with
//! `setns`, as the metadata listeners are) and served by tokio. Links and addresses
//! count because the kernel drops the routes of a device that goes down or loses
//! its address without announcing the removal. A batch of such messages is read
//! as one, the default-route devices are read once with `ip`, and a converge is
//! asked for only when they differ from the set the last converge masqueraded to.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use super::Dataplane;

/// Lets a burst of changes (a DHCP client adds an address, then routes) settle.
const SETTLE: Duration = Duration::from_millis(300);
/// How soon a socket that could not be opened is tried again.
const RETRY: Duration = Duration::from_secs(2);
/// How often a named host namespace is checked for having been recreated.
const NS_CHECK: Duration = Duration::from_secs(10);
/// Receive buffer for one read; the kernel never splits a message.
const BUF: usize = 64 * 1024;

/// Why the route-change subscription failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("entering namespace {path}: {source}")]
    Enter {
        path: String,
        source: std::io::Error,
    },
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("reading netlink: {0}")]
    Recv(std::io::Error),
    #[error("the thread opening the netlink socket died")]
    Thread,
}

/// A subscription to the route-relevant rtnetlink messages of one namespace.
#[derive(Debug)]
pub struct RouteEvents {
    fd: AsyncFd<OwnedFd>,
    buf: Vec<u8>,
}

impl RouteEvents {
    /// Subscribes inside namespace `netns` (`/run/netns/<name>`; None: our own).
    pub async fn open(netns: Option<&str>) -> Result<RouteEvents, WatchError> {
        let fd = match netns {
            None => subscribe()?,
            Some(ns) => {
                let path = format!("/run/netns/{ns}");
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::Builder::new()
                    .name("route-watch".into())
                    .spawn(move || {
                        if tx.send(enter(&path).and_then(|()| subscribe())).is_err() {
                            tracing::debug!("route watch subscribed after its caller left");
                        }
                    })
                    .map_err(|_| WatchError::Thread)?;
                rx.await.map_err(|_| WatchError::Thread)??
            }
        };
        // SAFETY: `fd` is a valid descriptor owned by the `AsyncFd` from here on,
        // never replaced or closed while registered.
        let fd =
            unsafe { AsyncFd::register(fd) }.map_err(|e| WatchError::Socket(e.into_parts().1))?;
        Ok(RouteEvents {
            fd,
            buf: vec![0; BUF],
        })
    }

    /// Waits until messages arrive and reads all that are queued. True when one of
    /// them may have changed the default routes (a lost batch, on overflow, too).
    pub async fn next(&mut self) -> Result<bool, WatchError> {
        let buf = &mut self.buf;
        let mut guard = self.fd.readable().await.map_err(WatchError::Recv)?;
        let mut relevant = false;
        loop {
            match guard.try_io(|fd| recv(fd.get_ref(), buf)) {
                Ok(Ok(n)) => relevant |= may_change_default_routes(&buf[..n]),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => relevant = true,
                Ok(Err(e)) => return Err(WatchError::Recv(e)),
                Err(_would_block) => return Ok(relevant),
            }
        }
    }
}

/// Runs until dropped: asks for a converge (`wake`) whenever the host's
/// default-route devices differ from those the last converge masqueraded to.
/// Only worth running with `masquerade` on; the reconciler starts it then.
pub async fn watch(dataplane: Arc<Dataplane>, wake: Arc<Notify>) {
    let netns = dataplane.config().host_netns.clone();
    let mut asked_for: Option<Vec<String>> = None;
    let mut failing = false;
    loop {
        let events = match RouteEvents::open(netns.as_deref()).await {
            Ok(e) => e,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot follow default route changes; retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        failing = false;
        tracing::debug!(netns = ?netns, "following default route changes");
        match follow(events, netns.as_deref(), &dataplane, &wake, &mut asked_for).await {
            Ok(()) => tracing::info!(netns = ?netns, "host namespace recreated: subscribing again"),
            Err(e) => {
                tracing::warn!(error = %e, "route change subscription failed; subscribing again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Serves one subscription until it fails, or (Ok) until the named host
/// namespace it was opened in has been replaced by another of the same name.
async fn follow(
    mut events: RouteEvents,
    netns: Option<&str>,
    dataplane: &Dataplane,
    wake: &Notify,
    asked_for: &mut Option<Vec<String>>,
) -> Result<(), WatchError> {
    let identity = netns.and_then(super::metadata::namespace_identity);
    // Anything that changed before the subscription started.
    check(dataplane, wake, asked_for).await;
    let mut ns_check = tokio::time::interval(NS_CHECK);
    ns_check.tick().await;
    loop {
        tokio::select! {
            got = events.next() => {
                if got? {
                    tokio::time::sleep(SETTLE).await;
                    // Whatever arrived meanwhile is covered by the read below.
                    drain(&mut events).await?;
                    check(dataplane, wake, asked_for).await;
                }
            }
            _ = ns_check.tick(), if identity.is_some() => {
                if netns.and_then(super::metadata::namespace_identity) != identity {
                    return Ok(());
                }
            }
        }
    }
}

/// Reads what is queued without waiting.
async fn drain(events: &mut RouteEvents) -> Result<(), WatchError> {
    while let Ok(got) = tokio::time::timeout(Duration::ZERO, events.next()).await {
        got?;
    }
    Ok(())
}

/// One read of the default-route devices; wakes the reconciler when they differ
/// from what the last converge used and from what was already asked for.
async fn check(dataplane: &Dataplane, wake: &Notify, asked_for: &mut Option<Vec<String>>) {
    let Some(applied) = dataplane.masquerade_uplinks() else {
        return;
    };
    let now = match dataplane.default_route_devices().await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "default routes not readable");
            return;
        }
    };
    if now == applied {
        *asked_for = None;
        return;
    }
    if asked_for.as_ref() == Some(&now) {
        return;
    }
    tracing::info!(
        masqueraded = ?applied,
        default_route_devices = ?now,
        "default routes changed: converging the external masquerade"
    );
    *asked_for = Some(now);
    wake.notify_one();
}

/// Whether a batch of rtnetlink messages can change `ip -4 route show default`:
/// an IPv4 route with prefix length 0, any link change (a device going down or
/// away takes its routes silently) or an IPv4 address change (likewise).
pub fn may_change_default_routes(batch: &[u8]) -> bool {
    let mut rest = batch;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if len < 16 || len > rest.len() {
            return true; // malformed: better one read too many
        }
        let body = &rest[16..len];
        let family = body.first().copied().map(i32::from);
        let relevant = match kind {
            libc::RTM_NEWLINK | libc::RTM_DELLINK => true,
            libc::RTM_NEWADDR | libc::RTM_DELADDR => family == Some(libc::AF_INET),
            libc::RTM_NEWROUTE | libc::RTM_DELROUTE => {
                family == Some(libc::AF_INET) && body.get(1) == Some(&0)
            }
            _ => false,
        };
        if relevant {
            return true;
        }
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or_default();
    }
    false
}

fn enter(path: &str) -> Result<(), WatchError> {
    super::netns::enter_path(std::path::Path::new(path)).map_err(|source| WatchError::Enter {
        path: path.to_string(),
        source,
    })
}

/// A nonblocking NETLINK_ROUTE socket bound to the link, IPv4 address and IPv4
/// route multicast groups of the calling thread's namespace.
fn subscribe() -> Result<OwnedFd, WatchError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(WatchError::Socket(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a new, valid descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid starting value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups =
        (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV4_ROUTE) as u32;
    // SAFETY: `addr` is a valid sockaddr_nl for the length given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(WatchError::Socket(std::io::Error::last_os_error()));
    }
    Ok(fd)
}

fn recv(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rtnetlink message: header, then `body`, padded to 4 bytes.
    fn msg(kind: u16, body: &[u8]) -> Vec<u8> {
        let len = 16 + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        m.resize((len + 3) & !3, 0);
        m
    }

    /// An rtmsg: family, destination prefix length, then the rest zero.
    fn route(kind: u16, family: i32, dst_len: u8) -> Vec<u8> {
        let mut body = vec![family as u8, dst_len];
        body.resize(12, 0);
        msg(kind, &body)
    }

    #[test]
    fn only_default_routes_links_and_ipv4_addresses_count() {
        let inet = libc::AF_INET;
        let inet6 = libc::AF_INET6;
        assert!(may_change_default_routes(&route(
            libc::RTM_NEWROUTE,
            inet,
            0
        )));
        assert!(may_change_default_routes(&route(
            libc::RTM_DELROUTE,
            inet,
            0
        )));
        assert!(!may_change_default_routes(&route(
            libc::RTM_NEWROUTE,
            inet,
            24
        )));
        assert!(!may_change_default_routes(&route(
            libc::RTM_NEWROUTE,
            inet6,
            0
        )));
        assert!(may_change_default_routes(&msg(libc::RTM_DELLINK, &[0; 16])));
        assert!(may_change_default_routes(&msg(libc::RTM_NEWLINK, &[0; 16])));
        assert!(may_change_default_routes(&msg(
            libc::RTM_DELADDR,
            &[inet as u8, 24, 0, 0, 0, 0, 0, 0]
        )));
        assert!(!may_change_default_routes(&msg(
            libc::RTM_NEWADDR,
            &[inet6 as u8, 64, 0, 0, 0, 0, 0, 0]
        )));
        assert!(!may_change_default_routes(&[]));
    }

    #[test]
    fn a_batch_counts_if_any_message_does() {
        let mut batch = route(libc::RTM_NEWROUTE, libc::AF_INET, 32);
        batch.extend(route(libc::RTM_NEWROUTE, libc::AF_INET6, 0));
        assert!(!may_change_default_routes(&batch));
        batch.extend(route(libc::RTM_DELROUTE, libc::AF_INET, 0));
        assert!(may_change_default_routes(&batch));
        // A truncated or nonsensical header is read as "maybe".
        assert!(may_change_default_routes(&[
            200, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
    }
}
