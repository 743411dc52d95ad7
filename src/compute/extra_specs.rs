//! Validation of known flavor extra specs (microversion 2.86): a key in a
//! namespace Nova knows (`hw`, `hw_rng`, `hw_video`, `os`, `quota`, `resources`,
//! `trait`, `capabilities`, ...) must be one Nova defines, with a value of the
//! right kind; keys in other namespaces (`foo:bar`) and keys without a namespace
//! are the operator's own and pass untouched.
//!
//! The registry is `extra_specs.json`, generated from Nova's own definitions
//! (nova/api/validation/extra_specs/*.py: each spec's name pattern and value
//! rule), so the rules are Nova's rather than a hand-kept subset. Standard
//! resource classes and traits are filled in from placement's lists.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

/// One spec as Nova registers it.
#[derive(Deserialize)]
struct Def {
    /// The full-name pattern (Python syntax, which `regex` accepts for these).
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    r#enum: Option<Vec<String>>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
}

struct Rule {
    /// The name as Nova writes it (for lookups without a pattern).
    name: String,
    name_re: Regex,
    def: Def,
    value_re: Option<Regex>,
}

struct Registry {
    rules: Vec<Rule>,
    /// Patterns of the namespaces Nova recognises (the part of a name before `:`).
    namespaces: Vec<Regex>,
}

fn full(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{pattern})$")).ok()
}

fn alternation(words: &[String]) -> String {
    let escaped: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
    format!("(?:{})", escaped.join("|"))
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let defs: Vec<Def> = serde_json::from_str(include_str!("extra_specs.json")).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the extra spec registry does not parse; validation is off");
        Vec::new()
    });
    let classes: Vec<String> = crate::placement::model::STANDARD_CLASSES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let rc = alternation(&classes);
    let traits = alternation(&crate::placement::model::standard_traits());
    let mut rules = Vec::new();
    let mut namespaces: Vec<String> = Vec::new();
    for mut def in defs {
        def.name = def
            .name
            .replace("__RC__", &rc)
            .replace("__TRAIT__", &traits);
        if let Some((ns, _)) = def.name.split_once(':')
            && !namespaces.iter().any(|n| n == ns)
        {
            namespaces.push(ns.to_owned());
        }
        let Some(name_re) = full(&def.name) else {
            tracing::error!(name = %def.name, "an extra spec pattern does not compile; skipped");
            continue;
        };
        let value_re = match (def.kind.as_str(), &def.pattern) {
            ("str", Some(p)) => full(p),
            _ => None,
        };
        rules.push(Rule {
            name: def.name.clone(),
            name_re,
            def,
            value_re,
        });
    }
    Registry {
        rules,
        namespaces: namespaces.iter().filter_map(|n| full(n)).collect(),
    }
});

/// Python's `strutils.bool_from_string(strict=True)` words.
fn bool_like(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes" | "0" | "f" | "false" | "off" | "n" | "no"
    )
}

fn check_value(r: &Rule, value: &str) -> Result<(), String> {
    match r.def.kind.as_str() {
        "int" => {
            let n: i64 = value.trim().parse().map_err(|_| {
                format!("Validation failed; '{value}' is not a valid integer value.")
            })?;
            if let Some(max) = r.def.max
                && n > max
            {
                return Err(format!(
                    "Validation failed; '{value}' is greater than the max value of '{max}'."
                ));
            }
            if let Some(min) = r.def.min
                && n < min
            {
                return Err(format!(
                    "Validation failed; '{value}' is less than the min value of '{min}'."
                ));
            }
            Ok(())
        }
        "bool" if !bool_like(value) => Err(format!(
            "Validation failed; '{value}' is not a valid boolean-like value."
        )),
        "str" => {
            if let Some(re) = &r.value_re {
                if !re.is_match(value) {
                    return Err(format!(
                        "Validation failed; '{value}' is not of the format '{}'.",
                        r.def.pattern.as_deref().unwrap_or_default()
                    ));
                }
            } else if let Some(allowed) = &r.def.r#enum
                && !allowed.iter().any(|a| a == value)
            {
                return Err(format!(
                    "Validation failed; '{value}' is not one of: {}.",
                    allowed.join(", ")
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Nova's `validators.validate`: the message of the 400 when `name=value` is
/// refused.
pub(crate) fn validate(name: &str, value: &str) -> Result<(), String> {
    let reg = &*REGISTRY;
    if let Some(r) = reg
        .rules
        .iter()
        .find(|r| r.name == name)
        .or_else(|| reg.rules.iter().find(|r| r.name_re.is_match(name)))
    {
        return check_value(r, value);
    }
    let Some((ns, _)) = name.split_once(':') else {
        return Ok(());
    };
    if reg.namespaces.iter().any(|n| n.is_match(ns)) {
        return Err(format!(
            "Validation failed; extra spec '{name}' does not appear to be a valid extra spec."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        let defs: Vec<Def> =
            serde_json::from_str(include_str!("extra_specs.json")).expect("registry parses");
        assert_eq!(
            REGISTRY.rules.len(),
            defs.len(),
            "a pattern failed to compile"
        );
    }

    #[test]
    fn known_namespaces_are_checked_custom_ones_pass() {
        assert!(validate("hw:cpu_policy", "shared").is_ok());
        assert!(validate("hw:cpu_policy", "sometimes").is_err());
        assert!(validate("hw:no_such_thing", "1").is_err());
        assert!(validate("foo:bar", "baz").is_ok());
        assert!(validate("plain", "anything").is_ok());
        assert!(validate("hw:numa_nodes", "2").is_ok());
        assert!(validate("hw:numa_nodes", "two").is_err());
        assert!(validate("hw:numa_cpus.0", "0-1").is_ok());
        assert!(validate("resources:VCPU", "2").is_ok());
        assert!(validate("resources1:CUSTOM_GPU", "1").is_ok());
        assert!(validate("resources:VCPU", "x").is_err());
        assert!(validate("trait:HW_CPU_X86_AVX2", "required").is_ok());
        assert!(validate("trait:CUSTOM_FOO", "maybe").is_err());
        assert!(validate("hw_rng:allowed", "yes").is_ok());
        assert!(validate("hw_rng:allowed", "perhaps").is_err());
    }
}
