//! S3's XML: a small writer for response documents and a reader for the two request
//! documents S3 clients send (`CompleteMultipartUpload`, `Delete`). Both documents are
//! flat lists of small elements, so a tag scanner is enough; anything it cannot read is
//! `MalformedXML`.

use super::S3Error;

pub(super) const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:x};", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        let ent = &rest[i + 1..end];
        match ent {
            "amp" => out.push('&'),
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "quot" => out.push('"'),
            "apos" => out.push('\''),
            _ => {
                let n = if let Some(h) = ent.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()?
                } else {
                    ent.strip_prefix('#')?.parse().ok()?
                };
                out.push(char::from_u32(n)?);
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A response document under construction.
pub(super) struct Doc {
    text: String,
    open: Vec<String>,
}

impl Doc {
    /// A document whose root is `root` (with S3's namespace when `ns`).
    pub(super) fn new(root: &str, ns: bool) -> Doc {
        let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if ns {
            text.push_str(&format!("<{root} xmlns=\"{NS}\">"));
        } else {
            text.push_str(&format!("<{root}>"));
        }
        Doc {
            text,
            open: vec![root.to_owned()],
        }
    }
    pub(super) fn leaf(&mut self, name: &str, value: &str) -> &mut Doc {
        self.text
            .push_str(&format!("<{name}>{}</{name}>", escape(value)));
        self
    }
    pub(super) fn open(&mut self, name: &str) -> &mut Doc {
        self.text.push_str(&format!("<{name}>"));
        self.open.push(name.to_owned());
        self
    }
    pub(super) fn close(&mut self) -> &mut Doc {
        if let Some(n) = self.open.pop() {
            self.text.push_str(&format!("</{n}>"));
        }
        self
    }
    /// Pre-built markup (attributes the writer has no form for).
    pub(super) fn text_raw(&mut self, markup: &str) -> &mut Doc {
        self.text.push_str(markup);
        self
    }
    pub(super) fn finish(mut self) -> String {
        while let Some(n) = self.open.pop() {
            self.text.push_str(&format!("</{n}>"));
        }
        self.text
    }
}

/// The text of every `<child>` inside every `<parent>` element, in order: one map per
/// `parent` (child name -> text).
pub(super) fn records(
    doc: &[u8],
    parent: &str,
) -> Result<Vec<std::collections::BTreeMap<String, String>>, S3Error> {
    let text = std::str::from_utf8(doc).map_err(|_| S3Error::malformed_xml())?;
    let mut out = Vec::new();
    let mut rest = text;
    let open = format!("<{parent}>");
    let close = format!("</{parent}>");
    while let Some(i) = rest.find(&open) {
        let body_start = i + open.len();
        let end = rest[body_start..]
            .find(&close)
            .ok_or_else(S3Error::malformed_xml)?
            + body_start;
        out.push(children(&rest[body_start..end])?);
        rest = &rest[end + close.len()..];
    }
    Ok(out)
}

/// The text of the first `<name>` element anywhere in the document.
pub(super) fn first(doc: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(doc).ok()?;
    let open = format!("<{name}>");
    let i = text.find(&open)? + open.len();
    let end = text[i..].find(&format!("</{name}>"))? + i;
    unescape(&text[i..end])
}

fn children(body: &str) -> Result<std::collections::BTreeMap<String, String>, S3Error> {
    let mut map = std::collections::BTreeMap::new();
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let gt = after.find('>').ok_or_else(S3Error::malformed_xml)?;
        let tag = &after[..gt];
        if tag.ends_with('/') {
            map.insert(tag.trim_end_matches('/').trim().to_owned(), String::new());
            rest = &after[gt + 1..];
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or_default();
        if name.is_empty() || name.starts_with('/') {
            return Err(S3Error::malformed_xml());
        }
        let content = &after[gt + 1..];
        let close = format!("</{name}>");
        let end = content.find(&close).ok_or_else(S3Error::malformed_xml)?;
        let value = unescape(&content[..end]).ok_or_else(S3Error::malformed_xml)?;
        map.insert(name.to_owned(), value);
        rest = &content[end + close.len()..];
    }
    Ok(map)
}

/// S3's `LastModified` form: ISO 8601 with milliseconds, in UTC.
pub(super) fn iso(ts: f64) -> String {
    let millis = (ts * 1000.0) as i64;
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_complete_request() {
        let doc = br#"<?xml version="1.0"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>"#;
        let parts = records(doc, "Part").expect("parse");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1]["ETag"], "\"b\"");
        assert_eq!(parts[0]["PartNumber"], "1");
    }

    #[test]
    fn reads_a_delete_request() {
        let doc = b"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>x</VersionId></Object></Delete>";
        let objs = records(doc, "Object").expect("parse");
        assert_eq!(objs[0]["Key"], "a&b");
        assert_eq!(first(doc, "Quiet").as_deref(), Some("true"));
        assert!(records(b"<Delete><Object><Key>a</Object></Delete>", "Object").is_err());
    }

    #[test]
    fn writes_escaped() {
        let mut d = Doc::new("R", true);
        d.open("A").leaf("K", "a<b&c").close();
        assert!(d.finish().ends_with("<A><K>a&lt;b&amp;c</K></A></R>"));
        assert_eq!(iso(1.5), "1970-01-01T00:00:01.500Z");
    }
}
