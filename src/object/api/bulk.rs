//! Bulk extract (`PUT ?extract-archive=tar|tar.gz|tar.bz2`, Swift's `bulk`
//! middleware): the archive is read as it arrives, each regular file becomes an
//! object (its first path part the container, created when missing, unless the
//! request's path names one), and the answer is Swift's summary of files created and
//! failed. The response starts at once and sends a space every few seconds while
//! the archive is read, as Swift does, so a long upload is not cut by a proxy's idle
//! timeout; memory stays flat for any archive size.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;
use tokio::io::{AsyncRead, BufReader};
use tokio_util::io::StreamReader;

use super::access::{Op, authorize};
use super::view::{Format, xml_escape};
use super::{Call, fault, project_of, take_body};
use crate::cloud::Cloud;
use crate::logged::OrLog;
use crate::object::PutInput;
use crate::object::model;
use crate::object::objects::DeleteAt;
use crate::object::tar::{TarError, TarReader};

/// Swift's `max_failed_extractions`: the extract stops after this many failures.
const MAX_FAILED: usize = 1000;
/// Swift's `max_containers_per_extraction`.
const MAX_CONTAINERS: usize = 10_000;
/// How often a space is sent while the archive is read.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Chunk size of the member bytes handed to the object writer.
const CHUNK: usize = 64 * 1024;

/// The status line Swift writes in its summaries (`201 Created`).
fn status_line(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

/// Whether a request asks for an extract (any method but PUT is not one).
pub(super) fn is_extract(call: &Call) -> bool {
    call.method == axum::http::Method::PUT && call.q("extract-archive").is_some()
}

/// What an extract did: files created, and failures as (path, status line).
struct Outcome {
    created: u64,
    status: String,
    body: String,
    errors: Vec<(String, String)>,
}

impl Outcome {
    /// The final status of a whole archive read: 502 when a file failed, 400 when
    /// none was stored.
    fn settle(mut self) -> Self {
        if !self.errors.is_empty() {
            self.status = status_line(StatusCode::BAD_GATEWAY);
        } else if self.created == 0 {
            self.status = status_line(StatusCode::BAD_REQUEST);
            self.body = "Invalid Tar File: No Valid Files".into();
        }
        self
    }
}

/// `PUT /v1/AUTH_x[/container[/prefix]]?extract-archive=FORMAT`; `base` is the
/// path below the account (empty, a container, or a container and prefix).
pub(super) fn extract(cloud: &Cloud, account: &str, base: &str, call: Call) -> Response {
    let call = Arc::new(call);
    let resp = start(cloud, account, base, &call);
    super::finish(resp, &call)
}

fn start(cloud: &Cloud, account: &str, base: &str, call: &Arc<Call>) -> Response {
    let Some(project) = project_of(account).map(str::to_owned) else {
        return super::no_such_account(call);
    };
    let kind = call
        .q("extract-archive")
        .unwrap_or_default()
        .trim_matches('.')
        .to_ascii_lowercase();
    if !matches!(kind.as_str(), "tar" | "tar.gz" | "tar.bz2") {
        return fault(
            StatusCode::BAD_REQUEST,
            Some("Unsupported archive format"),
            false,
        );
    }
    let chunked = call
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if !chunked && !call.headers.contains_key(header::CONTENT_LENGTH) {
        return fault(StatusCode::LENGTH_REQUIRED, None, false);
    }
    // The metadata every extracted object gets: the request's user metadata and
    // expiry, as Swift copies them to its object PUTs.
    let meta = match super::object::object_meta(call) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let delete_at = match super::object::delete_at(call) {
        Ok(DeleteAt::Set(t)) => Some(t),
        Ok(_) => None,
        Err(r) => return r,
    };
    let reader = archive_reader(&kind, call);
    let job = Job {
        cloud: cloud.clone(),
        account: account.to_owned(),
        project,
        base: base.trim_matches('/').to_owned(),
        meta,
        delete_at,
        call: call.clone(),
    };
    extract_response(job, reader, Format::of(call))
}

/// The request's body as the archive it is: plain, gzip or bzip2.
fn archive_reader(kind: &str, call: &Call) -> Pin<Box<dyn AsyncRead + Send>> {
    let raw = StreamReader::new(take_body(call));
    match kind {
        "tar.gz" => Box::pin(async_compression::tokio::bufread::GzipDecoder::new(
            BufReader::new(raw),
        )),
        "tar.bz2" => Box::pin(async_compression::tokio::bufread::BzDecoder::new(
            BufReader::new(raw),
        )),
        _ => Box::pin(raw),
    }
}

/// Runs the extract in the background and answers at once with a body that
/// keeps the connection alive (a space every `KEEPALIVE`) until the summary.
fn extract_response(job: Job, reader: Pin<Box<dyn AsyncRead + Send>>, format: Format) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let work = job.run(reader);
        tokio::pin!(work);
        let mut tick = tokio::time::interval(KEEPALIVE);
        tick.tick().await;
        let out = loop {
            tokio::select! {
                out = &mut work => break out,
                _ = tick.tick() => {
                    // A client that went away ends nothing: the objects already
                    // stored stay, as in Swift.
                    tx.send(Bytes::from_static(b" "))
                        .await
                        .or_debug("bulk", "keeping the client's connection alive");
                }
            }
        };
        tx.send(Bytes::from(summary(&out, format)))
            .await
            .or_debug("bulk", "sending the summary to the client");
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let ct = match format {
        Format::Json => "application/json",
        Format::Xml => "application/xml",
        Format::Plain => "text/plain",
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

/// Swift's `get_response_body` for an extract.
fn summary(out: &Outcome, format: Format) -> String {
    match format {
        Format::Json => json!({
            "Number Files Created": out.created,
            "Response Status": out.status,
            "Response Body": out.body,
            "Errors": out.errors.iter().map(|(p, s)| json!([p, s])).collect::<Vec<_>>(),
        })
        .to_string(),
        Format::Xml => {
            let errors: String = out
                .errors
                .iter()
                .map(|(p, s)| {
                    format!(
                        "<object><name>{}</name><status>{}</status></object>",
                        xml_escape(p),
                        xml_escape(s)
                    )
                })
                .collect();
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<extract><number_files_created>{}</number_files_created><response_body>{}</response_body><response_status>{}</response_status><errors>{errors}</errors></extract>\n",
                out.created,
                xml_escape(&out.body),
                xml_escape(&out.status)
            )
        }
        Format::Plain => {
            let mut s = format!(
                "Number Files Created: {}\nResponse Body: {}\nResponse Status: {}\nErrors:\n",
                out.created, out.body, out.status
            );
            for (p, st) in &out.errors {
                s.push_str(&format!("{p}, {st}\n"));
            }
            s
        }
    }
}

struct Job {
    cloud: Cloud,
    account: String,
    project: String,
    base: String,
    meta: model::Meta,
    delete_at: Option<i64>,
    call: Arc<Call>,
}

/// Why one member could not be stored, or that the whole extract must stop.
enum Failure {
    One(StatusCode),
    Stop(StatusCode),
    /// The extract cannot go on (a damaged archive, too many containers): it ends
    /// with Swift's 400 and this body.
    Damaged(String),
}

fn quote(p: &str) -> String {
    percent_encoding::utf8_percent_encode(p, super::view::PATH_SET).to_string()
}

impl Job {
    async fn run(&self, reader: Pin<Box<dyn AsyncRead + Send>>) -> Outcome {
        let mut out = Outcome {
            created: 0,
            status: status_line(StatusCode::CREATED),
            body: String::new(),
            errors: Vec::new(),
        };
        let mut tar = TarReader::new(reader);
        let mut containers: HashSet<String> = HashSet::new();
        loop {
            let member = match tar.next_member().await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    out.status = status_line(StatusCode::BAD_REQUEST);
                    out.body = match e {
                        TarError::Invalid(m) => format!("Invalid Tar File: {m}"),
                        TarError::Io(e) => format!("Invalid Tar File: {e}"),
                    };
                    return out;
                }
            };
            if !member.is_file {
                continue;
            }
            let path = self.member_path(&member.name);
            let Some((container, object)) = path.split_once('/') else {
                // A file at the top of an archive extracted into the account.
                continue;
            };
            let (container, object) = (container.to_owned(), object.to_owned());
            if member.size > model::MAX_FILE_SIZE {
                out.errors
                    .push((quote(&path), status_line(StatusCode::PAYLOAD_TOO_LARGE)));
            } else {
                match self
                    .store(&mut tar, &mut containers, &container, &object, member.size)
                    .await
                {
                    Ok(()) => out.created += 1,
                    Err(Failure::One(s)) => out.errors.push((quote(&path), status_line(s))),
                    Err(Failure::Damaged(m)) => {
                        out.status = status_line(StatusCode::BAD_REQUEST);
                        out.body = m;
                        return out;
                    }
                    Err(Failure::Stop(s)) => {
                        out.errors.push((quote(&path), status_line(s)));
                        out.status = status_line(s);
                        return out;
                    }
                }
            }
            if out.errors.len() >= MAX_FAILED {
                break;
            }
        }
        out.settle()
    }

    /// Where a member goes: its archive path below the request's path.
    fn member_path(&self, member: &str) -> String {
        let name = member.strip_prefix("./").unwrap_or(member);
        let name = name.trim_start_matches('/');
        if self.base.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.base)
        }
    }

    /// Creates the container when needed (the caller must own the account) and
    /// stores the member as an object (the container's write ACL may allow it).
    async fn store<R: AsyncRead + Unpin>(
        &self,
        tar: &mut TarReader<R>,
        known: &mut HashSet<String>,
        container: &str,
        object: &str,
        size: u64,
    ) -> Result<(), Failure> {
        let svc = &self.cloud.object;
        let ct = self.container_for(known, container).await?;
        known.insert(container.to_owned());
        authorize(&self.call, &self.project, Some(&ct.meta), Op::ObjectWrite).map_err(refused)?;
        let input = PutInput {
            content_type: super::object::guess_type(object).to_owned(),
            meta: self.meta.clone(),
            delete_at: self.delete_at,
            dlo_manifest: None,
            etag: None,
            content_length: Some(size),
            if_none_match_star: false,
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        let body = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (b, rx))
        }));
        let put = svc.object_put(&self.account, container, object, input, body);
        let (put, fed) = tokio::join!(put, feed_member(tar, tx));
        if fed.is_err() {
            let why = match fed {
                Err(TarError::Invalid(m)) => m.to_owned(),
                Err(TarError::Io(e)) => e.to_string(),
                Ok(()) => String::new(),
            };
            return Err(Failure::Damaged(format!("Invalid Tar File: {why}")));
        }
        put.map(|_| ()).map_err(|e| Failure::One(e.status()))
    }

    /// The member's container: found, or created (the caller must own the
    /// account; no more than `MAX_CONTAINERS` per extract).
    async fn container_for(
        &self,
        known: &HashSet<String>,
        container: &str,
    ) -> Result<model::Container, Failure> {
        let svc = &self.cloud.object;
        let ct = svc
            .container_find(&self.account, container)
            .await
            .map_err(|e| Failure::One(e.status()))?;
        match ct {
            Some(c) => Ok(c),
            None if known.len() >= MAX_CONTAINERS => Err(Failure::Damaged(format!(
                "More than {MAX_CONTAINERS} containers to create from tar."
            ))),
            None => {
                authorize(&self.call, &self.project, None, Op::AccountWrite).map_err(refused)?;
                if let Err(m) = model::check_container_name(container) {
                    tracing::debug!(container, reason = %m, "bulk extract: bad container name");
                    return Err(Failure::One(StatusCode::BAD_REQUEST));
                }
                svc.container_create(&self.account, container, Vec::new())
                    .await
                    .map_err(|e| Failure::One(e.status()))?;
                svc.container_show(&self.account, container)
                    .await
                    .map_err(|e| Failure::One(e.status()))
            }
        }
    }
}

/// A refused request: an unauthorized one stops the whole extract.
fn refused(r: Response) -> Failure {
    if r.status() == StatusCode::UNAUTHORIZED {
        Failure::Stop(StatusCode::UNAUTHORIZED)
    } else {
        Failure::One(r.status())
    }
}

/// Feeds the member's bytes to the writer; when the writer gave up early the
/// rest is still read so the next header is found.
async fn feed_member<R: AsyncRead + Unpin>(
    tar: &mut TarReader<R>,
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<(), TarError> {
    let mut open = true;
    loop {
        match tar.read_data(CHUNK).await {
            Ok(b) if b.is_empty() => return Ok(()),
            Ok(b) => {
                if open && tx.send(Ok(b)).await.is_err() {
                    open = false;
                }
            }
            Err(e) => {
                tx.send(Err(std::io::Error::other("archive ended early")))
                    .await
                    .or_debug("bulk", "telling the reader the archive ended");
                return Err(e);
            }
        }
    }
}
