//! The instance metadata service on 169.254.169.254:80, served by onestack itself
//! inside each DHCP namespace (Neutron's "isolated metadata", without a proxy
//! process). Instances reach it through the classless static route dnsmasq hands
//! out (`169.254.169.254/32 via <DHCP port>`); the DHCP leg carries the address.
//!
//! Each listener is bound by a short-lived thread that entered the namespace with
//! `setns`, so the socket lives there while tokio serves it from any thread. The
//! registry is keyed by network id and remembers the namespace's inode: a namespace
//! deleted and recreated by hand gets a fresh listener on the next converge.
//! Identity comes only from the TCP source address (anti-spoofing on the instance's
//! port makes it trustworthy), never from headers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, RwLock};

use axum::extract::{ConnectInfo, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Mutex;

/// The well-known metadata address and port.
pub const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
pub const METADATA_PORT: u16 = 80;
/// The address as it is put on the DHCP leg.
pub const METADATA_CIDR: &str = "169.254.169.254/32";

/// What the metadata service answers for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataReply {
    File {
        body: Vec<u8>,
        content_type: &'static str,
    },
    NotFound,
}

/// Finds the instance behind a request and answers it; implemented by compute.
#[async_trait::async_trait]
pub trait MetadataResolver: Send + Sync {
    /// The instance behind `source` on `network_id` (found through the port that owns that
    /// fixed IP; anti-spoofing makes the source address trustworthy), answering `path`.
    async fn lookup(&self, network_id: &str, source: IpAddr, path: &str) -> MetadataReply;
}

/// The resolver, replaceable while listeners run (compute may start after networking).
type ResolverSlot = Arc<RwLock<Option<Arc<dyn MetadataResolver>>>>;

/// Why a listener could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("open namespace {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("enter namespace {path}: {source}")]
    Enter {
        path: String,
        source: std::io::Error,
    },
    #[error("bind {addr} in {ns}: {source}")]
    Bind {
        addr: SocketAddr,
        ns: String,
        source: std::io::Error,
    },
    #[error("the thread binding in {0} died")]
    Thread(String),
}

/// One running listener.
struct Server {
    namespace: String,
    /// (dev, inode) of the namespace the socket was bound in.
    identity: (u64, u64),
    task: tokio::task::JoinHandle<()>,
}

/// The listeners, one per network whose DHCP namespace exists; owned by the dataplane.
#[derive(Default)]
pub struct MetadataServers {
    resolver: ResolverSlot,
    servers: Mutex<BTreeMap<String, Server>>,
}

impl std::fmt::Debug for MetadataServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has = self.resolver.read().map(|r| r.is_some()).unwrap_or(false);
        f.debug_struct("MetadataServers")
            .field("resolver", &has)
            .finish_non_exhaustive()
    }
}

impl Drop for MetadataServers {
    fn drop(&mut self) {
        for s in self.servers.get_mut().values() {
            s.task.abort();
        }
    }
}

impl MetadataServers {
    /// Sets (or clears) the resolver; running listeners use it from the next request.
    pub fn set_resolver(&self, resolver: Option<Arc<dyn MetadataResolver>>) {
        match self.resolver.write() {
            Ok(mut slot) => *slot = resolver,
            Err(poisoned) => *poisoned.into_inner() = resolver,
        }
    }

    /// Makes the listeners exactly `wanted` (network id -> namespace name): starts the
    /// missing ones, rebinds those whose namespace was recreated, stops the rest.
    pub async fn sync(&self, wanted: &BTreeMap<String, String>) -> Vec<String> {
        let mut servers = self.servers.lock().await;
        let mut errors = Vec::new();
        let stale: Vec<String> = servers
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in stale {
            if let Some(s) = servers.remove(&id) {
                tracing::info!(network = %id, "metadata listener stopped");
                s.task.abort();
            }
        }
        for (net, ns) in wanted {
            let current = namespace_identity(ns);
            if let Some(s) = servers.get(net)
                && s.namespace == *ns
                && Some(s.identity) == current
                && !s.task.is_finished()
            {
                continue;
            }
            if let Some(old) = servers.remove(net) {
                old.task.abort();
            }
            match self.start(net, ns).await {
                Ok(s) => {
                    tracing::info!(network = %net, namespace = %ns, "metadata listener started");
                    servers.insert(net.clone(), s);
                }
                Err(e) => errors.push(format!("metadata of network {net}: {e}")),
            }
        }
        errors
    }

    /// Stops every listener (teardown).
    pub async fn stop_all(&self) {
        for (_, s) in std::mem::take(&mut *self.servers.lock().await) {
            s.task.abort();
        }
    }

    /// Network ids with a running listener.
    pub async fn running(&self) -> BTreeSet<String> {
        self.servers
            .lock()
            .await
            .iter()
            .filter(|(_, s)| !s.task.is_finished())
            .map(|(id, _)| id.clone())
            .collect()
    }

    async fn start(&self, network_id: &str, ns: &str) -> Result<Server, BindError> {
        let addr = SocketAddr::from((METADATA_IP, METADATA_PORT));
        let (std_listener, identity) = bind_in_namespace(ns, addr).await?;
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|source| BindError::Bind {
                addr,
                ns: ns.to_string(),
                source,
            })?;
        let app = router(network_id.to_string(), self.resolver.clone());
        let net = network_id.to_string();
        let task = tokio::spawn(async move {
            let svc = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, svc).await {
                tracing::warn!(network = %net, error = %e, "metadata listener failed");
            }
        });
        Ok(Server {
            namespace: ns.to_string(),
            identity,
            task,
        })
    }
}

/// (dev, inode) of `/run/netns/<ns>`: a namespace recreated under the same name differs.
pub(crate) fn namespace_identity(ns: &str) -> Option<(u64, u64)> {
    let m = std::fs::metadata(format!("/run/netns/{ns}")).ok()?;
    Some((m.dev(), m.ino()))
}

/// Binds `addr` inside namespace `ns` on a dedicated thread (which then exits, so
/// no pooled thread is ever left in another namespace). Returns the nonblocking
/// listener and the identity of the namespace it was bound in.
async fn bind_in_namespace(
    ns: &str,
    addr: SocketAddr,
) -> Result<(std::net::TcpListener, (u64, u64)), BindError> {
    let path = format!("/run/netns/{ns}");
    let ns_name = ns.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("metadata-bind".into())
        .spawn(move || {
            // A receiver gone means the caller stopped waiting; nothing to tell.
            if tx.send(bind_here(&path, &ns_name, addr)).is_err() {
                tracing::debug!(ns = %ns_name, "metadata bind finished after its caller left");
            }
        })
        .map_err(|_| BindError::Thread(ns.to_string()))?;
    rx.await.map_err(|_| BindError::Thread(ns.to_string()))?
}

fn bind_here(
    path: &str,
    ns: &str,
    addr: SocketAddr,
) -> Result<(std::net::TcpListener, (u64, u64)), BindError> {
    let file = std::fs::File::open(path).map_err(|source| BindError::Open {
        path: path.to_string(),
        source,
    })?;
    let meta = file.metadata().map_err(|source| BindError::Open {
        path: path.to_string(),
        source,
    })?;
    // This thread ends right after binding.
    super::netns::enter(&file).map_err(|source| BindError::Enter {
        path: path.to_string(),
        source,
    })?;
    let bind_err = |source| BindError::Bind {
        addr,
        ns: ns.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    Ok((listener, (meta.dev(), meta.ino())))
}

#[derive(Clone)]
struct AppState {
    network_id: Arc<str>,
    resolver: ResolverSlot,
}

fn router(network_id: String, resolver: ResolverSlot) -> axum::Router {
    axum::Router::new().fallback(serve).with_state(AppState {
        network_id: network_id.into(),
        resolver,
    })
}

/// Every path goes to the resolver; the caller is the TCP peer, whatever the headers say.
async fn serve(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let resolver = st.resolver.read().ok().and_then(|r| r.clone());
    let reply = match resolver {
        Some(r) => r.lookup(&st.network_id, peer.ip(), uri.path()).await,
        None => MetadataReply::NotFound,
    };
    tracing::debug!(network = %st.network_id, source = %peer.ip(), path = uri.path(),
        found = matches!(reply, MetadataReply::File { .. }), "metadata request");
    into_response(reply)
}

fn into_response(reply: MetadataReply) -> Response {
    match reply {
        MetadataReply::File { body, content_type } => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        MetadataReply::NotFound => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            "404 Not Found\n\nThe resource could not be found.\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct Fake;

    #[async_trait::async_trait]
    impl MetadataResolver for Fake {
        async fn lookup(&self, network_id: &str, source: IpAddr, path: &str) -> MetadataReply {
            if source == IpAddr::from([10, 0, 0, 5]) && network_id == "n1" {
                MetadataReply::File {
                    body: format!("{network_id} {source} {path}").into_bytes(),
                    content_type: "text/plain",
                }
            } else {
                MetadataReply::NotFound
            }
        }
    }

    async fn get(slot: &ResolverSlot, from: [u8; 4], path: &str) -> (StatusCode, String) {
        let mut req = axum::http::Request::get(path)
            .header("X-Forwarded-For", "10.0.0.5")
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((from, 40000))));
        let resp = router("n1".into(), slot.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn identity_is_the_peer_address_never_a_header() {
        let slot: ResolverSlot = Arc::default();
        let (s, _) = get(&slot, [10, 0, 0, 5], "/openstack").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "no resolver: 404");
        *slot.write().unwrap() = Some(Arc::new(Fake));
        let (s, body) = get(&slot, [10, 0, 0, 5], "/openstack/latest/meta_data.json").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body, "n1 10.0.0.5 /openstack/latest/meta_data.json");
        let (s, _) = get(&slot, [10, 0, 0, 9], "/openstack").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "X-Forwarded-For is ignored");
    }
}
