//! HOT templates: parsing (YAML or JSON), parameters with their types and
//! constraints, the resource dependency graph and the intrinsic functions. Pure code
//! with no I/O, so every rule is unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::functions;
use crate::http::error::{ApiError, ApiResult};

/// The HOT versions accepted, by date and by release name.
pub(crate) const VERSIONS: &[&str] = &[
    "2013-05-23",
    "2014-10-16",
    "2015-04-30",
    "2015-10-15",
    "2016-04-08",
    "2016-10-14",
    "newton",
    "2017-02-24",
    "ocata",
    "2017-09-01",
    "pike",
    "2018-03-02",
    "queens",
    "2018-08-31",
    "rocky",
    "2021-04-16",
    "wallaby",
];

/// One declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamDef {
    pub kind: ParamType,
    pub default: Option<Value>,
    pub description: String,
    pub label: Option<String>,
    pub hidden: bool,
    pub constraints: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ParamType {
    String,
    Number,
    Boolean,
    Json,
    CommaDelimitedList,
}

impl ParamType {
    pub(crate) fn label(self) -> &'static str {
        match self {
            ParamType::String => "String",
            ParamType::Number => "Number",
            ParamType::Boolean => "Boolean",
            ParamType::Json => "Json",
            ParamType::CommaDelimitedList => "CommaDelimitedList",
        }
    }
}

/// One declared resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceDef {
    pub kind: String,
    pub properties: Value,
    pub depends_on: Vec<String>,
    /// The `condition` key: a condition's name or expression.
    pub condition: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputDef {
    pub value: Value,
    pub description: String,
    pub condition: Option<Value>,
}

/// A parsed, structurally checked template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    pub version: String,
    pub description: String,
    pub parameters: BTreeMap<String, ParamDef>,
    pub resources: BTreeMap<String, ResourceDef>,
    pub outputs: BTreeMap<String, OutputDef>,
    /// The `conditions` section: name to expression.
    pub conditions: BTreeMap<String, Value>,
    /// The template as received, for `GET .../template`.
    pub raw: Value,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg.into())
}

/// Parses a template given as text (YAML, of which JSON is a subset); a syntax
/// error names the line, as Heat's "Error parsing template".
pub(crate) fn parse_text(text: &str) -> ApiResult<Value> {
    let v: Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        invalid(format!("Error parsing template{at}: {e}"))
    })?;
    Ok(v)
}

fn as_str_field<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> ApiResult<Option<&'a str>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{what}: \"{key}\" must be a string"))),
    }
}

/// The template's `heat_template_version`, one of the HOT versions known.
fn template_version(top: &Map<String, Value>) -> ApiResult<String> {
    let version = match top.get("heat_template_version") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) | None => {
            if top.contains_key("AWSTemplateFormatVersion") {
                return Err(invalid(
                    "Template format AWSTemplateFormatVersion is not supported; use HOT (heat_template_version).",
                ));
            }
            return Err(invalid("Template format version not found."));
        }
    };
    if !VERSIONS.contains(&version.as_str()) {
        return Err(invalid(format!(
            "\"heat_template_version: {version}\". \"heat_template_version\" should be one of: {}",
            VERSIONS.join(", ")
        )));
    }
    Ok(version)
}

/// A template section that maps names to definitions (absent or null: none),
/// each parsed by `each`.
fn section<T>(
    top: &Map<String, Value>,
    key: &str,
    each: impl Fn(&str, &Value) -> ApiResult<T>,
) -> ApiResult<BTreeMap<String, T>> {
    match top.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(name, v)| Ok((name.clone(), each(name, v)?)))
            .collect(),
        Some(_) => Err(invalid(format!("The \"{key}\" section must be a map."))),
    }
}

/// One output: its value, description and condition.
fn parse_output(name: &str, o: &Value) -> ApiResult<OutputDef> {
    let Value::Object(om) = o else {
        return Err(invalid(format!("Output {name} must be a map.")));
    };
    Ok(OutputDef {
        value: om.get("value").cloned().unwrap_or(Value::Null),
        description: as_str_field(om, "description", name)?
            .unwrap_or("No description given")
            .to_owned(),
        condition: om.get("condition").cloned(),
    })
}

impl Template {
    /// Checks the structure of a template value (a mapping with a known
    /// `heat_template_version`, sections of the right shapes, resources with a
    /// type, `depends_on` naming resources of this template, no dependency cycle).
    pub(crate) fn parse(raw: Value) -> ApiResult<Template> {
        let Value::Object(top) = &raw else {
            return Err(invalid(
                "The template is not a JSON object or YAML mapping.",
            ));
        };
        let version = template_version(top)?;
        const SECTIONS: &[&str] = &[
            "heat_template_version",
            "description",
            "parameter_groups",
            "parameters",
            "resources",
            "outputs",
            "conditions",
        ];
        if let Some(k) = top.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(invalid(format!("The template section is invalid: {k}")));
        }
        let description = as_str_field(top, "description", "Template")?
            .unwrap_or_default()
            .to_owned();
        let parameters = section(top, "parameters", parse_param)?;
        let resources = section(top, "resources", parse_resource)?;
        let outputs = section(top, "outputs", parse_output)?;
        let conditions = section(top, "conditions", |_, v| Ok(v.clone()))?;
        let t = Template {
            version,
            description,
            parameters,
            resources,
            outputs,
            conditions,
            raw,
        };
        for (name, r) in &t.resources {
            if let Some(Value::String(c)) = &r.condition
                && !t.conditions.contains_key(c)
            {
                return Err(invalid(format!(
                    "Invalid condition \"{c}\" (in resources.{name})"
                )));
            }
        }
        t.check_references()?;
        t.order()?;
        Ok(t)
    }

    /// Every `get_resource`/`get_attr`/`depends_on` names a resource, every
    /// `get_param` a parameter (or a pseudo parameter).
    fn check_references(&self) -> ApiResult<()> {
        for (name, r) in &self.resources {
            for d in &r.depends_on {
                if !self.resources.contains_key(d) {
                    return Err(invalid(format!(
                        "The specified reference \"{d}\" (in {name}) is incorrect."
                    )));
                }
            }
            self.check_value(&r.properties, name)?;
        }
        for (name, o) in &self.outputs {
            self.check_value(&o.value, name)?;
        }
        Ok(())
    }

    fn check_value(&self, v: &Value, at: &str) -> ApiResult<()> {
        let mut refs = BTreeSet::new();
        collect_refs(v, &mut refs);
        if let Some(r) = refs.iter().find(|r| !self.resources.contains_key(*r)) {
            return Err(invalid(format!(
                "The specified reference \"{r}\" (in {at}) is incorrect."
            )));
        }
        let mut params = BTreeSet::new();
        collect_params(v, &mut params);
        if let Some(p) = params
            .iter()
            .find(|p| !self.parameters.contains_key(*p) && !PSEUDO.contains(&p.as_str()))
        {
            return Err(invalid(format!(
                "The Parameter ({p}) was not defined in template."
            )));
        }
        Ok(())
    }

    /// The resources each resource depends on (explicitly or through a function).
    pub(crate) fn dependencies(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.resources
            .iter()
            .map(|(name, r)| {
                let mut deps: BTreeSet<String> = r.depends_on.iter().cloned().collect();
                collect_refs(&r.properties, &mut deps);
                deps.remove(name);
                // A resource its condition left out is no dependency.
                deps.retain(|d| self.resources.contains_key(d));
                (name.clone(), deps)
            })
            .collect()
    }

    /// The creation order (dependencies first; ties by name, so it is stable); a
    /// cycle is Heat's "Circular Dependency Found".
    pub(crate) fn order(&self) -> ApiResult<Vec<String>> {
        let deps = self.dependencies();
        let mut done: Vec<String> = Vec::new();
        let mut left: BTreeMap<String, BTreeSet<String>> = deps;
        while !left.is_empty() {
            let ready: Vec<String> = left
                .iter()
                .filter(|(_, d)| d.iter().all(|x| done.contains(x)))
                .map(|(n, _)| n.clone())
                .collect();
            if ready.is_empty() {
                let names: Vec<&str> = left.keys().map(String::as_str).collect();
                return Err(invalid(format!(
                    "Circular Dependency Found: {}",
                    names.join(", ")
                )));
            }
            for n in ready {
                left.remove(&n);
                done.push(n);
            }
        }
        Ok(done)
    }

    /// The values of every parameter: given ones (converted to their type and
    /// checked against their constraints), or the defaults; a missing one is
    /// Heat's "The Parameter (x) was not provided."
    pub(crate) fn resolve_parameters(
        &self,
        given: &Map<String, Value>,
    ) -> ApiResult<Map<String, Value>> {
        if let Some(k) = given.keys().find(|k| !self.parameters.contains_key(*k)) {
            return Err(invalid(format!(
                "The Parameter ({k}) was not defined in template."
            )));
        }
        let mut out = Map::new();
        for (name, def) in &self.parameters {
            let raw = match given.get(name).or(def.default.as_ref()) {
                Some(v) => v.clone(),
                None => {
                    return Err(invalid(format!("The Parameter ({name}) was not provided.")));
                }
            };
            let v = coerce(name, def.kind, &raw)?;
            check_constraints(name, def, &v)?;
            out.insert(name.clone(), v);
        }
        Ok(out)
    }
}

/// A scope that knows parameters only, for conditions.
struct Params<'a>(&'a Map<String, Value>);

impl Scope for Params<'_> {
    fn param(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }
    fn resource_id(&self, _: &str) -> Option<String> {
        None
    }
    fn attr(&self, _: &str, _: &str) -> Option<Value> {
        None
    }
}

impl Template {
    /// The template as a stack with these parameter values runs it: resources
    /// and outputs whose condition is false left out and every `if` decided
    /// (conditions read parameters only, so this is known before any resource).
    pub(crate) fn with_conditions(&self, params: &Map<String, Value>) -> ApiResult<Template> {
        let mut t = self.clone();
        let scope = Params(params);
        let mut values = BTreeMap::new();
        for name in self.conditions.keys() {
            values.insert(
                name.clone(),
                self.condition(&Value::String(name.clone()), &scope, 0)?,
            );
        }
        let keep = |c: &Option<Value>| -> ApiResult<bool> {
            match c {
                None => Ok(true),
                Some(Value::String(n)) => Ok(values.get(n).copied().unwrap_or(false)),
                Some(other) => self.condition(other, &scope, 0),
            }
        };
        let mut resources = BTreeMap::new();
        for (name, r) in &self.resources {
            if keep(&r.condition)? {
                let mut r = r.clone();
                r.properties = self.decide_ifs(&r.properties, &scope)?;
                resources.insert(name.clone(), r);
            }
        }
        for r in resources.values_mut() {
            r.depends_on.retain(|d| self.resources.contains_key(d));
        }
        let names: BTreeSet<String> = resources.keys().cloned().collect();
        for r in resources.values_mut() {
            r.depends_on.retain(|d| names.contains(d));
        }
        t.resources = resources;
        let mut outputs = BTreeMap::new();
        for (name, o) in &self.outputs {
            if keep(&o.condition)? {
                let mut o = o.clone();
                o.value = self.decide_ifs(&o.value, &scope)?;
                outputs.insert(name.clone(), o);
            }
        }
        t.outputs = outputs;
        Ok(t)
    }

    /// A condition's truth: a boolean, a condition's name, or an expression of
    /// `equals`, `not`, `and`, `or`, `contains` and `get_param`.
    fn condition(&self, v: &Value, scope: &Params, depth: usize) -> ApiResult<bool> {
        if depth > 32 {
            return Err(invalid("Circular definition of conditions"));
        }
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(n) => match self.conditions.get(n) {
                Some(c) => self.condition(c, scope, depth + 1),
                None if n.eq_ignore_ascii_case("true") => Ok(true),
                None if n.eq_ignore_ascii_case("false") => Ok(false),
                None => Err(invalid(format!("Invalid condition \"{n}\""))),
            },
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().ok_or_else(|| invalid("empty condition"))?;
                match k.as_str() {
                    "not" => Ok(!self.condition(arg, scope, depth + 1)?),
                    "and" | "or" => {
                        let Value::Array(items) = arg else {
                            return Err(bad_fn(k, "must be a list of conditions"));
                        };
                        if items.len() < 2 {
                            return Err(bad_fn(k, "must be a list of at least two conditions"));
                        }
                        let mut out = k == "and";
                        for c in items {
                            let x = self.condition(c, scope, depth + 1)?;
                            out = if k == "and" { out && x } else { out || x };
                        }
                        Ok(out)
                    }
                    "equals" | "contains" => Ok(truth(&functions::call(k, &resolve(arg, scope)?)?)),
                    "get_param" => Ok(truth(&resolve(v, scope)?)),
                    other => Err(invalid(format!(
                        "The function \"{other}\" is not supported in conditions."
                    ))),
                }
            }
            _ => Err(invalid(format!("Invalid condition {v}"))),
        }
    }

    /// Replaces each `if` with the branch its condition picks.
    fn decide_ifs(&self, v: &Value, scope: &Params) -> ApiResult<Value> {
        Ok(match v {
            Value::Object(m) if m.len() == 1 && m.contains_key("if") => {
                let (c, yes, no) = if_args(m.get("if"))?;
                let pick = if self.condition(c, scope, 0)? {
                    yes
                } else {
                    no
                };
                self.decide_ifs(pick, scope)?
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.decide_ifs(x, scope)?)))
                    .collect::<ApiResult<_>>()?,
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.decide_ifs(x, scope))
                    .collect::<ApiResult<_>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// Pseudo parameters every stack has.
pub(crate) const PSEUDO: &[&str] = &["OS::stack_name", "OS::stack_id", "OS::project_id"];

/// A parameter's `type`, which it must have.
fn param_type(m: &Map<String, Value>, name: &str) -> ApiResult<ParamType> {
    match as_str_field(m, "type", name)? {
        Some("string") => Ok(ParamType::String),
        Some("number") => Ok(ParamType::Number),
        Some("boolean") => Ok(ParamType::Boolean),
        Some("json") => Ok(ParamType::Json),
        Some("comma_delimited_list") => Ok(ParamType::CommaDelimitedList),
        Some(other) => Err(invalid(format!(
            "Invalid type ({other}) for parameter {name}"
        ))),
        None => Err(invalid(format!(
            "Missing parameter type for parameter: {name}"
        ))),
    }
}

/// A parameter's `constraints`: a list of maps, each naming a known constraint,
/// any `allowed_pattern` a valid regular expression.
fn param_constraints(m: &Map<String, Value>, name: &str) -> ApiResult<Vec<Value>> {
    let constraints = match m.get("constraints") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(cs)) => cs.clone(),
        Some(_) => {
            return Err(invalid(format!(
                "Invalid parameter constraints for parameter {name}, expected a list"
            )));
        }
    };
    for c in &constraints {
        let Value::Object(cm) = c else {
            return Err(invalid(format!(
                "Invalid parameter constraints for parameter {name}, expected a map"
            )));
        };
        let known = [
            "range",
            "length",
            "allowed_values",
            "allowed_pattern",
            "custom_constraint",
            "modulo",
        ];
        if !cm.keys().any(|k| known.contains(&k.as_str())) {
            return Err(invalid(format!(
                "No constraint expressed for parameter {name}"
            )));
        }
        if let Some(Value::String(p)) = cm.get("allowed_pattern")
            && regex::Regex::new(p).is_err()
        {
            return Err(invalid(format!(
                "Invalid allowed_pattern for parameter {name}: {p}"
            )));
        }
    }
    Ok(constraints)
}

fn parse_param(name: &str, p: &Value) -> ApiResult<ParamDef> {
    let Value::Object(m) = p else {
        return Err(invalid(format!("Parameter {name} must be a map.")));
    };
    let kind = param_type(m, name)?;
    let constraints = param_constraints(m, name)?;
    let def = ParamDef {
        kind,
        default: m.get("default").filter(|v| !v.is_null()).cloned(),
        description: as_str_field(m, "description", name)?
            .unwrap_or_default()
            .to_owned(),
        label: as_str_field(m, "label", name)?.map(str::to_owned),
        hidden: m.get("hidden").and_then(Value::as_bool).unwrap_or(false),
        constraints,
    };
    if let Some(d) = &def.default {
        let v = coerce(name, kind, d)?;
        check_constraints(name, &def, &v)?;
    }
    Ok(def)
}

fn parse_resource(name: &str, r: &Value) -> ApiResult<ResourceDef> {
    let Value::Object(m) = r else {
        return Err(invalid(format!("Resource {name} must be a map.")));
    };
    const FIELDS: &[&str] = &[
        "type",
        "properties",
        "depends_on",
        "metadata",
        "deletion_policy",
        "update_policy",
        "condition",
        "external_id",
    ];
    if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "\"{k}\" is not a valid keyword inside a resource definition"
        )));
    }
    let kind = match m.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid(format!("Resource {name} is missing \"type\""))),
    };
    let properties = match m.get("properties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(invalid(format!(
                "Resource {name}: \"properties\" must be a map"
            )));
        }
    };
    let depends_on = match m.get("depends_on") {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(format!(
                        "Resource {name}: \"depends_on\" must be a list of names"
                    ))
                })
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => {
            return Err(invalid(format!(
                "Resource {name}: \"depends_on\" must be a list"
            )));
        }
    };
    Ok(ResourceDef {
        kind,
        properties,
        depends_on,
        condition: m.get("condition").cloned(),
    })
}

/// Names of the resources a value refers to through `get_resource` / `get_attr`.
pub(crate) fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                if let Some(Value::String(r)) = m.get("get_resource") {
                    out.insert(r.clone());
                }
                if let Some(Value::Array(a)) = m.get("get_attr")
                    && let Some(Value::String(r)) = a.first()
                {
                    out.insert(r.clone());
                }
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn collect_params(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                match m.get("get_param") {
                    Some(Value::String(p)) => {
                        out.insert(p.clone());
                    }
                    Some(Value::Array(a)) => {
                        if let Some(Value::String(p)) = a.first() {
                            out.insert(p.clone());
                        }
                    }
                    _ => {}
                }
            }
            m.values().for_each(|x| collect_params(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_params(x, out)),
        _ => {}
    }
}

/// A parameter value converted to its declared type.
pub(crate) fn coerce(name: &str, kind: ParamType, v: &Value) -> ApiResult<Value> {
    let bad = || {
        invalid(format!(
            "Parameter '{name}' is invalid: value {v} is not a valid {}",
            kind.label()
        ))
    };
    Ok(match (kind, v) {
        (ParamType::String, Value::String(_)) => v.clone(),
        (ParamType::String, Value::Number(n)) => Value::String(n.to_string()),
        (ParamType::String, Value::Bool(b)) => Value::String(b.to_string()),
        (ParamType::Number, Value::Number(_)) => v.clone(),
        (ParamType::Number, Value::String(s)) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                Value::from(i)
            } else {
                let f: f64 = s.parse().map_err(|_| bad())?;
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(bad)?
            }
        }
        (ParamType::Boolean, Value::Bool(_)) => v.clone(),
        (ParamType::Boolean, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "on" | "y" | "yes" | "1" => Value::Bool(true),
            "false" | "f" | "off" | "n" | "no" | "0" => Value::Bool(false),
            _ => return Err(bad()),
        },
        (ParamType::Boolean, Value::Number(n)) => Value::Bool(n.as_i64() != Some(0)),
        (ParamType::Json, Value::String(s)) => serde_json::from_str(s).map_err(|_| bad())?,
        (ParamType::Json, Value::Object(_) | Value::Array(_)) => v.clone(),
        (ParamType::CommaDelimitedList, Value::String(s)) => Value::Array(if s.is_empty() {
            vec![]
        } else {
            s.split(',')
                .map(|x| Value::String(x.trim().to_owned()))
                .collect()
        }),
        (ParamType::CommaDelimitedList, Value::Array(a)) => Value::Array(
            a.iter()
                .map(|x| match x {
                    Value::String(_) => x.clone(),
                    other => Value::String(other.to_string()),
                })
                .collect(),
        ),
        _ => return Err(bad()),
    })
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// Heat's constraint checks: `range`, `length`, `allowed_values`, `allowed_pattern`
/// (custom constraints are checked when the resource uses the value).
pub(crate) fn check_constraints(name: &str, def: &ParamDef, v: &Value) -> ApiResult<()> {
    for c in &def.constraints {
        let Value::Object(cm) = c else { continue };
        let desc = cm.get("description").and_then(Value::as_str);
        check_constraint(cm, v).map_err(|default| {
            invalid(format!(
                "Parameter '{name}' is invalid: {}",
                desc.map(str::to_owned).unwrap_or(default)
            ))
        })?;
    }
    Ok(())
}

/// One constraint's checks, in Heat's order; on failure Heat's own message,
/// which the constraint's description replaces.
fn check_constraint(cm: &Map<String, Value>, v: &Value) -> Result<(), String> {
    if let Some(Value::Object(r)) = cm.get("range") {
        check_range(r, v)?;
    }
    if let Some(Value::Object(r)) = cm.get("length") {
        check_length(r, v)?;
    }
    if let Some(Value::Array(allowed)) = cm.get("allowed_values") {
        check_allowed_values(allowed, v)?;
    }
    if let Some(Value::String(p)) = cm.get("allowed_pattern") {
        check_allowed_pattern(p, v)?;
    }
    Ok(())
}

/// `(min: 1, max: None)`, as Heat writes a range's bounds.
fn bounds_text(min: Option<f64>, max: Option<f64>) -> String {
    format!(
        "(min: {}, max: {})",
        min.map(|m| m.to_string()).unwrap_or("None".into()),
        max.map(|m| m.to_string()).unwrap_or("None".into())
    )
}

fn check_range(r: &Map<String, Value>, v: &Value) -> Result<(), String> {
    let x = v.as_f64().unwrap_or(f64::NAN);
    let (min, max) = (num(r.get("min")), num(r.get("max")));
    if x.is_nan() || min.is_some_and(|m| x < m) || max.is_some_and(|m| x > m) {
        return Err(format!("{v} is out of range {}", bounds_text(min, max)));
    }
    Ok(())
}

fn check_length(r: &Map<String, Value>, v: &Value) -> Result<(), String> {
    let len = match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    } as f64;
    let (min, max) = (num(r.get("min")), num(r.get("max")));
    if min.is_some_and(|m| len < m) || max.is_some_and(|m| len > m) {
        return Err(format!(
            "length ({len}) is out of range {}",
            bounds_text(min, max)
        ));
    }
    Ok(())
}

/// Every item of a list (or the one value) must be allowed; numbers match
/// their string forms, as Heat compares them.
fn check_allowed_values(allowed: &[Value], v: &Value) -> Result<(), String> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let ok = items.iter().all(|x| {
        allowed.iter().any(|a| {
            a == *x
                || (a.as_f64().is_some() && a.as_f64() == x.as_f64())
                || a.as_str().zip(x.as_str()).is_some_and(|(p, q)| p == q)
                || (a.is_number() && x.as_str().is_some_and(|s| *a.to_string() == *s))
        })
    });
    if ok {
        return Ok(());
    }
    let list: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => format!("'{s}'"),
            o => o.to_string(),
        })
        .collect();
    Err(format!(
        "\"{}\" is not an allowed value [{}]",
        v.as_str().map(str::to_owned).unwrap_or(v.to_string()),
        list.join(", ")
    ))
}

fn check_allowed_pattern(p: &str, v: &Value) -> Result<(), String> {
    let re =
        regex::Regex::new(&format!("^(?:{p})$")).map_err(|_| format!("invalid pattern {p}"))?;
    if let Some(s) = v.as_str()
        && !re.is_match(s)
    {
        return Err(format!("\"{s}\" does not match pattern \"{p}\""));
    }
    Ok(())
}

/// What the intrinsic functions read from a running stack.
pub(crate) trait Scope {
    fn param(&self, name: &str) -> Option<Value>;
    /// The physical id of a resource (`get_resource`).
    fn resource_id(&self, name: &str) -> Option<String>;
    /// An attribute of a resource, `None` when the resource has no such attribute.
    fn attr(&self, name: &str, attr: &str) -> Option<Value>;
}

fn bad_fn(name: &str, why: &str) -> ApiError {
    invalid(format!("Arguments to \"{name}\" {why}"))
}

/// Evaluates the intrinsic functions of a value. A resource that has no physical
/// id yet resolves to `null`, as in Heat before the resource exists.
pub(crate) fn resolve(v: &Value, scope: &dyn Scope) -> ApiResult<Value> {
    match v {
        Value::Array(a) => Ok(Value::Array(
            a.iter()
                .map(|x| resolve(x, scope))
                .collect::<ApiResult<_>>()?,
        )),
        Value::Object(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().ok_or_else(|| invalid("empty map"))?;
            match k.as_str() {
                "get_param" => get_param(arg, scope),
                "get_resource" => {
                    let r = arg
                        .as_str()
                        .ok_or_else(|| bad_fn(k, "must be a resource name"))?;
                    Ok(scope.resource_id(r).map_or(Value::Null, Value::String))
                }
                "get_attr" => get_attr(arg, scope),
                "str_replace" => str_replace(&resolve(arg, scope)?, Strict::No),
                "str_replace_strict" => str_replace(&resolve(arg, scope)?, Strict::Keys),
                "str_replace_vstrict" => str_replace(&resolve(arg, scope)?, Strict::Values),
                "list_join" => list_join(&resolve(arg, scope)?),
                "if" => resolve_if(arg, scope),
                "equals" | "not" | "and" | "or" | "contains" => {
                    functions::call(k, &resolve(arg, scope)?)
                }
                "str_split" | "repeat" | "map_merge" | "map_replace" | "filter" | "list_concat"
                | "list_concat_unique" | "make_url" | "digest" => {
                    functions::call(k, &resolve(arg, scope)?)
                }
                _ => resolve_map(m, scope),
            }
        }
        Value::Object(m) => resolve_map(m, scope),
        other => Ok(other.clone()),
    }
}

/// A plain map: each value resolved.
fn resolve_map(m: &Map<String, Value>, scope: &dyn Scope) -> ApiResult<Value> {
    Ok(Value::Object(
        m.iter()
            .map(|(k, x)| Ok((k.clone(), resolve(x, scope)?)))
            .collect::<ApiResult<_>>()?,
    ))
}

/// The three arguments of `if`: condition, if-true, if-false.
fn if_args(arg: Option<&Value>) -> ApiResult<(&Value, &Value, &Value)> {
    if let Some(Value::Array(a)) = arg
        && let [c, yes, no] = a.as_slice()
    {
        return Ok((c, yes, no));
    }
    Err(bad_fn(
        "if",
        "must be a list [condition, if-true, if-false]",
    ))
}

/// `if: [condition, if-true, if-false]`: only the chosen branch is resolved.
fn resolve_if(arg: &Value, scope: &dyn Scope) -> ApiResult<Value> {
    let (c, yes, no) = if_args(Some(arg))?;
    let c = match c {
        // A condition by name (the conditions section, applied before a run,
        // leaves none of these; a bare resolve treats the name as unknown).
        Value::String(n) => {
            return Err(invalid(format!("Invalid condition \"{n}\"")));
        }
        other => truth(&resolve(other, scope)?),
    };
    resolve(if c { yes } else { no }, scope)
}

/// Follows a path of keys and indexes into a value.
fn walk(mut v: Value, path: &[Value]) -> Value {
    for p in path {
        v = match (&v, p) {
            (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
            (Value::Array(a), Value::Number(n)) => n
                .as_u64()
                .and_then(|i| a.get(i as usize).cloned())
                .unwrap_or(Value::Null),
            (Value::Array(a), Value::String(s)) => s
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i).cloned())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
    }
    v
}

fn get_param(arg: &Value, scope: &dyn Scope) -> ApiResult<Value> {
    let (name, path) = match arg {
        Value::String(s) => (s.clone(), vec![]),
        Value::Array(a) if !a.is_empty() => {
            let rest: Vec<Value> = a[1..]
                .iter()
                .map(|x| resolve(x, scope))
                .collect::<ApiResult<_>>()?;
            match resolve(&a[0], scope)? {
                Value::String(s) => (s, rest),
                _ => return Err(bad_fn("get_param", "must be a parameter name")),
            }
        }
        _ => return Err(bad_fn("get_param", "must be a parameter name or a list")),
    };
    let v = scope
        .param(&name)
        .ok_or_else(|| invalid(format!("The Parameter ({name}) was not provided.")))?;
    Ok(walk(v, &path))
}

fn get_attr(arg: &Value, scope: &dyn Scope) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad_fn(
            "get_attr",
            "must be a list [resource, attribute, ...]",
        ));
    };
    if a.len() < 2 {
        return Err(bad_fn(
            "get_attr",
            "must be a list [resource, attribute, ...]",
        ));
    }
    let resolved: Vec<Value> = a
        .iter()
        .map(|x| resolve(x, scope))
        .collect::<ApiResult<_>>()?;
    let (Some(r), Some(attr)) = (resolved[0].as_str(), resolved[1].as_str()) else {
        return Err(bad_fn("get_attr", "must name a resource and an attribute"));
    };
    if scope.resource_id(r).is_none() {
        return Ok(Value::Null);
    }
    let v = scope.attr(r, attr).ok_or_else(|| {
        invalid(format!(
            "The Referenced Attribute ({r} {attr}) is incorrect."
        ))
    })?;
    Ok(walk(v, &resolved[2..]))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether `str_replace` refuses a parameter the template does not use
/// (`_strict`), or also one whose value is empty (`_vstrict`).
#[derive(Clone, Copy, PartialEq)]
enum Strict {
    No,
    Keys,
    Values,
}

/// A condition's value: booleans as they are; Heat's strings "true"/"false".
pub(crate) fn truth(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Null => false,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn str_replace(arg: &Value, strict: Strict) -> ApiResult<Value> {
    let Value::Object(m) = arg else {
        return Err(bad_fn(
            "str_replace",
            "must be a map with template and params",
        ));
    };
    let template = m
        .get("template")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_fn("str_replace", "must include a string \"template\""))?;
    let params = match m.get("params") {
        Some(Value::Object(p)) => p,
        _ => return Err(bad_fn("str_replace", "must include a map \"params\"")),
    };
    // Longest keys first, so `$var1` is not taken by `$var`; each position is
    // replaced once (Heat's behaviour since Liberty).
    let fname = match strict {
        Strict::No => "str_replace",
        Strict::Keys => "str_replace_strict",
        Strict::Values => "str_replace_vstrict",
    };
    if strict != Strict::No {
        if let Some(k) = params.keys().find(|k| !template.contains(k.as_str())) {
            return Err(invalid(format!(
                "The following params were not found in the template: '{k}'"
            )));
        }
        if strict == Strict::Values
            && let Some(k) = params
                .iter()
                .find(|(_, v)| v.is_null() || v.as_str() == Some(""))
                .map(|(k, _)| k)
        {
            return Err(bad_fn(
                fname,
                &format!("has an empty value for param '{k}'"),
            ));
        }
    }
    let mut keys: Vec<(&String, String)> =
        params.iter().map(|(k, v)| (k, scalar_text(v))).collect();
    keys.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
    let mut out = String::new();
    let mut rest = template;
    'scan: while !rest.is_empty() {
        for (k, v) in &keys {
            if !k.is_empty() && rest.starts_with(k.as_str()) {
                out.push_str(v);
                rest = &rest[k.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(Value::String(out))
}

fn list_join(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad_fn("list_join", "must be a list [delimiter, list, ...]"));
    };
    let delim = a
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| bad_fn("list_join", "must start with a string delimiter"))?;
    let mut items = Vec::new();
    for l in &a[1..] {
        match l {
            Value::Array(xs) => items.extend(xs.iter().map(scalar_text)),
            Value::Null => {}
            _ => return Err(bad_fn("list_join", "must be lists after the delimiter")),
        }
    }
    Ok(Value::String(items.join(delim)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct S;
    impl Scope for S {
        fn param(&self, name: &str) -> Option<Value> {
            match name {
                "net" => Some(json!("private")),
                "m" => Some(json!({"a": [1, 2]})),
                _ => None,
            }
        }
        fn resource_id(&self, name: &str) -> Option<String> {
            (name == "port").then(|| "p-1".into())
        }
        fn attr(&self, name: &str, attr: &str) -> Option<Value> {
            (name == "port" && attr == "fixed_ips").then(|| json!([{"ip_address": "10.0.0.5"}]))
        }
    }

    fn tpl(text: &str) -> ApiResult<Template> {
        Template::parse(parse_text(text)?)
    }

    const LAB: &str = r#"
heat_template_version: 2018-08-31
description: lab
parameters:
  cidr:
    type: string
    default: 10.9.0.0/24
  count:
    type: number
    default: 2
    constraints:
      - range: {min: 1, max: 5}
resources:
  sub:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: {get_param: cidr}
  net:
    type: OS::Neutron::Net
  router:
    type: OS::Neutron::Router
    depends_on: sub
outputs:
  net_id:
    value: {get_resource: net}
"#;

    #[test]
    fn orders_dependencies_first() {
        let t = tpl(LAB).expect("parses");
        assert_eq!(t.order().expect("no cycle"), vec!["net", "sub", "router"]);
        assert_eq!(t.description, "lab");
        assert_eq!(t.parameters["count"].kind, ParamType::Number);
    }

    #[test]
    fn refuses_a_cycle() {
        let e = tpl("heat_template_version: 2018-08-31\nresources:\n  a: {type: X, depends_on: b}\n  b: {type: X, properties: {x: {get_resource: a}}}\n")
            .expect_err("cycle");
        assert!(e.to_string().contains("Circular Dependency Found"), "{e}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let e =
            tpl("heat_template_version: 2018-08-31\nresources:\n  a: [\n").expect_err("bad yaml");
        assert!(e.to_string().contains("line"), "{e}");
    }

    #[test]
    fn unknown_references_and_versions_are_refused() {
        let e = tpl("heat_template_version: 2018-08-31\nresources:\n  a: {type: X, properties: {n: {get_resource: zz}}}\n").expect_err("ref");
        assert!(e.to_string().contains("\"zz\""), "{e}");
        let e = tpl("heat_template_version: 2099-01-01\n").expect_err("version");
        assert!(e.to_string().contains("heat_template_version"), "{e}");
        let e = tpl("heat_template_version: 2018-08-31\nresources:\n  a: {type: X, properties: {n: {get_param: nope}}}\n").expect_err("param");
        assert!(e.to_string().contains("(nope)"), "{e}");
    }

    #[test]
    fn parameters_are_typed_and_constrained() {
        let t = tpl(LAB).expect("parses");
        let p = t.resolve_parameters(&Map::new()).expect("defaults");
        assert_eq!(p["count"], json!(2));
        let given = json!({"count": "4"});
        let p = t
            .resolve_parameters(given.as_object().expect("map"))
            .expect("in range");
        assert_eq!(p["count"], json!(4));
        let given = json!({"count": "9"});
        let e = t
            .resolve_parameters(given.as_object().expect("map"))
            .expect_err("range");
        assert!(e.to_string().contains("out of range"), "{e}");
        let given = json!({"count": "x"});
        assert!(
            t.resolve_parameters(given.as_object().expect("map"))
                .is_err()
        );
        let t = tpl("heat_template_version: 2018-08-31\nparameters:\n  k: {type: string}\n")
            .expect("parses");
        let e = t.resolve_parameters(&Map::new()).expect_err("missing");
        assert_eq!(e.to_string(), "The Parameter (k) was not provided.");
    }

    #[test]
    fn allowed_values_and_patterns() {
        let t = tpl("heat_template_version: 2018-08-31\nparameters:\n  f:\n    type: string\n    default: m1.tiny\n    constraints:\n      - allowed_values: [m1.tiny, m1.small]\n  n:\n    type: string\n    default: ab\n    constraints:\n      - allowed_pattern: '[a-z]+'\n      - length: {max: 3}\n").expect("parses");
        let e = t
            .resolve_parameters(json!({"f": "m1.huge"}).as_object().expect("map"))
            .expect_err("value");
        assert!(e.to_string().contains("not an allowed value"), "{e}");
        let e = t
            .resolve_parameters(json!({"n": "AB"}).as_object().expect("map"))
            .expect_err("pattern");
        assert!(e.to_string().contains("does not match pattern"), "{e}");
        let e = t
            .resolve_parameters(json!({"n": "abcd"}).as_object().expect("map"))
            .expect_err("length");
        assert!(e.to_string().contains("length"), "{e}");
        let e = tpl("heat_template_version: 2018-08-31\nparameters:\n  f:\n    type: string\n    default: x\n    constraints:\n      - allowed_values: [a]\n").expect_err("bad default");
        assert!(e.to_string().contains("not an allowed value"), "{e}");
    }

    #[test]
    fn conditions_leave_out_resources_and_decide_ifs() {
        let t = tpl(r#"
heat_template_version: 2018-08-31
parameters:
  env: {type: string, default: test}
  zones: {type: comma_delimited_list, default: "a,b"}
conditions:
  prod: {equals: [{get_param: env}, prod]}
  not_prod: {not: prod}
  two: {and: [not_prod, {contains: [b, {get_param: zones}]}]}
resources:
  big:
    type: OS::Heat::None
    condition: prod
  small:
    type: OS::Heat::Value
    condition: not_prod
    depends_on: big
    properties:
      value: {if: [prod, large, {if: [two, tiny, small]}]}
outputs:
  big_id:
    condition: prod
    value: {get_resource: big}
  size:
    value: {get_attr: [small, value]}
"#)
        .expect("parses");
        let test = t
            .with_conditions(&t.resolve_parameters(&Map::new()).expect("defaults"))
            .expect("conditions");
        assert_eq!(test.resources.keys().collect::<Vec<_>>(), vec!["small"]);
        assert_eq!(test.resources["small"].properties["value"], "tiny");
        assert!(test.resources["small"].depends_on.is_empty());
        assert_eq!(test.order().expect("order"), vec!["small"]);
        assert_eq!(test.outputs.keys().collect::<Vec<_>>(), vec!["size"]);
        let given = json!({"env": "prod"});
        let prod = t
            .with_conditions(
                &t.resolve_parameters(given.as_object().expect("map"))
                    .expect("params"),
            )
            .expect("conditions");
        assert_eq!(prod.resources.keys().collect::<Vec<_>>(), vec!["big"]);
        assert!(prod.outputs.contains_key("big_id"));
        let e =
            tpl("heat_template_version: 2018-08-31\nresources:\n  a: {type: X, condition: nope}\n")
                .expect_err("unknown condition");
        assert!(e.to_string().contains("nope"), "{e}");
        let e = tpl("heat_template_version: 2018-08-31\nconditions:\n  a: b\n  b: a\n")
            .expect("parses")
            .with_conditions(&Map::new())
            .expect_err("cycle");
        assert!(e.to_string().contains("Circular"), "{e}");
    }

    #[test]
    fn strict_replacements() {
        let ok = resolve(
            &json!({"str_replace_strict": {"template": "a $x", "params": {"$x": "1"}}}),
            &S,
        )
        .expect("strict");
        assert_eq!(ok, "a 1");
        let e = resolve(
            &json!({"str_replace_strict": {"template": "a", "params": {"$x": "1"}}}),
            &S,
        )
        .expect_err("unused key");
        assert!(e.to_string().contains("$x"), "{e}");
        let e = resolve(
            &json!({"str_replace_vstrict": {"template": "a $x", "params": {"$x": ""}}}),
            &S,
        )
        .expect_err("empty value");
        assert!(e.to_string().contains("$x"), "{e}");
        let v = resolve(
            &json!({"list_join": [",", {"str_split": [":", "a:b"]}, {"repeat": {"for_each": {"%i%": ["1", "2"]}, "template": "n%i%"}}]}),
            &S,
        )
        .expect("nested functions");
        assert_eq!(v, "a,b,n1,n2");
    }

    #[test]
    fn intrinsic_functions() {
        let v = json!({
            "a": {"get_param": "net"},
            "b": {"get_param": ["m", "a", 1]},
            "c": {"get_resource": "port"},
            "d": {"get_attr": ["port", "fixed_ips", 0, "ip_address"]},
            "e": {"str_replace": {"template": "host $var and $var1 on $var", "params": {"$var": "x", "$var1": {"get_param": "net"}}}},
            "f": {"list_join": [",", ["a", "b"], [{"get_param": "net"}]]},
            "g": [{"get_resource": "other"}],
        });
        let r = resolve(&v, &S).expect("resolves");
        assert_eq!(r["a"], "private");
        assert_eq!(r["b"], 2);
        assert_eq!(r["c"], "p-1");
        assert_eq!(r["d"], "10.0.0.5");
        assert_eq!(r["e"], "host x and private on x");
        assert_eq!(r["f"], "a,b,private");
        assert_eq!(r["g"], json!([null]));
        let e = resolve(&json!({"get_attr": ["port", "nope"]}), &S).expect_err("attr");
        assert!(e.to_string().contains("(port nope)"), "{e}");
    }
}
