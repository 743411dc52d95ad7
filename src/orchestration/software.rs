//! Heat's software configuration API: software configs (a script, a cloud-config,
//! a Puppet manifest... with declared inputs and outputs; immutable once made),
//! deployments of a config to a server (which the server's agent reads through
//! `/software_deployments/metadata/{server}` and updates with its results), and
//! the signals a wait condition handle receives.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::OrchestrationService;
use super::model::{Signal, SoftwareConfig, SoftwareDeployment};
use super::store;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// `POST /software_configs`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigCreate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub inputs: Option<Vec<Value>>,
    #[serde(default)]
    pub outputs: Option<Vec<Value>>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
}

/// `POST /software_deployments`, and `PUT` (where every field is optional).
#[derive(Debug, Deserialize)]
pub(crate) struct DeploymentInput {
    #[serde(default)]
    pub config_id: Option<String>,
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub input_values: Option<Map<String, Value>>,
    #[serde(default)]
    pub output_values: Option<Map<String, Value>>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_reason: Option<String>,
}

/// What a wait condition handle's signal carries (every field optional, as
/// Heat's `curl_cli` sends `{"status": "SUCCESS"}` or nothing at all).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignalInput {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default)]
    pub id: Option<Value>,
}

fn config_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Software config with id {id} not found"))
}

fn deployment_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Deployment with id {id} not found"))
}

fn project_of(ctx: &RequestContext) -> ApiResult<String> {
    ctx.project_id()
        .map(str::to_owned)
        .ok_or_else(ApiError::forbidden)
}

/// Heat's statuses of a deployment.
const DEPLOY_STATUSES: &[&str] = &["IN_PROGRESS", "COMPLETE", "FAILED"];

impl OrchestrationService {
    pub(crate) async fn config_create(
        &self,
        ctx: &RequestContext,
        input: ConfigCreate,
    ) -> ApiResult<SoftwareConfig> {
        let project = project_of(ctx)?;
        super::may_change(ctx, &project)?;
        let config = match input.config {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            // Heat keeps a structured config (a cloud-config as a map) as given.
            Some(other) => other.to_string(),
        };
        let sc = SoftwareConfig {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project,
            name: input.name.unwrap_or_default(),
            group: input
                .group
                .filter(|g| !g.is_empty())
                .unwrap_or_else(|| "Heat::Ungrouped".into()),
            config,
            inputs: Value::Array(input.inputs.unwrap_or_default()),
            outputs: Value::Array(input.outputs.unwrap_or_default()),
            options: Value::Object(input.options.unwrap_or_default()),
            created_at: store::now(),
        };
        let row = sc.clone();
        self.write(move |t| store::config_insert(t, &row)).await?;
        Ok(sc)
    }

    /// A config the caller may see (its project's, or any for an admin).
    pub(crate) async fn config_get(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> ApiResult<SoftwareConfig> {
        let key = id.to_owned();
        let sc = self.read(move |c| store::config_get(c, &key)).await?;
        match sc {
            Some(sc) if super::policy_sees(ctx, &sc.project_id) => Ok(sc),
            _ => Err(config_not_found(id)),
        }
    }

    pub(crate) async fn config_list(&self, ctx: &RequestContext) -> ApiResult<Vec<SoftwareConfig>> {
        let project = project_of(ctx)?;
        if !super::policy_sees(ctx, &project) {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| store::config_list(c, Some(&project)))
            .await
    }

    /// Deletes a config no deployment uses (Heat refuses one still referenced).
    pub(crate) async fn config_delete(&self, ctx: &RequestContext, id: &str) -> ApiResult<()> {
        let sc = self.config_get(ctx, id).await?;
        super::may_change(ctx, &sc.project_id)?;
        let key = sc.id.clone();
        self.write(move |t| {
            if store::config_in_use(t, &key)? {
                return Err(ApiError::bad_request(format!(
                    "Software config with id {key} can not be deleted as it is referenced."
                )));
            }
            store::config_delete(t, &key)
        })
        .await
    }

    pub(crate) async fn deployment_create(
        &self,
        ctx: &RequestContext,
        input: DeploymentInput,
    ) -> ApiResult<SoftwareDeployment> {
        let project = project_of(ctx)?;
        super::may_change(ctx, &project)?;
        let Some(config_id) = input.config_id.filter(|s| !s.is_empty()) else {
            return Err(ApiError::bad_request("config_id is required"));
        };
        let Some(server_id) = input.server_id.filter(|s| !s.is_empty()) else {
            return Err(ApiError::bad_request("server_id is required"));
        };
        let status = input.status.unwrap_or_else(|| "COMPLETE".into());
        check_status(&status)?;
        // The config must exist and be visible.
        self.config_get(ctx, &config_id).await?;
        let d = SoftwareDeployment {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project,
            config_id,
            server_id,
            input_values: Value::Object(input.input_values.unwrap_or_default()),
            output_values: Value::Object(Map::new()),
            action: input.action.unwrap_or_else(|| "INIT".into()),
            status,
            status_reason: input.status_reason.unwrap_or_default(),
            created_at: store::now(),
            updated_at: None,
        };
        let row = d.clone();
        self.write(move |t| store::deployment_put(t, &row)).await?;
        Ok(d)
    }

    pub(crate) async fn deployment_get(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> ApiResult<SoftwareDeployment> {
        let key = id.to_owned();
        let d = self.read(move |c| store::deployment_get(c, &key)).await?;
        match d {
            Some(d) if super::policy_sees(ctx, &d.project_id) => Ok(d),
            _ => Err(deployment_not_found(id)),
        }
    }

    pub(crate) async fn deployment_list(
        &self,
        ctx: &RequestContext,
        server: Option<String>,
    ) -> ApiResult<Vec<SoftwareDeployment>> {
        let project = project_of(ctx)?;
        if !super::policy_sees(ctx, &project) {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| store::deployment_list(c, Some(&project), server.as_deref()))
            .await
    }

    /// `PUT /software_deployments/{id}`: what is given replaces what was; an
    /// agent's outputs with a non-zero `deploy_status_code` fail the deployment,
    /// as Heat derives it.
    pub(crate) async fn deployment_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        input: DeploymentInput,
    ) -> ApiResult<SoftwareDeployment> {
        let mut d = self.deployment_get(ctx, id).await?;
        super::may_change(ctx, &d.project_id)?;
        if let Some(c) = input.config_id.filter(|s| !s.is_empty()) {
            self.config_get(ctx, &c).await?;
            d.config_id = c;
        }
        if let Some(v) = input.input_values {
            d.input_values = Value::Object(v);
        }
        if let Some(a) = input.action {
            d.action = a;
        }
        if let Some(s) = input.status {
            check_status(&s)?;
            d.status = s;
        }
        if let Some(r) = input.status_reason {
            d.status_reason = r;
        }
        if let Some(out) = input.output_values {
            let code = out
                .get("deploy_status_code")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(0);
            if code != 0 {
                d.status = "FAILED".into();
                d.status_reason = format!(
                    "deploy_status_code : Deployment exited with non-zero status code: {code}"
                );
            } else if d.status == "IN_PROGRESS" {
                d.status = "COMPLETE".into();
                d.status_reason = "Outputs received".into();
            }
            d.output_values = Value::Object(out);
        }
        d.updated_at = Some(store::now());
        let row = d.clone();
        self.write(move |t| store::deployment_put(t, &row)).await?;
        Ok(d)
    }

    pub(crate) async fn deployment_delete(&self, ctx: &RequestContext, id: &str) -> ApiResult<()> {
        let d = self.deployment_get(ctx, id).await?;
        super::may_change(ctx, &d.project_id)?;
        self.write(move |t| store::deployment_delete(t, &d.id))
            .await
    }

    /// `GET /software_deployments/metadata/{server}`: the configs deployed to a
    /// server, each with its inputs' values, as the server's agent reads them.
    pub(crate) async fn deployment_metadata(
        &self,
        ctx: &RequestContext,
        server: &str,
    ) -> ApiResult<Vec<Value>> {
        let deployments = self.deployment_list(ctx, Some(server.to_owned())).await?;
        let mut out = Vec::new();
        for d in deployments {
            let Ok(sc) = self.config_get(ctx, &d.config_id).await else {
                continue;
            };
            let inputs: Vec<Value> = sc
                .inputs
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    let mut i = i.clone();
                    let given = i
                        .get("name")
                        .and_then(Value::as_str)
                        .and_then(|name| d.input_values.get(name))
                        .cloned();
                    if let (Value::Object(m), Some(v)) = (&mut i, given) {
                        m.insert("value".into(), v);
                    }
                    i
                })
                .collect();
            let mut v = config_view(&sc, true);
            if let Value::Object(m) = &mut v {
                m.insert("inputs".into(), Value::Array(inputs));
                m.insert("deployment_id".into(), json!(d.id));
                m.insert("updated_time".into(), json!(d.updated_at));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Records a signal to a wait condition handle (its physical id).
    pub(crate) async fn signal_record(&self, handle_id: &str, input: SignalInput) -> ApiResult<()> {
        let status = input.status.unwrap_or_else(|| "SUCCESS".into());
        if status != "SUCCESS" && status != "FAILURE" {
            return Err(ApiError::bad_request(format!(
                "Metadata format invalid: status must be SUCCESS or FAILURE, not {status}"
            )));
        }
        let handle = handle_id.to_owned();
        self.write(move |t| {
            let n = store::signal_list(t, &handle)?.len() + 1;
            let signal_id = match input.id {
                Some(Value::String(s)) => s,
                Some(Value::Number(x)) => x.to_string(),
                _ => n.to_string(),
            };
            store::signal_add(
                t,
                &Signal {
                    handle_id: handle.clone(),
                    signal_id,
                    status,
                    reason: input
                        .reason
                        .unwrap_or_else(|| format!("Signal {n} received")),
                    data: input.data.unwrap_or(Value::Null),
                    created_at: store::now(),
                },
            )
        })
        .await
    }

    pub(crate) async fn signals(&self, handle_id: &str) -> ApiResult<Vec<Signal>> {
        let handle = handle_id.to_owned();
        self.read(move |c| store::signal_list(c, &handle)).await
    }

    pub(crate) async fn signals_clear(&self, handle_id: &str) -> ApiResult<()> {
        let handle = handle_id.to_owned();
        self.write(move |t| store::signal_clear(t, &handle)).await
    }
}

fn check_status(s: &str) -> ApiResult<()> {
    if DEPLOY_STATUSES.contains(&s) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid status {s}: must be one of {}",
            DEPLOY_STATUSES.join(", ")
        )))
    }
}

/// A config as heat-api shows it (`detail`: with its body, inputs, outputs and
/// options, as show does; the list gives the summary).
pub(crate) fn config_view(sc: &SoftwareConfig, detail: bool) -> Value {
    let mut v = json!({
        "id": sc.id,
        "name": sc.name,
        "group": sc.group,
        "creation_time": sc.created_at,
    });
    if detail && let Value::Object(m) = &mut v {
        m.insert("config".into(), json!(sc.config));
        m.insert("inputs".into(), sc.inputs.clone());
        m.insert("outputs".into(), sc.outputs.clone());
        m.insert("options".into(), sc.options.clone());
    }
    v
}

/// A deployment as heat-api shows it.
pub(crate) fn deployment_view(d: &SoftwareDeployment) -> Value {
    json!({
        "id": d.id,
        "config_id": d.config_id,
        "server_id": d.server_id,
        "input_values": d.input_values,
        "output_values": d.output_values,
        "action": d.action,
        "status": d.status,
        "status_reason": d.status_reason,
        "creation_time": d.created_at,
        "updated_time": d.updated_at,
    })
}
