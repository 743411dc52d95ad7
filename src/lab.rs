//! `onestack lab create`: a classroom on a running cloud, built through its own
//! HTTP API with the admin credentials from the state directory — one project,
//! member user, private network and router (on the shared external network) per
//! student, quotas from the profile's `[lab]` section, one clouds.yaml each.
//! Re-running it finds what exists and creates only what is missing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::identity::bootstrap::Credentials;
use crate::profile::{LabSection, Profile};
use crate::state::{self, CloudInfo};

/// Students' passwords, kept (0600) so a re-run prints the same ones.
const PASSWORDS_FILE: &str = "lab-passwords.json";

#[derive(Debug, Clone)]
pub struct LabOptions {
    pub state_dir: PathBuf,
    pub students: u32,
    pub prefix: String,
    pub profile: Profile,
    pub out_dir: PathBuf,
}

/// One student's resources.
#[derive(Debug, Clone)]
pub(crate) struct Student {
    pub(crate) name: String,
    pub(crate) password: String,
    pub(crate) router_id: String,
}

/// An admin session against the cloud's public endpoints.
struct Api {
    http: Client,
    token: String,
    identity: String,
    network: String,
    compute: Option<String>,
}

impl Api {
    fn login(info: &CloudInfo, creds: &Credentials) -> anyhow::Result<Api> {
        let http = Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        let identity = format!("{}/v3", info.auth_url.trim_end_matches('/'));
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": creds.admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let resp = http
            .post(format!("{identity}/auth/tokens"))
            .json(&body)
            .send()
            .with_context(|| format!("reaching {identity}: is the cloud up?"))?;
        if !resp.status().is_success() {
            bail!("admin login refused: {}", resp.status());
        }
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .context("no X-Subject-Token in the login answer")?
            .to_owned();
        let doc: Value = resp.json()?;
        let endpoint = |kind: &str| {
            doc["token"]["catalog"]
                .as_array()?
                .iter()
                .find(|s| s["type"] == kind)?["endpoints"]
                .as_array()?
                .iter()
                .find(|e| e["interface"] == "public")?["url"]
                .as_str()
                .map(|u| u.trim_end_matches('/').to_owned())
        };
        let network = endpoint("network").context("the cloud serves no network service")?;
        Ok(Api {
            http,
            token,
            identity,
            network,
            compute: endpoint("compute"),
        })
    }

    fn call(&self, method: Method, url: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp.text()?;
        if !status.is_success() {
            bail!("{method} {url}: {status}: {text}");
        }
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    fn get(&self, url: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, url, None)
    }

    /// The id of the first `key` item listed at `url`, if any.
    fn find(&self, url: &str, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self.get(url)?[key]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|v| v["id"].as_str())
            .map(str::to_owned))
    }

    /// Finds by listing, else creates; returns the id.
    fn ensure(&self, list: &str, key: &str, create: &str, body: Value) -> anyhow::Result<String> {
        if let Some(id) = self.find(list, key)? {
            return Ok(id);
        }
        let item = key.trim_end_matches('s');
        let created = self.call(Method::POST, create, Some(body))?;
        created[item]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no id in the created {item}"))
    }
}

/// `onestack lab create`.
pub fn create(o: &LabOptions) -> anyhow::Result<String> {
    check_options(o)?;
    let info: CloudInfo =
        state::read_json(&o.state_dir, state::CLOUD_FILE)?.with_context(|| {
            format!(
                "{} has no cloud: run `onestack up` first",
                o.state_dir.display()
            )
        })?;
    let creds =
        Credentials::load(&o.state_dir)?.context("the state directory has no credentials")?;
    let api = Api::login(&info, &creds)?;
    let lab = &o.profile.lab;
    let member = api
        .find(&format!("{}/roles?name=member", api.identity), "roles")?
        .context("the cloud has no `member` role")?;
    let external = api
        .find(
            &format!("{}/v2.0/networks?router:external=true", api.network),
            "networks",
        )?
        .context(
            "the cloud has no external network (start it with create_default_networks = true)",
        )?;
    let pw_path = o.state_dir.join(PASSWORDS_FILE);
    let mut passwords = load_passwords(&pw_path)?;
    let mut students = Vec::new();
    let mut warnings = Vec::new();
    for i in 1..=o.students {
        let name = format!("{}{:02}", o.prefix, i);
        let password = passwords
            .entry(name.clone())
            .or_insert_with(|| crate::identity::password::generate(12))
            .clone();
        crate::fsutil::write_atomic(&pw_path, &serde_json::to_vec_pretty(&passwords)?, 0o600)?;
        let s = student(
            &api,
            lab,
            &name,
            &password,
            &member,
            &external,
            &mut warnings,
        )
        .with_context(|| format!("student {name}"))?;
        write_clouds_yaml(&o.out_dir, &info, &s)?;
        students.push(s);
    }
    Ok(table(&students, &o.out_dir, &warnings))
}

/// The student count (1 to 500) and a name prefix usable in every service.
fn check_options(o: &LabOptions) -> anyhow::Result<()> {
    if o.students == 0 || o.students > 500 {
        bail!("--students must be between 1 and 500");
    }
    if o.prefix.is_empty()
        || !o
            .prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--prefix must be letters, digits, - or _");
    }
    Ok(())
}

/// The passwords earlier runs gave, so a rerun keeps them.
fn load_passwords(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    match std::fs::read(path) {
        Ok(b) => Ok(serde_json::from_slice(&b)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

/// One student: a project, a user with the member role on it, the lab's
/// quotas, and a network routed to the external one.
fn student(
    api: &Api,
    lab: &LabSection,
    name: &str,
    password: &str,
    member: &str,
    external: &str,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Student> {
    let id = &api.identity;
    let project_id = api.ensure(
        &format!("{id}/projects?name={name}&domain_id=default"),
        "projects",
        &format!("{id}/projects"),
        json!({"project": {"name": name, "domain_id": "default", "description": "onestack lab"}}),
    )?;
    let user_id = student_user(api, name, password, &project_id)?;
    api.call(
        Method::PUT,
        &format!("{id}/projects/{project_id}/users/{user_id}/roles/{member}"),
        None,
    )?;
    student_quotas(api, lab, name, &project_id, warnings)?;
    let (_network_id, router_id) = student_network(api, lab, name, &project_id, external)?;
    Ok(Student {
        name: name.to_owned(),
        password: password.to_owned(),
        router_id,
    })
}

/// The student's user, made or given the known password again (whatever
/// happened since the last run).
fn student_user(api: &Api, name: &str, password: &str, project_id: &str) -> anyhow::Result<String> {
    let id = &api.identity;
    let user_body = json!({"user": {"name": name, "domain_id": "default", "password": password, "default_project_id": project_id}});
    Ok(
        match api.find(
            &format!("{id}/users?name={name}&domain_id=default"),
            "users",
        )? {
            Some(u) => {
                api.call(
                    Method::PATCH,
                    &format!("{id}/users/{u}"),
                    Some(json!({"user": {"password": password}})),
                )?;
                u
            }
            None => api.call(Method::POST, &format!("{id}/users"), Some(user_body))?["user"]["id"]
                .as_str()
                .context("no id in the created user")?
                .to_owned(),
        },
    )
}

/// The lab's network and compute quotas on the student's project; compute's
/// are a warning when they cannot be set.
fn student_quotas(
    api: &Api,
    lab: &LabSection,
    name: &str,
    project_id: &str,
    warnings: &mut Vec<String>,
) -> anyhow::Result<()> {
    let net = &api.network;
    api.call(
        Method::PUT,
        &format!("{net}/v2.0/quotas/{project_id}"),
        Some(json!({"quota": {
            "network": lab.quota_networks, "subnet": lab.quota_subnets, "port": lab.quota_ports,
            "router": lab.quota_routers, "floatingip": lab.quota_floating_ips,
            "security_group": lab.quota_security_groups}})),
    )?;
    if let Some(compute) = &api.compute {
        let body = json!({"quota_set": {"instances": lab.quota_instances, "cores": lab.quota_cores, "ram": lab.quota_ram_mb}});
        if let Err(e) = api.call(
            Method::PUT,
            &format!("{compute}/os-quota-sets/{project_id}"),
            Some(body),
        ) {
            warnings.push(format!("{name}: compute quotas not set: {e}"));
        }
    }
    Ok(())
}

/// The student's network, subnet and router (on the external network), the
/// router plugged into the subnet; the network's and the router's ids.
fn student_network(
    api: &Api,
    lab: &LabSection,
    name: &str,
    project_id: &str,
    external: &str,
) -> anyhow::Result<(String, String)> {
    let net = &api.network;
    let net_name = format!("{name}-net");
    let network_id = api.ensure(
        &format!("{net}/v2.0/networks?name={net_name}&project_id={project_id}"),
        "networks",
        &format!("{net}/v2.0/networks"),
        json!({"network": {"name": net_name, "project_id": project_id}}),
    )?;
    let cidr: String = lab.private_cidr.into();
    let subnet_id = api.ensure(
        &format!("{net}/v2.0/subnets?network_id={network_id}"),
        "subnets",
        &format!("{net}/v2.0/subnets"),
        json!({"subnet": {"name": format!("{name}-subnet"), "network_id": network_id, "project_id": project_id,
               "ip_version": 4, "cidr": cidr, "dns_nameservers": lab.dns_nameservers}}),
    )?;
    let router_name = format!("{name}-router");
    let router_id = api.ensure(
        &format!("{net}/v2.0/routers?name={router_name}&project_id={project_id}"),
        "routers",
        &format!("{net}/v2.0/routers"),
        json!({"router": {"name": router_name, "project_id": project_id,
               "external_gateway_info": {"network_id": external}}}),
    )?;
    let leg = api.find(
        &format!("{net}/v2.0/ports?device_id={router_id}&network_id={network_id}"),
        "ports",
    )?;
    if leg.is_none() {
        api.call(
            Method::PUT,
            &format!("{net}/v2.0/routers/{router_id}/add_router_interface"),
            Some(json!({"subnet_id": subnet_id})),
        )?;
    }
    Ok((network_id, router_id))
}

fn write_clouds_yaml(out_dir: &Path, info: &CloudInfo, s: &Student) -> anyhow::Result<()> {
    let q = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let text = format!(
        "clouds:\n  onestack:\n    auth:\n      auth_url: {}\n      username: {}\n      password: {}\n      user_domain_id: default\n      project_name: {}\n      project_domain_id: default\n    region_name: {}\n    identity_api_version: 3\n",
        q(&info.auth_url),
        q(&s.name),
        q(&s.password),
        q(&s.name),
        q(&info.region)
    );
    let dir = out_dir.join(&s.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::fsutil::write_atomic(&dir.join("clouds.yaml"), text.as_bytes(), 0o600)
}

fn table(students: &[Student], out_dir: &Path, warnings: &[String]) -> String {
    let mut s = format!(
        "{:<14} {:<14} {:<16} {:<34} {}\n",
        "user/project", "password", "network", "router", "clouds.yaml"
    );
    for st in students {
        let _ = writeln!(
            s,
            "{:<14} {:<14} {:<16} {:<34} {}",
            st.name,
            st.password,
            format!("{}-net", st.name),
            st.router_id,
            out_dir.join(&st.name).join("clouds.yaml").display()
        );
    }
    for w in warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}
