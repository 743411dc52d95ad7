//! The HOT intrinsic functions that only transform values (lists, maps, strings,
//! conditions), applied to arguments whose own functions are already resolved.
//! Pure code, each function unit-tested with Heat's examples.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::template::truth;
use crate::http::error::{ApiError, ApiResult};

fn bad(name: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("Arguments to \"{name}\" {why}"))
}

/// Calls the function `name` on its resolved argument.
pub(super) fn call(name: &str, arg: &Value) -> ApiResult<Value> {
    match name {
        "equals" => equals(arg),
        "not" => Ok(Value::Bool(!truth(arg))),
        "and" | "or" => {
            let Value::Array(items) = arg else {
                return Err(bad(name, "must be a list of conditions"));
            };
            if items.len() < 2 {
                return Err(bad(name, "must be a list of at least two conditions"));
            }
            let mut vals = items.iter().map(truth);
            Ok(Value::Bool(if name == "and" {
                vals.all(|b| b)
            } else {
                vals.any(|b| b)
            }))
        }
        "contains" => contains(arg),
        "str_split" => str_split(arg),
        "repeat" => repeat(arg),
        "map_merge" => map_merge(arg),
        "map_replace" => map_replace(arg),
        "filter" => filter(arg),
        "list_concat" => list_concat(arg, false),
        "list_concat_unique" => list_concat(arg, true),
        "make_url" => make_url(arg),
        "digest" => digest(arg),
        other => Err(ApiError::bad_request(format!(
            "The function \"{other}\" is not supported."
        ))),
    }
}

fn equals(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad("equals", "must be a list [value1, value2]"));
    };
    let [x, y] = a.as_slice() else {
        return Err(bad("equals", "must be a list [value1, value2]"));
    };
    // Heat compares after its own type coercion: a number parameter equals
    // its text.
    let same = x == y
        || matches!((x, y), (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) if n.to_string() == *s);
    Ok(Value::Bool(same))
}

fn contains(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad("contains", "must be a list [value, sequence]"));
    };
    let [x, seq] = a.as_slice() else {
        return Err(bad("contains", "must be a list [value, sequence]"));
    };
    Ok(Value::Bool(match seq {
        Value::Array(items) => items.contains(x),
        Value::String(s) => x.as_str().is_some_and(|x| s.contains(x)),
        Value::Object(m) => x.as_str().is_some_and(|x| m.contains_key(x)),
        _ => return Err(bad("contains", "needs a list, string or map as sequence")),
    }))
}

fn str_split(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad(
            "str_split",
            "must be a list [delimiter, string, (index)]",
        ));
    };
    let (Some(Value::String(delim)), Some(text)) = (a.first(), a.get(1)) else {
        return Err(bad(
            "str_split",
            "must be a list [delimiter, string, (index)]",
        ));
    };
    let text = match text {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let parts: Vec<Value> = text
        .split(delim.as_str())
        .map(|p| Value::String(p.to_owned()))
        .collect();
    match a.get(2) {
        None => Ok(Value::Array(parts)),
        Some(i) => {
            let idx = i
                .as_u64()
                .or_else(|| i.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| bad("str_split", "needs an integer index"))?;
            parts.get(idx as usize).cloned().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Incorrect index to \"str_split\" should be between 0 and {}",
                    parts.len().saturating_sub(1)
                ))
            })
        }
    }
}

/// Replaces every occurrence of each placeholder in the strings (and keys) of
/// a value.
fn substitute(v: &Value, vars: &[(&str, &Value)]) -> Value {
    let text = |s: &str| {
        let mut out = s.to_owned();
        for (k, val) in vars {
            let with = match val {
                Value::String(x) => x.clone(),
                other => other.to_string(),
            };
            out = out.replace(k, &with);
        }
        out
    };
    match v {
        Value::String(s) => {
            // A string that is exactly one placeholder takes its value whole.
            if let Some((_, val)) = vars.iter().find(|(k, _)| *k == s) {
                return (*val).clone();
            }
            Value::String(text(s))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (text(k), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn repeat(arg: &Value) -> ApiResult<Value> {
    let Value::Object(m) = arg else {
        return Err(bad("repeat", "must be a map with for_each and template"));
    };
    let Some(Value::Object(for_each)) = m.get("for_each") else {
        return Err(bad("repeat", "must include a map \"for_each\""));
    };
    let template = m
        .get("template")
        .ok_or_else(|| bad("repeat", "must include a \"template\""))?;
    let permutations = m.get("permutations").map(truth).unwrap_or(true);
    let mut lists: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (k, v) in for_each {
        match v {
            Value::Array(a) => lists.push((k.as_str(), a)),
            _ => return Err(bad("repeat", "needs a list for each loop variable")),
        }
    }
    let mut out = Vec::new();
    if permutations {
        let mut idx = vec![0usize; lists.len()];
        if lists.iter().any(|(_, l)| l.is_empty()) {
            return Ok(Value::Array(vec![]));
        }
        loop {
            let vars: Vec<(&str, &Value)> = lists
                .iter()
                .zip(&idx)
                .map(|((k, l), i)| (*k, &l[*i]))
                .collect();
            out.push(substitute(template, &vars));
            // Next combination, the last variable fastest.
            let mut pos = lists.len();
            loop {
                if pos == 0 {
                    return Ok(Value::Array(out));
                }
                pos -= 1;
                idx[pos] += 1;
                if idx[pos] < lists[pos].1.len() {
                    break;
                }
                idx[pos] = 0;
            }
        }
    } else {
        let n = lists.first().map(|(_, l)| l.len()).unwrap_or(0);
        if lists.iter().any(|(_, l)| l.len() != n) {
            return Err(bad(
                "repeat",
                "needs lists of the same length when permutations is false",
            ));
        }
        for i in 0..n {
            let vars: Vec<(&str, &Value)> = lists.iter().map(|(k, l)| (*k, &l[i])).collect();
            out.push(substitute(template, &vars));
        }
        Ok(Value::Array(out))
    }
}

fn map_merge(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad("map_merge", "must be a list of maps"));
    };
    let mut out = Map::new();
    for m in a {
        match m {
            Value::Object(m) => out.extend(m.clone()),
            Value::Null => {}
            _ => return Err(bad("map_merge", "must be a list of maps")),
        }
    }
    Ok(Value::Object(out))
}

fn map_replace(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad("map_replace", "must be a list [map, {keys, values}]"));
    };
    let (Some(Value::Object(m)), rules) = (a.first(), a.get(1)) else {
        return Err(bad("map_replace", "must start with a map"));
    };
    let empty = Map::new();
    let rules = match rules {
        Some(Value::Object(r)) => r,
        None | Some(Value::Null) => &empty,
        _ => return Err(bad("map_replace", "needs a map of keys and values")),
    };
    let keys = match rules.get("keys") {
        Some(Value::Object(k)) => k.clone(),
        None | Some(Value::Null) => Map::new(),
        _ => return Err(bad("map_replace", "needs \"keys\" to be a map")),
    };
    let values = match rules.get("values") {
        Some(Value::Object(v)) => v.clone(),
        None | Some(Value::Null) => Map::new(),
        _ => return Err(bad("map_replace", "needs \"values\" to be a map")),
    };
    let mut out = Map::new();
    for (k, v) in m {
        let nk = keys
            .get(k)
            .map(|x| x.as_str().map(str::to_owned).unwrap_or(x.to_string()))
            .unwrap_or_else(|| k.clone());
        if out.contains_key(&nk) {
            return Err(ApiError::bad_request(format!(
                "key replacement {nk} collides with a key in the input map"
            )));
        }
        let key_text = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let nv = key_text
            .and_then(|t| values.get(&t).cloned())
            .unwrap_or_else(|| v.clone());
        out.insert(nk, nv);
    }
    Ok(Value::Object(out))
}

fn filter(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad("filter", "must be a list [values to remove, list]"));
    };
    let [remove, list] = a.as_slice() else {
        return Err(bad("filter", "must be a list [values to remove, list]"));
    };
    let remove = match remove {
        Value::Array(r) => r.clone(),
        Value::Null => vec![],
        _ => return Err(bad("filter", "needs a list of values to remove")),
    };
    let Value::Array(list) = list else {
        return Err(bad("filter", "needs a list to filter"));
    };
    Ok(Value::Array(
        list.iter()
            .filter(|x| !remove.contains(x))
            .cloned()
            .collect(),
    ))
}

fn list_concat(arg: &Value, unique: bool) -> ApiResult<Value> {
    let name = if unique {
        "list_concat_unique"
    } else {
        "list_concat"
    };
    let Value::Array(a) = arg else {
        return Err(bad(name, "must be a list of lists"));
    };
    let mut out: Vec<Value> = Vec::new();
    for l in a {
        match l {
            Value::Array(items) => {
                for x in items {
                    if !unique || !out.contains(x) {
                        out.push(x.clone());
                    }
                }
            }
            Value::Null => {}
            _ => return Err(bad(name, "must be a list of lists")),
        }
    }
    Ok(Value::Array(out))
}

/// `make_url`: a URL from its parts, each optional.
fn make_url(arg: &Value) -> ApiResult<Value> {
    let Value::Object(m) = arg else {
        return Err(bad("make_url", "must be a map"));
    };
    const KEYS: &[&str] = &[
        "scheme", "username", "password", "host", "port", "path", "query", "fragment",
    ];
    if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(bad("make_url", &format!("has an unknown key \"{k}\"")));
    }
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut url = String::new();
    let scheme = text("scheme");
    if !scheme.is_empty() {
        url.push_str(&scheme);
        url.push_str("://");
    }
    url.push_str(&url_authority(
        &text("username"),
        &text("password"),
        &text("host"),
        &text("port"),
    ));
    let path = text("path");
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(&path);
    if let Some(Value::Object(q)) = m.get("query") {
        url.push_str(&url_query(q));
    }
    let frag = text("fragment");
    if !frag.is_empty() {
        url.push('#');
        url.push_str(&frag);
    }
    Ok(Value::String(url))
}

/// `user:password@host:port`, an IPv6 host in brackets.
fn url_authority(user: &str, password: &str, host: &str, port: &str) -> String {
    let mut out = String::new();
    if !user.is_empty() {
        out.push_str(user);
        if !password.is_empty() {
            out.push(':');
            out.push_str(password);
        }
        out.push('@');
    }
    if host.contains(':') && !host.starts_with('[') {
        out.push_str(&format!("[{host}]"));
    } else {
        out.push_str(host);
    }
    if !port.is_empty() {
        out.push(':');
        out.push_str(port);
    }
    out
}

/// `?k=v&...` in key order, each part percent-encoded; empty for no parameters.
fn url_query(q: &serde_json::Map<String, Value>) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const Q: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'&')
        .add(b'=')
        .add(b'#')
        .add(b'+')
        .add(b'%');
    let sorted: BTreeMap<&String, &Value> = q.iter().collect();
    let parts: Vec<String> = sorted
        .into_iter()
        .map(|(k, v)| {
            let v = v.as_str().map(str::to_owned).unwrap_or(v.to_string());
            format!(
                "{}={}",
                utf8_percent_encode(k, Q),
                utf8_percent_encode(&v, Q)
            )
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn digest(arg: &Value) -> ApiResult<Value> {
    let Value::Array(a) = arg else {
        return Err(bad("digest", "must be a list [algorithm, value]"));
    };
    let (Some(Value::String(alg)), Some(v)) = (a.first(), a.get(1)) else {
        return Err(bad("digest", "must be a list [algorithm, value]"));
    };
    let data = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    use sha2::Digest;
    let bytes = data.as_bytes();
    let hexed = match alg.as_str() {
        "md5" => hex::encode(md5::Md5::digest(bytes)),
        "sha1" => hex::encode(sha1::Sha1::digest(bytes)),
        "sha224" => hex::encode(sha2::Sha224::digest(bytes)),
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha384" => hex::encode(sha2::Sha384::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        other => {
            return Err(ApiError::bad_request(format!(
                "Algorithm {other} is not available."
            )));
        }
    };
    Ok(Value::String(hexed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str, arg: Value) -> Value {
        call(name, &arg).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn conditions() {
        assert_eq!(f("equals", json!(["a", "a"])), json!(true));
        assert_eq!(f("equals", json!([2, "2"])), json!(true));
        assert_eq!(f("equals", json!(["a", "b"])), json!(false));
        assert_eq!(f("not", json!(false)), json!(true));
        assert_eq!(f("and", json!([true, false])), json!(false));
        assert_eq!(f("or", json!([true, false])), json!(true));
        assert!(call("and", &json!([true])).is_err());
        assert_eq!(f("contains", json!(["b", ["a", "b"]])), json!(true));
        assert_eq!(f("contains", json!(["z", ["a", "b"]])), json!(false));
    }

    #[test]
    fn strings_and_lists() {
        assert_eq!(
            f("str_split", json!([",", "a,b,c"])),
            json!(["a", "b", "c"])
        );
        assert_eq!(f("str_split", json!([",", "a,b,c", 1])), json!("b"));
        assert!(call("str_split", &json!([",", "a", 3])).is_err());
        assert_eq!(
            f("list_concat", json!([["a", "b"], ["b", "c"]])),
            json!(["a", "b", "b", "c"])
        );
        assert_eq!(
            f("list_concat_unique", json!([["a", "b"], ["b", "c"]])),
            json!(["a", "b", "c"])
        );
        assert_eq!(f("filter", json!([[3], [1, 3, 5, 3]])), json!([1, 5]));
    }

    #[test]
    fn repeat_makes_permutations_or_zips() {
        let v = f(
            "repeat",
            json!({"for_each": {"<%port%>": ["80", "443"]}, "template": {"port_range_min": "<%port%>", "protocol": "tcp"}}),
        );
        assert_eq!(
            v,
            json!([{"port_range_min": "80", "protocol": "tcp"}, {"port_range_min": "443", "protocol": "tcp"}])
        );
        let v = f(
            "repeat",
            json!({"for_each": {"%a%": ["x", "y"], "%b%": ["1", "2"]}, "template": "%a%-%b%"}),
        );
        assert_eq!(v, json!(["x-1", "x-2", "y-1", "y-2"]));
        let v = f(
            "repeat",
            json!({"for_each": {"%a%": ["x", "y"], "%b%": ["1", "2"]}, "template": "%a%-%b%", "permutations": false}),
        );
        assert_eq!(v, json!(["x-1", "y-2"]));
    }

    #[test]
    fn maps() {
        assert_eq!(
            f("map_merge", json!([{"a": 1, "b": 1}, {"b": 2}])),
            json!({"a": 1, "b": 2})
        );
        assert_eq!(
            f(
                "map_replace",
                json!([{"k1": "v1", "k2": "v2"}, {"keys": {"k1": "K1"}, "values": {"v2": "V2"}}])
            ),
            json!({"K1": "v1", "k2": "V2"})
        );
        assert!(
            call(
                "map_replace",
                &json!([{"a": 1, "b": 2}, {"keys": {"a": "b"}}])
            )
            .is_err()
        );
    }

    #[test]
    fn urls_and_digests() {
        assert_eq!(
            f(
                "make_url",
                json!({"scheme": "http", "host": "10.0.0.1", "port": 8080, "path": "/a", "query": {"x": "1 2"}, "fragment": "f"})
            ),
            json!("http://10.0.0.1:8080/a?x=1%202#f")
        );
        assert_eq!(
            f(
                "make_url",
                json!({"scheme": "https", "host": "::1", "path": "p"})
            ),
            json!("https://[::1]/p")
        );
        assert_eq!(
            f("digest", json!(["sha256", "abc"])),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            f("digest", json!(["md5", "abc"])),
            json!("900150983cd24fb0d6963f7d28e17f72")
        );
        assert!(call("digest", &json!(["rot13", "abc"])).is_err());
    }
}
