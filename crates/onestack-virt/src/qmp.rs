//! A small QMP (QEMU Machine Protocol) client over a Unix socket: greeting,
//! capabilities negotiation, commands matched to their replies by id, and async
//! events kept aside for callers that wait for one (DEVICE_DELETED).

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("QMP: no answer within {0:?}")]
    Timeout(Duration),
    #[error("QMP connection closed")]
    Closed,
    #[error("QMP protocol: {0}")]
    Protocol(String),
    /// QEMU refused the command.
    #[error("{class}: {desc}")]
    Command { class: String, desc: String },
}

/// One line QEMU sends: the greeting, a reply, or an event.
#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "QMP")]
    greeting: Option<Value>,
    #[serde(rename = "return")]
    ret: Option<Value>,
    error: Option<ErrorBody>,
    event: Option<String>,
    data: Option<Value>,
    id: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    class: String,
    desc: String,
}

#[derive(Debug, Serialize)]
struct Request<'a, A: Serialize> {
    execute: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a A>,
    id: u64,
}

/// An asynchronous event QEMU emitted while we waited for a reply.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: Value,
}

/// `query-status`.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusInfo {
    pub running: bool,
    pub status: String,
}

/// `query-migrate` (the fields we read).
#[derive(Debug, Clone, Deserialize)]
pub struct MigrationInfo {
    pub status: Option<String>,
    #[serde(rename = "error-desc")]
    pub error_desc: Option<String>,
}

/// `query-version`.
#[derive(Debug, Clone, Deserialize)]
pub struct VersionInfo {
    pub qemu: VersionTriple,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct VersionTriple {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

/// `qom-list` entries.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectProperty {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize)]
pub struct MigrateArgs<'a> {
    pub uri: &'a str,
}

#[derive(Debug, Serialize)]
pub struct NetdevTapArgs<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub id: &'a str,
    pub ifname: &'a str,
    pub script: &'a str,
    pub downscript: &'a str,
    pub vhost: bool,
}

#[derive(Debug, Serialize)]
pub struct NicDeviceArgs<'a> {
    pub driver: &'a str,
    pub id: &'a str,
    pub netdev: &'a str,
    pub mac: &'a str,
}

#[derive(Debug, Serialize)]
pub struct IdArgs<'a> {
    pub id: &'a str,
}

#[derive(Debug, Serialize)]
pub struct PathArgs<'a> {
    pub path: &'a str,
}

/// An empty argument object for commands without arguments.
#[derive(Debug, Serialize)]
pub struct NoArgs {}

/// An open, negotiated QMP session.
pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    timeout: Duration,
    /// Events seen so far on this connection, oldest first.
    pub events: Vec<Event>,
}

impl Qmp {
    /// Connects, reads the greeting and leaves negotiation mode.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| QmpError::Timeout(timeout))??;
        let (r, w) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            timeout,
            events: Vec::new(),
        };
        let greeting = qmp.read_message().await?;
        if greeting.greeting.is_none() {
            return Err(QmpError::Protocol("no QMP greeting".into()));
        }
        let _: Value = qmp.execute("qmp_capabilities", None::<&NoArgs>).await?;
        Ok(qmp)
    }

    async fn read_message(&mut self) -> Result<Message, QmpError> {
        let mut line = String::new();
        let n = tokio::time::timeout(self.timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| QmpError::Timeout(self.timeout))??;
        if n == 0 {
            return Err(QmpError::Closed);
        }
        serde_json::from_str(&line).map_err(|e| QmpError::Protocol(format!("{e}: {line}")))
    }

    /// Runs `command` and decodes its `return` value, skipping events.
    pub async fn execute<A: Serialize, R: DeserializeOwned>(
        &mut self,
        command: &str,
        arguments: Option<&A>,
    ) -> Result<R, QmpError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&Request {
            execute: command,
            arguments,
            id,
        })
        .map_err(|e| QmpError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line).await?;
        loop {
            let msg = self.read_message().await?;
            if let Some(name) = msg.event {
                self.events.push(Event {
                    name,
                    data: msg.data.unwrap_or(Value::Null),
                });
                continue;
            }
            if msg.id.as_ref().and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(err) = msg.error {
                return Err(QmpError::Command {
                    class: err.class,
                    desc: err.desc,
                });
            }
            let ret = msg.ret.unwrap_or(Value::Null);
            return serde_json::from_value(ret)
                .map_err(|e| QmpError::Protocol(format!("{command} reply: {e}")));
        }
    }

    /// Runs a command whose reply carries nothing we need.
    pub async fn run(&mut self, command: &str) -> Result<(), QmpError> {
        let _: Value = self.execute(command, None::<&NoArgs>).await?;
        Ok(())
    }

    /// True once an event `name` whose `data.device` is `device` has been seen,
    /// reading further messages for up to `wait`.
    pub async fn wait_device_event(&mut self, name: &str, device: &str, wait: Duration) -> bool {
        let seen = |events: &[Event]| {
            events.iter().any(|e| {
                e.name == name && e.data.get("device").and_then(Value::as_str) == Some(device)
            })
        };
        let deadline = tokio::time::Instant::now() + wait;
        while !seen(&self.events) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut line = String::new();
            match tokio::time::timeout(left, self.reader.read_line(&mut line)).await {
                Ok(Ok(n)) if n > 0 => {
                    if let Ok(Message {
                        event: Some(name),
                        data,
                        ..
                    }) = serde_json::from_str::<Message>(&line)
                    {
                        self.events.push(Event {
                            name,
                            data: data.unwrap_or(Value::Null),
                        });
                    }
                }
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A scripted QMP peer: greets, then answers each request from `answers`
    /// (an event is sent before every reply to prove events are skipped).
    async fn fake_qemu(listener: UnixListener, answers: Vec<Value>) -> Vec<Value> {
        let (stream, _) = listener.accept().await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut answers = answers.into_iter();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 {
                return seen;
            }
            let req: Value = serde_json::from_str(&line).unwrap();
            let id = req["id"].clone();
            seen.push(req);
            w.write_all(b"{\"event\": \"RTC_CHANGE\", \"data\": {}}\n")
                .await
                .unwrap();
            let mut reply = answers.next().unwrap_or(serde_json::json!({"return": {}}));
            reply["id"] = id;
            w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn negotiates_matches_ids_and_maps_errors() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(fake_qemu(
            listener,
            vec![
                serde_json::json!({"return": {}}),
                serde_json::json!({"return": {"running": true, "status": "running"}}),
                serde_json::json!({"error": {"class": "GenericError", "desc": "nope"}}),
            ],
        ));
        let mut qmp = Qmp::connect(&sock, Duration::from_secs(5)).await.unwrap();
        let st: StatusInfo = qmp.execute("query-status", None::<&NoArgs>).await.unwrap();
        assert!(st.running);
        assert_eq!(st.status, "running");
        let err = qmp
            .execute::<_, Value>("migrate", Some(&MigrateArgs { uri: "file:/x" }))
            .await
            .unwrap_err();
        assert!(matches!(err, QmpError::Command { ref desc, .. } if desc == "nope"));
        assert!(qmp.events.iter().all(|e| e.name == "RTC_CHANGE"));
        drop(qmp);
        let seen = server.await.unwrap();
        assert_eq!(seen[0]["execute"], "qmp_capabilities");
        assert_eq!(seen[1]["execute"], "query-status");
        assert!(seen[1].get("arguments").is_none());
        assert_eq!(seen[2]["arguments"]["uri"], "file:/x");
        assert_ne!(seen[1]["id"], seen[2]["id"]);
    }
}
