//! Running the host tools (`ip`, `nft`, `sysctl`, `dnsmasq`, `kill`): every call
//! goes through `Runner`, which captures stderr into a typed error naming the
//! command line, and counts the calls that change the host so a converge can say
//! how much it did (and a second converge can prove it did nothing).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A host command that could not be run or exited non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{command}` could not be started: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` was interrupted: {reason}")]
    Join { command: String, reason: String },
    #[error("`ip -j` printed something other than its JSON list: {reason}")]
    Output { reason: String },
}

/// The list `ip -j ... show` prints. Nothing printed is an empty list (iproute2
/// prints nothing when there is nothing to show); anything else that is not a JSON
/// array is an error, so a changed or cut-off answer is never read as "no devices"
/// or "no routes" (which a converge would act on).
pub fn ip_json(out: &str) -> Result<Vec<serde_json::Value>, CmdError> {
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(out).map_err(|e| CmdError::Output {
        reason: e.to_string(),
    })
}

impl CmdError {
    /// The command's stderr, for callers that treat some failures as "absent".
    pub fn stderr(&self) -> &str {
        match self {
            CmdError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }

    /// Whether `ip` failed because the device is not there. iproute2 says
    /// "Cannot find device" when its own name lookup fails, and the kernel
    /// answers "No such device" when the device went between that lookup and
    /// the request: a tap whose VMM just exited, a veth peer of a namespace
    /// being deleted.
    pub fn device_gone(&self) -> bool {
        let e = self.stderr();
        e.contains("Cannot find device") || e.contains("No such device")
    }
}

/// Where a command runs: the root namespace or a named one (`/run/netns/NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ns {
    Root,
    Named(String),
}

impl Ns {
    pub fn from_option(name: Option<&str>) -> Ns {
        match name {
            Some(n) => Ns::Named(n.to_string()),
            None => Ns::Root,
        }
    }

    /// `ip [-n NS] ARGS...`: iproute2 switches namespace itself, no `exec` needed.
    pub fn ip(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec!["ip".to_string()];
        if let Ns::Named(n) = self {
            v.push("-n".into());
            v.push(n.clone());
        }
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// Any other program, run inside the namespace through `ip netns exec`.
    pub fn exec(&self, args: &[&str]) -> Vec<String> {
        let mut v = Vec::new();
        if let Ns::Named(n) = self {
            v.extend(["ip", "netns", "exec", n.as_str()].map(String::from));
        }
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    pub fn label(&self) -> &str {
        match self {
            Ns::Root => "<root>",
            Ns::Named(n) => n,
        }
    }
}

/// Runs commands off the async threads and counts the mutating ones.
#[derive(Debug, Default)]
pub struct Runner {
    mutations: AtomicUsize,
}

impl Runner {
    /// Number of mutating commands issued so far.
    pub fn mutations(&self) -> usize {
        self.mutations.load(Ordering::Relaxed)
    }

    /// A command that only reads host state.
    pub async fn query(&self, argv: Vec<String>) -> Result<String, CmdError> {
        run_blocking(argv, None).await
    }

    /// A command that changes host state: counted and logged.
    pub async fn mutate(&self, argv: Vec<String>) -> Result<String, CmdError> {
        self.mutate_stdin(argv, None).await
    }

    /// A mutating command fed with `stdin` (e.g. `nft -f -`).
    pub async fn mutate_stdin(
        &self,
        argv: Vec<String>,
        stdin: Option<String>,
    ) -> Result<String, CmdError> {
        self.mutations.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(command = %argv.join(" "), "dataplane change");
        run_blocking(argv, stdin).await
    }
}

async fn run_blocking(argv: Vec<String>, stdin: Option<String>) -> Result<String, CmdError> {
    let command = argv.join(" ");
    match tokio::task::spawn_blocking(move || run_sync(&argv, stdin.as_deref())).await {
        Ok(r) => r,
        Err(e) => Err(CmdError::Join {
            command,
            reason: e.to_string(),
        }),
    }
}

/// Runs `argv` to completion and returns its stdout.
pub fn run_sync(argv: &[String], stdin: Option<&str>) -> Result<String, CmdError> {
    let command = argv.join(" ");
    let spawn_err = |source| CmdError::Spawn {
        command: command.clone(),
        source,
    };
    let (prog, args) = argv.split_first().ok_or_else(|| {
        spawn_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ))
    })?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error shows up as the command's own failure below.
        if let Err(e) = pipe.write_all(text.as_bytes()) {
            tracing::debug!(error = %e, "writing a command's input");
        }
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(CmdError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::CmdError;

    fn failed(stderr: &str) -> CmdError {
        CmdError::Failed {
            command: "ip link del dev tap0".into(),
            status: "exit status: 1".into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_device_gone_before_or_during_the_request_is_gone() {
        assert!(failed("Cannot find device \"tap0\"").device_gone());
        assert!(failed("RTNETLINK answers: No such device").device_gone());
        assert!(!failed("RTNETLINK answers: Operation not permitted").device_gone());
        assert!(
            !CmdError::Spawn {
                command: "ip".into(),
                source: std::io::Error::other("no ip"),
            }
            .device_gone()
        );
    }
}
