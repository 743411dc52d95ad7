//! Starts the real `onestack` binary on 127.0.0.1 with a temporary state directory
//! and drives it over HTTP.

#![allow(dead_code)]

pub(crate) mod guest;
pub(crate) mod neutron;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

pub(crate) struct Server {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub base: String,
    pub client: Client,
    pub profile: Option<PathBuf>,
}

/// The binary under test: `ONESTACK_TEST_BIN` if set (a copy taken right after the
/// build, when a shared target directory may be rebuilt by another checkout), else
/// the one Cargo built for this test.
pub(crate) fn bin() -> String {
    std::env::var("ONESTACK_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_onestack").to_owned())
}

impl Server {
    /// Starts with the default profile, the dataplane off: tests never touch the
    /// machine's own networking (dataplane tests bring their own namespace).
    pub(crate) fn start() -> Server {
        Server::start_with_profile(Some(&test_profile()))
    }

    /// Starts with a profile file written from `text` (the built-in default otherwise).
    pub(crate) fn start_with_profile(text: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            dir,
            child: None,
            base: String::new(),
            client: Client::new(),
            profile: None,
        };
        if let Some(t) = text {
            let path = s.state_dir().join("profile.toml");
            std::fs::write(&path, t).expect("profile");
            s.profile = Some(path);
        }
        s.launch();
        s
    }

    pub(crate) fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts) the process on the same state directory.
    pub(crate) fn launch(&mut self) {
        let runtime = self.state_dir().join("runtime.json");
        let _ = std::fs::remove_file(&runtime);
        let log = std::fs::File::create(self.state_dir().join("server.log")).expect("log");
        let mut cmd = Command::new(bin());
        cmd.arg("--state-dir")
            .arg(self.state_dir())
            .args(["up", "--listen", "127.0.0.1:0"]);
        if let Some(p) = &self.profile {
            cmd.arg("--profile").arg(p);
        }
        let child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn onestack");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(&runtime) {
                let v: Value = serde_json::from_str(&text).expect("runtime.json");
                self.base = format!("http://{}", v["listen"].as_str().expect("listen"));
                if self
                    .client
                    .get(format!("{}/identity/v3", self.base))
                    .send()
                    .is_ok()
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "onestack did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("server.log")).unwrap_or_default()
    }

    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().expect("reap");
        }
    }

    pub(crate) fn password(&self, user: &str) -> String {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(self.state_dir().join("credentials.json"))
                .expect("credentials"),
        )
        .expect("json");
        v[format!("{user}_password")]
            .as_str()
            .expect("password")
            .to_owned()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/identity/v3{path}", self.base)
    }

    pub(crate) fn req(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut r = self.client.request(method, self.url(path));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().expect("request")
    }

    pub(crate) fn get(&self, path: &str, token: &str) -> Response {
        self.req(Method::GET, path, Some(token), None)
    }

    pub(crate) fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.req(Method::POST, path, Some(token), Some(body))
    }

    /// `GET /v3/auth/tokens` of `subject` with `auth` as the caller.
    pub(crate) fn validate(&self, auth: &str, subject: &str) -> Response {
        self.client
            .get(self.url("/auth/tokens"))
            .header("X-Auth-Token", auth)
            .header("X-Subject-Token", subject)
            .send()
            .expect("validate")
    }

    /// Password auth scoped to a project in the default domain; returns the token.
    pub(crate) fn token(&self, user: &str, password: &str, project: Option<&str>) -> String {
        let r = self.auth(
            user,
            password,
            project.map(|p| json!({"project": {"name": p, "domain": {"id": "default"}}})),
        );
        assert_eq!(r.status(), 201, "auth as {user}");
        r.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_owned()
    }

    pub(crate) fn auth(&self, user: &str, password: &str, scope: Option<Value>) -> Response {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}}});
        if let Some(s) = scope {
            auth["scope"] = s;
        }
        self.req(
            Method::POST,
            "/auth/tokens",
            None,
            Some(json!({"auth": auth})),
        )
    }

    pub(crate) fn admin(&self) -> String {
        self.token("admin", &self.password("admin"), Some("admin"))
    }

    pub(crate) fn demo(&self) -> String {
        self.token("demo", &self.password("demo"), Some("demo"))
    }

    pub(crate) fn onestack(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .output()
            .expect("run onestack")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        kill_vmms(self.state_dir());
        kill_tgtd(self.state_dir());
    }
}

/// Ends the tgtd a cloud with `tgt_managed` started (it outlives onestack like the
/// guests): the pid in `<state>/tgt/tgtd.pid`, only if that process is a tgtd.
pub(crate) fn kill_tgtd(state_dir: &Path) {
    let pidfile = state_dir.join("tgt").join("tgtd.pid");
    let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    if argv0.ends_with(b"tgtd") {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        wait_gone(pid);
    }
}

/// Ends the VMM processes the server started (they outlive it by design): every
/// `qemu.pid`/`vmm.pid` under `<state>/instances`, checked against the instance id
/// in the process's command line so an unrelated process is never touched.
pub(crate) fn kill_vmms(state_dir: &Path) {
    let Ok(dirs) = std::fs::read_dir(state_dir.join("instances")) else {
        return;
    };
    for d in dirs.flatten() {
        let id = d.file_name().to_string_lossy().into_owned();
        for pidfile in ["qemu.pid", "vmm.pid"] {
            let Some(pid) = std::fs::read_to_string(d.path().join(pidfile))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&id) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                wait_gone(pid);
            }
        }
    }
}

/// True while `pid` is a process that has not finished exiting (a zombie has).
pub(crate) fn process_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Waits (up to 20 s) for a killed process to finish exiting: a large process
/// can take a while on a loaded host, and a reboot leaves none behind. Never
/// panics (it runs in `Drop`); callers that care check `process_alive` after.
fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The default profile with the dataplane switched off.
pub(crate) fn test_profile() -> String {
    let text = include_str!("../../profiles/default.toml");
    assert!(text.contains("dataplane = \"host\""));
    text.replace("dataplane = \"host\"", "dataplane = \"off\"")
}

pub(crate) fn json_of(r: Response) -> Value {
    let status = r.status();
    let text = r.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, not JSON: {text}"))
}

/// Asserts a status and the Keystone fault shape, returning the message.
pub(crate) fn expect_error(r: Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status, "expected {status}");
    assert!(r.headers().contains_key("x-openstack-request-id"));
    let v = json_of(r);
    assert_eq!(v["error"]["code"], status, "{v}");
    v["error"]["message"].as_str().expect("message").to_owned()
}

/// The locally built test guest (`$ONESTACK_TEST_IMAGE`, else
/// `target/test-image/test-image.qcow2`) when QEMU is installed too; otherwise None,
/// with the reason printed so the calling test skips loudly.
pub(crate) fn guest_image() -> Option<PathBuf> {
    let path = std::env::var_os("ONESTACK_TEST_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-image/test-image.qcow2")
        });
    if !path.is_file() {
        eprintln!(
            "SKIP: no test guest image at {} (run scripts/build-test-image.sh)",
            path.display()
        );
        return None;
    }
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: qemu-system-x86_64 is not installed (run scripts/ensure-qemu.sh)");
        return None;
    }
    Some(path)
}

/// The test profile with compute on QEMU and, when given, `image` registered at
/// start as the public `cirros` image.
pub(crate) fn compute_profile(image: Option<&Path>) -> String {
    let mut p = test_profile().replace("hypervisor = \"auto\"", "hypervisor = \"qemu\"");
    if let Some(i) = image {
        p = p.replace(
            "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
            &format!("bootstrap_image = \"{}\"", i.display()),
        );
    }
    p
}
