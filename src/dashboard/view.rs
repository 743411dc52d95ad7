//! The building blocks pages are made of (forms, tables, row actions), shaped for
//! the one generic panel template, and the posted-form reader.

use serde::Serialize;
use serde_json::Value;

use super::PageError;
use super::session::{Session, csrf_matches};

/// A posted `application/x-www-form-urlencoded` body, keys possibly repeated
/// (multi-selects).
pub(super) struct FormData(pub Vec<(String, String)>);

impl FormData {
    /// Refuses the form unless it carries the session's CSRF token.
    pub(super) fn checked(self, s: &Session) -> Result<FormData, PageError> {
        if csrf_matches(&s.csrf, self.get("csrf")) {
            Ok(self)
        } else {
            Err(PageError::Csrf)
        }
    }

    /// The trimmed value of `name` ("" when absent).
    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// A value that must be present.
    pub(super) fn required(&self, name: &str, label: &str) -> Result<&str, PageError> {
        match self.get(name) {
            "" => Err(PageError::BadInput(format!("{label} is required."))),
            v => Ok(v),
        }
    }

    /// Every non-empty value of a repeated key.
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

#[derive(Serialize, Default)]
pub(super) struct Field {
    pub name: String,
    pub label: String,
    /// text, number, password, textarea, select, multiselect, checkbox
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub required: bool,
}

impl Field {
    pub(super) fn text(name: &str, label: &str) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind: "text",
            ..Default::default()
        }
    }
    pub(super) fn kind(mut self, kind: &'static str) -> Field {
        self.kind = kind;
        self
    }
    pub(super) fn value(mut self, v: impl Into<String>) -> Field {
        self.value = v.into();
        self
    }
    pub(super) fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub(super) fn select(name: &str, label: &str, options: Vec<(String, String)>) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind: "select",
            options,
            ..Default::default()
        }
    }
}

#[derive(Serialize)]
pub(super) struct Form {
    pub id: String,
    pub title: String,
    pub action: String,
    pub submit: String,
    pub fields: Vec<Field>,
}

impl Form {
    pub(super) fn new(
        id: &str,
        title: &str,
        action: &str,
        submit: &str,
        fields: Vec<Field>,
    ) -> Form {
        Form {
            id: id.into(),
            title: title.into(),
            action: action.into(),
            submit: submit.into(),
            fields,
        }
    }
}

/// A button on a table row: a POST form to `action` with hidden `fields` (and any
/// visible `inputs`, such as a select to pick a port).
#[derive(Serialize)]
pub(super) struct Action {
    pub label: String,
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub inputs: Vec<Field>,
    pub danger: bool,
}

impl Action {
    pub(super) fn new(label: &str, action: String) -> Action {
        Action {
            label: label.into(),
            action,
            fields: vec![],
            inputs: vec![],
            danger: false,
        }
    }
    pub(super) fn danger(mut self) -> Action {
        self.danger = true;
        self
    }
    pub(super) fn field(mut self, k: &str, v: &str) -> Action {
        self.fields.push((k.into(), v.into()));
        self
    }
    pub(super) fn input(mut self, f: Field) -> Action {
        self.inputs.push(f);
        self
    }
}

#[derive(Serialize)]
pub(super) struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub class: Option<String>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text,
            href: None,
            class: None,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_owned())
    }
}

pub(super) fn link(text: impl Into<String>, href: String) -> Cell {
    Cell {
        text: text.into(),
        href: Some(href),
        class: None,
    }
}

/// A status cell, styled by its value; `live` ones make the page refresh itself.
pub(super) fn status(text: &str) -> Cell {
    let class = match text.to_ascii_uppercase().as_str() {
        "ACTIVE" | "AVAILABLE" | "IN-USE" | "UP" | "ENABLED" => "ok",
        "ERROR" | "DOWN" | "ERROR_DELETING" => "bad",
        "SHUTOFF" | "PAUSED" | "SUSPENDED" => "off",
        _ => "live",
    };
    Cell {
        text: text.to_owned(),
        href: None,
        class: Some(class.into()),
    }
}

#[derive(Serialize)]
pub(super) struct Row {
    pub id: String,
    pub cells: Vec<Cell>,
    pub actions: Vec<Action>,
}

#[derive(Serialize)]
pub(super) struct Table {
    pub id: String,
    pub title: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Row>,
    pub empty: String,
}

impl Table {
    pub(super) fn new(id: &str, title: &str, columns: Vec<&'static str>) -> Table {
        Table {
            id: id.into(),
            title: title.into(),
            columns,
            rows: vec![],
            empty: "Nothing here yet.".into(),
        }
    }
    pub(super) fn row(&mut self, id: &str, cells: Vec<Cell>, actions: Vec<Action>) {
        self.rows.push(Row {
            id: id.into(),
            cells,
            actions,
        });
    }
}

/// A JSON string field, "" when absent.
pub(super) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The array under `key` (empty when absent).
pub(super) fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// A JSON scalar as display text.
pub(super) fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(csrf: &str) -> Session {
        Session {
            id_hash: String::new(),
            csrf: csrf.into(),
            token: String::new(),
            user_id: String::new(),
            user_name: String::new(),
            domain_name: String::new(),
            project_id: String::new(),
            project_name: String::new(),
            is_admin: false,
            created_at: 0,
            expires_at: 0,
        }
    }

    #[test]
    fn forms_without_the_session_csrf_are_refused() {
        let s = session("abc");
        let ok = FormData(vec![
            ("csrf".into(), "abc".into()),
            ("name".into(), " x ".into()),
        ]);
        let ok = ok.checked(&s).map_err(|_| "refused").expect("accepted");
        assert_eq!(ok.get("name"), "x");
        for bad in [vec![], vec![("csrf".to_owned(), "abd".to_owned())]] {
            assert!(matches!(FormData(bad).checked(&s), Err(PageError::Csrf)));
        }
    }

    #[test]
    fn repeated_keys_and_required_values() {
        let f = FormData(vec![
            ("sg".into(), "a".into()),
            ("sg".into(), "".into()),
            ("sg".into(), "b".into()),
        ]);
        assert_eq!(f.all("sg"), vec!["a", "b"]);
        assert!(matches!(
            f.required("name", "Name"),
            Err(PageError::BadInput(_))
        ));
    }
}
