//! MIME multipart user data, as Heat composes it with Python's `email` package:
//! `OS::Heat::MultipartMime` joins configs into one message, and a server's
//! `user_data_format: SOFTWARE_CONFIG` wraps its user data (or the parts of a
//! multipart one) after a cloud-config part, so cloud-init runs each part by
//! its type (`text/x-shellscript`, `text/cloud-config`...).

use base64::Engine;

/// One part: its text, MIME subtype (`plain` when empty) and file name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub text: String,
    pub subtype: String,
    pub filename: String,
}

impl Part {
    /// A part as Heat makes one: without a subtype, the file name's stem
    /// (`os.path.splitext(filename)[0]`) is the subtype.
    pub(crate) fn new(text: &str, subtype: &str, filename: &str) -> Part {
        let subtype = if subtype.is_empty() && !filename.is_empty() {
            match filename.rfind('.') {
                Some(i) if i > 0 => filename[..i].to_owned(),
                _ => filename.to_owned(),
            }
        } else {
            subtype.to_owned()
        };
        Part {
            text: text.to_owned(),
            subtype,
            filename: filename.to_owned(),
        }
    }

    /// `MIMEText`: us-ascii text as is (7bit), other text base64 in utf-8.
    fn render(&self) -> String {
        let subtype = if self.subtype.is_empty() {
            "plain"
        } else {
            &self.subtype
        };
        let ascii = self.text.is_ascii();
        let mut out = format!(
            "Content-Type: text/{subtype}; charset=\"{}\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: {}\n",
            if ascii { "us-ascii" } else { "utf-8" },
            if ascii { "7bit" } else { "base64" },
        );
        if !self.filename.is_empty() {
            out.push_str(&format!(
                "Content-Disposition: attachment; filename=\"{}\"\n",
                self.filename
            ));
        }
        out.push('\n');
        if ascii {
            out.push_str(&self.text);
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(self.text.as_bytes());
            for line in b64.as_bytes().chunks(76) {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            }
        }
        out
    }
}

/// `MIMEMultipart(_subparts=parts).as_string()`.
pub(crate) fn multipart(parts: &[Part]) -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random_range(1_000_000_000_000_000_000..u64::MAX);
    let boundary = format!("==============={n}==");
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("--{boundary}\n"));
        out.push_str(&p.render());
    }
    out.push_str(&format!("\n--{boundary}--\n"));
    out
}

/// The value of a header in a block of headers (case-insensitive name).
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A parameter of a header value (`boundary="x"`, `filename=x`).
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a multipart message (`None`: the text is not one), each
/// decoded from base64 when it was sent so: what Heat reads with
/// `email.message_from_string(...).get_payload()`.
pub(crate) fn parts_of(text: &str) -> Option<Vec<Part>> {
    let text = text.replace("\r\n", "\n");
    let (headers, body) = text.split_once("\n\n")?;
    let ctype = header(headers, "Content-Type")?;
    if !ctype.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    let boundary = param(ctype, "boundary")?;
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in body.split(&delim).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        // The line break before the next delimiter belongs to the delimiter.
        let chunk = chunk.strip_suffix('\n').unwrap_or(chunk);
        let (h, payload) = chunk.split_once("\n\n").unwrap_or((chunk, ""));
        let subtype = header(h, "Content-Type")
            .and_then(|t| t.split(';').next())
            .and_then(|t| t.split_once('/'))
            .map(|(_, s)| s.trim().to_owned())
            .unwrap_or_else(|| "plain".into());
        let filename = header(h, "Content-Disposition")
            .and_then(|d| param(d, "filename"))
            .unwrap_or_default();
        let encoding = header(h, "Content-Transfer-Encoding").unwrap_or("7bit");
        let text = if encoding.eq_ignore_ascii_case("base64") {
            let joined: String = payload.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .ok()?;
            String::from_utf8(bytes).ok()?
        } else {
            payload.to_owned()
        };
        out.push(Part {
            text,
            subtype,
            filename,
        });
    }
    Some(out)
}

/// The cloud-config part Heat puts first in a SOFTWARE_CONFIG server's user
/// data: cloud-init's output kept in a log file, for troubleshooting.
const CLOUD_CONFIG: &str = "#cloud-config\n# Made by onestack's orchestration for user_data_format SOFTWARE_CONFIG.\noutput: {all: '| tee -a /var/log/cloud-init-output.log'}\n";

/// A server's user data for `user_data_format: SOFTWARE_CONFIG`: the
/// cloud-config part, then the user data's own parts when it is a multipart
/// message, else the user data as one part.
pub(crate) fn software_config_user_data(user_data: &str) -> String {
    let mut parts = vec![Part::new(CLOUD_CONFIG, "cloud-config", "cloud-config")];
    match parts_of(user_data) {
        Some(ps) => parts.extend(ps),
        None => parts.push(Part::new(user_data, "", "")),
    }
    multipart(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_round_trips_ascii_and_utf8_parts() {
        let parts = vec![
            Part::new("#!/bin/sh\necho hi\n", "x-shellscript", "part1.sh"),
            Part::new("#cloud-config\nruncmd: [échec]\n", "cloud-config", ""),
            Part::new("plain text", "", "notes.txt"),
        ];
        let m = multipart(&parts);
        assert!(m.starts_with("Content-Type: multipart/mixed; boundary=\"==============="));
        assert!(m.contains("Content-Type: text/x-shellscript; charset=\"us-ascii\""));
        assert!(m.contains("Content-Disposition: attachment; filename=\"part1.sh\""));
        assert!(
            m.contains("charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64")
        );
        let back = parts_of(&m).expect("multipart");
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], parts[0]);
        assert_eq!(back[1].text, parts[1].text);
        assert_eq!(back[1].subtype, "cloud-config");
        // No subtype: the file name's stem, as Heat does.
        assert_eq!(back[2].subtype, "notes");
        assert_eq!(back[2].text, "plain text");
    }

    #[test]
    fn plain_text_is_not_multipart() {
        assert_eq!(parts_of("#!/bin/sh\necho hi\n"), None);
        assert_eq!(parts_of("Content-Type: text/plain\n\nhello"), None);
    }

    #[test]
    fn software_config_user_data_wraps_or_merges() {
        let one = parts_of(&software_config_user_data("#!/bin/sh\necho hi\n")).expect("mime");
        assert_eq!(one.len(), 2);
        assert_eq!(one[0].subtype, "cloud-config");
        assert_eq!(one[1].text, "#!/bin/sh\necho hi\n");
        let inner = multipart(&[
            Part::new("a", "x-shellscript", "a.sh"),
            Part::new("b", "x-shellscript", "b.sh"),
        ]);
        let merged = parts_of(&software_config_user_data(&inner)).expect("mime");
        let names: Vec<&str> = merged.iter().map(|p| p.filename.as_str()).collect();
        assert_eq!(names, ["cloud-config", "a.sh", "b.sh"]);
    }
}
