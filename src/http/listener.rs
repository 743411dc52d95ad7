//! The API listener: hyper's HTTP/1 server with the limits a public endpoint needs.
//!
//! - A client has `header_timeout` to send a request's headers; the same clock runs
//!   while a keep-alive connection waits for its next request (hyper's
//!   `header_read_timeout`), so connect-only, half-sent and idle connections all end.
//! - A request body that stalls for `body_timeout` fails the request.
//! - At most `max_connections` connections, and `max_connections_per_address` from one
//!   client address. A new connection over either cap closes the oldest *idle* one
//!   (no request in flight) of that scope; when none is idle the new one is refused.
//!   So a flood of idle or half-sent connections cannot lock clients out: their
//!   requests are in flight at once and are never the ones closed.
//! - A response to a request whose body the handler left unread (an early 401 or
//!   413) says `Connection: close`, since hyper closes such a connection after it;
//!   the rest of that body is then read and dropped for a moment before the socket
//!   closes (a "lingering close"), so the client reads the answer instead of a reset.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// Largest request head (request line and headers) a connection may buffer; hyper
/// answers 431 beyond it. Keeps the memory of a slow or hostile client small.
const MAX_BUF: usize = 64 * 1024;

/// How long a lingering close reads what the client still sends, and how much.
const LINGER: Duration = Duration::from_secs(5);
const LINGER_BYTES: u64 = 64 << 20;
/// Lingering closes at once; over this a socket just closes.
const MAX_LINGERING: usize = 256;
static LINGERING: AtomicUsize = AtomicUsize::new(0);

/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// The listener's limits (the profile's `[http]` section).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

struct Entry {
    addr: IpAddr,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Registry {
    conns: BTreeMap<u64, Entry>,
    per_addr: HashMap<IpAddr, usize>,
    next: u64,
}

/// What a newly accepted connection got.
struct Admitted {
    id: u64,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

impl Registry {
    /// Admits a connection from `addr`, closing an idle one if a cap is reached;
    /// `None` when a cap is reached and every connection in its scope is busy.
    fn admit(&mut self, addr: IpAddr, limits: &Limits) -> Option<Admitted> {
        let from_addr = self.per_addr.get(&addr).copied().unwrap_or(0);
        if from_addr >= limits.max_connections_per_address && !self.evict_idle(Some(addr)) {
            return None;
        }
        if self.conns.len() >= limits.max_connections && !self.evict_idle(None) {
            return None;
        }
        let id = self.next;
        self.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let evict = Arc::new(Notify::new());
        self.conns.insert(
            id,
            Entry {
                addr,
                busy: busy.clone(),
                evict: evict.clone(),
            },
        );
        *self.per_addr.entry(addr).or_default() += 1;
        Some(Admitted { id, busy, evict })
    }

    /// Closes the oldest connection without a request in flight (from `addr` only,
    /// if given). Its slot is free at once; its task ends on the notification.
    fn evict_idle(&mut self, addr: Option<IpAddr>) -> bool {
        let victim = self
            .conns
            .iter()
            .find(|(_, e)| addr.is_none_or(|a| a == e.addr) && e.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim {
            Some(id) => {
                if let Some(e) = self.remove(id) {
                    e.evict.notify_one();
                }
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        if let Some(n) = self.per_addr.get_mut(&e.addr) {
            *n -= 1;
            if *n == 0 {
                self.per_addr.remove(&e.addr);
            }
        }
        Some(e)
    }
}

/// Raises this process's open-file soft limit to its hard limit and returns the
/// connection cap that fits in it (a quarter of the descriptors stay for the
/// database, images, VMM sockets and child processes).
pub(crate) fn connection_cap(wanted: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
        && cur < max
    {
        lim.current = Some(max);
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    let files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let fit = usize::try_from(files / 4 * 3).unwrap_or(usize::MAX).max(64);
    if wanted > fit {
        tracing::warn!(
            wanted,
            fit,
            "http.max_connections lowered to fit the open-file limit"
        );
    }
    wanted.min(fit)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish (up to 10 s).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = Arc::new(AtomicUsize::new(0));
    let drained = Arc::new(Notify::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener) => match accepted {
                Some(a) => a,
                None => continue,
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = admit(&registry, peer.ip(), &limits) else {
            tracing::debug!(peer = %peer, "connection refused: connection cap reached");
            drop(stream);
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        live.fetch_add(1, Ordering::AcqRel);
        let conn = Connection {
            app: app.clone(),
            limits: limits.clone(),
            registry: registry.clone(),
            stop: stop_rx.clone(),
            live: live.clone(),
            drained: drained.clone(),
        };
        tokio::spawn(conn.run(stream, admitted));
    }
    drop(listener);
    drain(&stop_tx, &live, &drained).await;
}

/// The next connection; `None` after a failed accept, once a short pause has
/// passed, so that EMFILE and friends back off instead of spinning.
async fn accept(listener: &TcpListener) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(error = %e, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// A place in the registry for a connection from `addr`, or `None` when the caps
/// leave none (or the registry is poisoned).
fn admit(registry: &Mutex<Registry>, addr: IpAddr, limits: &Limits) -> Option<Admitted> {
    match registry.lock() {
        Ok(mut r) => r.admit(addr, limits),
        Err(_) => None,
    }
}

/// At shutdown: tells every connection to stop and waits up to `DRAIN` for the
/// requests in flight (`live` counts the connections still open).
async fn drain(stop: &watch::Sender<bool>, live: &AtomicUsize, drained: &Notify) {
    if stop.send(true).is_err() {
        tracing::debug!("no connection to stop");
    }
    let wait = async {
        while live.load(Ordering::Acquire) > 0 {
            drained.notified().await;
        }
    };
    if tokio::time::timeout(DRAIN, wait).await.is_err() {
        tracing::warn!(
            open = live.load(Ordering::Acquire),
            "requests still in flight at shutdown"
        );
    }
}

struct Connection {
    app: Router,
    limits: Limits,
    registry: Arc<Mutex<Registry>>,
    stop: watch::Receiver<bool>,
    live: Arc<AtomicUsize>,
    drained: Arc<Notify>,
}

impl Connection {
    async fn run(mut self, stream: tokio::net::TcpStream, admitted: Admitted) {
        let Admitted { id, busy, evict } = admitted;
        let app = self.app.clone();
        let body_timeout = self.limits.body_timeout;
        let linger = Arc::new(AtomicBool::new(false));
        let stream = LingerStream {
            inner: Some(stream),
            linger: linger.clone(),
            head: Vec::new(),
            fresh: true,
            pending: Vec::new(),
        };
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(app.clone(), req, busy.clone(), body_timeout, linger.clone())
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(MAX_BUF);
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .with_upgrades();
        tokio::pin!(conn);
        let stopping = async {
            while !*self.stop.borrow_and_update() {
                if self.stop.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            r = conn.as_mut() => log_end(r),
            () = evict.notified() => tracing::debug!("idle connection closed for a new one"),
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                log_end(conn.await);
            }
        }
        if let Ok(mut r) = self.registry.lock() {
            r.remove(id);
        }
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }
}

fn log_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Serves one request: marks the connection busy until the response body is done,
/// bounds pauses in the request body, and says `Connection: close` when hyper will
/// close because the body was left unread.
async fn handle(
    app: Router,
    req: Request<Incoming>,
    busy: Arc<AtomicUsize>,
    body_timeout: Duration,
    linger: Arc<AtomicBool>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let guard = BusyGuard::new(busy);
    let (mut parts, incoming) = req.into_parts();
    let sent = super::SentPath(parts.uri.path().to_owned());
    super::normalize_service_root(&mut parts.uri);
    parts.extensions.insert(sent);
    let finished = Arc::new(AtomicBool::new(incoming.is_end_stream()));
    let body = Body::new(WatchedBody {
        inner: incoming,
        finished: finished.clone(),
        timeout: body_timeout,
        sleep: None,
    });
    let resp = if uri_length(&parts.uri) > MAX_URI {
        refusal(
            axum::http::StatusCode::URI_TOO_LONG,
            "The request URI is too long.",
            parts.uri.path(),
        )
    } else if let Some(why) = oversized_header(&parts.headers) {
        tracing::debug!(why, "request headers refused");
        refusal(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            why,
            parts.uri.path(),
        )
    } else {
        match app.oneshot(Request::from_parts(parts, body)).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    };
    let (mut parts, body) = resp.into_parts();
    if !finished.load(Ordering::Acquire) {
        linger.store(true, Ordering::Release);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let body = Body::new(body.map_frame(move |f| {
        let _busy_until_sent = &guard;
        f
    }));
    Ok(Response::from_parts(parts, body))
}

/// Longest request target (path and query) served. Apache in front of the
/// OpenStack services refuses a request line over 8,190 bytes with a 414; here the
/// 414 carries the service's fault body (hyper's own limit, 64 KB, is far above).
const MAX_URI: usize = 8 * 1024;

fn uri_length(uri: &axum::http::Uri) -> usize {
    uri.path_and_query().map_or(0, |pq| pq.as_str().len())
}

/// Longest single header field (name and value) served, and longest head in all.
/// Apache in front of the OpenStack services refuses a field over 8,190 bytes
/// (`LimitRequestFieldSize`). hyper's own buffer limit (`MAX_BUF`) does not bound a
/// head that arrives in one read, so the head is measured here as parsed.
const MAX_HEADER_FIELD: usize = 8190;
const MAX_HEAD: usize = MAX_BUF;

/// Why the request's headers are refused, if they are: one field over
/// `MAX_HEADER_FIELD` or all of them over `MAX_HEAD`.
fn oversized_header(headers: &axum::http::HeaderMap) -> Option<&'static str> {
    let mut total = 0;
    for (name, value) in headers {
        // "name: value\r\n", as sent.
        let field = name.as_str().len() + value.len() + 4;
        if field > MAX_HEADER_FIELD {
            return Some("Size of a request header field exceeds server limit.");
        }
        total += field;
    }
    (total > MAX_HEAD).then_some("The request's header fields are too large.")
}

/// A refusal made before routing (414, 431) in the fault format of the service under
/// `path`, with its length (so the client can read it before the connection closes
/// on an unread body).
fn refusal(status: axum::http::StatusCode, message: &str, path: &str) -> Response<Body> {
    let fault = super::error::Fault {
        status,
        message: message.into(),
    };
    let body = serde_json::to_vec(&super::format_for_path(path).body(&fault)).unwrap_or_default();
    let mut resp = Response::new(Body::from(body.clone()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp
}

/// The connection's socket; dropped after a response that said `Connection: close`
/// with the request body unread, it reads and discards what the client still sends
/// (up to 5 s) before closing, since closing with unread data would reset the
/// connection and could destroy the answer before the client reads it.
///
/// It also gives the answers hyper writes itself, for a request it could not parse
/// (400, 414 URI over 64 KB, 431), the fault body of the service whose path the
/// request line named: they never reach the router, so no fault layer sees them.
struct LingerStream {
    inner: Option<tokio::net::TcpStream>,
    linger: Arc<AtomicBool>,
    /// The first bytes of the request being read (for its service prefix).
    head: Vec<u8>,
    /// Nothing of the next request read yet (set again by every response written).
    fresh: bool,
    /// A rewritten answer still to be written.
    pending: Vec<u8>,
}

/// How much of a request's first bytes `LingerStream` keeps to name its service.
const HEAD_BYTES: usize = 256;

impl LingerStream {
    fn stream(&mut self) -> std::io::Result<&mut tokio::net::TcpStream> {
        self.inner
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }

    /// Writes what is left of a rewritten answer; ready once it is all written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        use tokio::io::AsyncWrite;
        while !self.pending.is_empty() {
            let mut pending = std::mem::take(&mut self.pending);
            let r = match self.stream() {
                Ok(s) => Pin::new(s).poll_write(cx, &pending),
                Err(e) => Poll::Ready(Err(e)),
            };
            match r {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    pending.drain(..n);
                    self.pending = pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.pending = pending;
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The path of a request line's first bytes (`GET /compute/... HTTP/1.1`), or "".
fn request_path(head: &[u8]) -> &str {
    let line = head
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default();
    let target = line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    std::str::from_utf8(path).unwrap_or_default()
}

/// hyper's own answer to a request it could not parse: a status line and headers
/// with `content-length: 0` and no content type, all in one write. Rewritten as
/// the fault of the service under `path`, with the same status.
fn rewrite_parse_error(buf: &[u8], path: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(buf).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let headers: Vec<&str> = lines.collect();
    let empty = headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("content-length: 0"));
    let typed = headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("content-type:"));
    if !(400..600).contains(&status) || !empty || typed {
        return None;
    }
    let status = axum::http::StatusCode::from_u16(status).ok()?;
    let message = match status.as_u16() {
        414 => "The request URI is too long.",
        431 => "The request's header fields are too large.",
        400 => "The request could not be parsed.",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let fault = super::error::Fault {
        status,
        message: message.to_owned(),
    };
    let body = super::format_for_path(path).body(&fault);
    let body = serde_json::to_vec(&body).ok()?;
    let mut out = format!("{}\r\ncontent-type: application/json\r\n", head_line(head));
    for h in headers {
        if !h.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

fn head_line(head: &str) -> &str {
    head.split("\r\n").next().unwrap_or_default()
}

impl tokio::io::AsyncRead for LingerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = match self.stream() {
            Ok(s) => Pin::new(s).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        };
        if let Poll::Ready(Ok(())) = r {
            let this = &mut *self;
            let new = &buf.filled()[before..];
            if this.fresh && !new.is_empty() {
                this.head.clear();
                this.fresh = false;
            }
            if this.head.len() < HEAD_BYTES {
                let take = new.len().min(HEAD_BYTES - this.head.len());
                this.head.extend_from_slice(&new[..take]);
            }
        }
        r
    }
}

impl tokio::io::AsyncWrite for LingerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match this.poll_pending(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        this.fresh = true;
        if buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.1 5") {
            let path = request_path(&this.head).to_owned();
            if let Some(out) = rewrite_parse_error(buf, &path) {
                this.pending = out;
                // The rewritten answer stands for all of `buf`; flush writes the rest.
                return match this.poll_pending(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Ready(Ok(buf.len())),
                };
            }
        }
        match this.stream() {
            Ok(s) => Pin::new(s).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match self.stream() {
            Ok(s) => Pin::new(s).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match self.stream() {
            Ok(s) => Pin::new(s).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for LingerStream {
    fn drop(&mut self) {
        let Some(mut stream) = self.inner.take() else {
            return;
        };
        if !self.linger.load(Ordering::Acquire) {
            return;
        }
        if LINGERING.fetch_add(1, Ordering::AcqRel) >= MAX_LINGERING {
            LINGERING.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            LINGERING.fetch_sub(1, Ordering::AcqRel);
            return;
        };
        rt.spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let drain = async {
                // FIN first (hyper may have sent it already), so the client
                // knows the answer is complete; then read until it stops sending.
                if let Err(e) = stream.shutdown().await {
                    tracing::debug!(error = %e, "shutdown before a lingering close");
                }
                let mut rest = (&mut stream).take(LINGER_BYTES);
                if let Err(e) = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await {
                    tracing::debug!(error = %e, "lingering close");
                }
            };
            if tokio::time::timeout(LINGER, drain).await.is_err() {
                tracing::debug!("client still sending after a lingering close");
            }
            LINGERING.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Counts a request in flight on its connection while alive.
struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    fn new(busy: Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(busy)
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The request body as hyper delivers it, recording whether it was read to the end
/// and failing if the client pauses longer than `timeout` between frames.
struct WatchedBody {
    inner: Incoming,
    finished: Arc<AtomicBool>,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl HttpBody for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                this.sleep = None;
                if r.is_none() || this.inner.is_end_stream() {
                    this.finished.store(true, Ordering::Release);
                }
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.sleep = None;
                        Poll::Ready(Some(Err("request body timed out".into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_address: per,
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn hypers_own_refusals_get_the_services_fault_body() {
        let hyper_414 =
            b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let path = request_path(b"GET /networking/v2.0/networks?aaaa");
        assert_eq!(path, "/networking/v2.0/networks");
        let out = rewrite_parse_error(hyper_414, path).expect("rewritten");
        let text = String::from_utf8(out).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["NeutronError"]["type"], "BadRequest", "{v}");
        // A garbage request line: Keystone's shape, as for any unknown path.
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let out = rewrite_parse_error(hyper_400, request_path(b"\x01\x02")).expect("400");
        let body = String::from_utf8(out).expect("utf-8");
        assert!(body.contains(r#"{"error":{"code":400"#), "{body}");
        // The API's own answers pass unchanged.
        let api = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite_parse_error(api, "/compute").is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert!(rewrite_parse_error(with_body, "/compute").is_none());
    }

    #[test]
    fn per_address_cap_closes_that_address_oldest_idle_connection() {
        let mut r = Registry::default();
        let l = limits(10, 2);
        let a = r.admit(ip(1), &l).expect("first");
        let b = r.admit(ip(1), &l).expect("second");
        let other = r.admit(ip(2), &l).expect("other address");
        a.busy.fetch_add(1, Ordering::AcqRel);
        // `a` is busy, so the third connection from .1 replaces `b`.
        let c = r.admit(ip(1), &l).expect("third replaces an idle one");
        assert!(r.conns.contains_key(&a.id));
        assert!(!r.conns.contains_key(&b.id));
        assert!(r.conns.contains_key(&other.id));
        assert_eq!(r.per_addr[&ip(1)], 2);
        // Both of .1's connections busy: a fourth is refused.
        c.busy.fetch_add(1, Ordering::AcqRel);
        assert!(r.admit(ip(1), &l).is_none());
        assert_eq!(r.per_addr[&ip(1)], 2);
    }

    #[test]
    fn total_cap_closes_the_oldest_idle_connection_anywhere() {
        let mut r = Registry::default();
        let l = limits(2, 2);
        let a = r.admit(ip(1), &l).expect("a");
        let b = r.admit(ip(2), &l).expect("b");
        let c = r.admit(ip(3), &l).expect("c replaces a");
        assert!(!r.conns.contains_key(&a.id));
        assert_eq!(r.conns.len(), 2);
        b.busy.fetch_add(1, Ordering::AcqRel);
        c.busy.fetch_add(1, Ordering::AcqRel);
        assert!(r.admit(ip(4), &l).is_none());
        assert!(!r.per_addr.contains_key(&ip(1)));
        r.remove(b.id);
        assert!(r.admit(ip(4), &l).is_some());
    }
}
