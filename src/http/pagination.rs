//! marker/limit pagination shared by every list API.

use serde::Deserialize;

use super::error::ApiError;

#[derive(Debug, Default, Deserialize, Clone)]
pub(crate) struct PageQuery {
    pub limit: Option<String>,
    pub marker: Option<String>,
}

/// One page of a sorted collection, plus whether more items follow it.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

/// How a service words a bad `limit` or an unknown `marker` (a 400 in each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Dialect {
    /// The wording of Keystone and Placement lists here.
    #[default]
    Generic,
    /// Nova's query-schema and marker messages.
    Nova,
    /// `neutron.api.api_common._get_limit_param`.
    Neutron,
    /// `cinder.api.common._get_limit_param` (Glance words it the same).
    Cinder,
}

impl Dialect {
    fn bad_limit(self, s: &str) -> ApiError {
        let msg = match self {
            Dialect::Generic => format!("Invalid limit '{s}': must be a non-negative integer."),
            Dialect::Nova => format!(
                "Invalid input for query parameters limit. Value: {s}. '{s}' does not match \
                 '^[0-9]*$'"
            ),
            Dialect::Neutron => {
                format!("Bad limit request: Limit must be an integer 0 or greater and not '{s}'.")
            }
            Dialect::Cinder if s.trim().parse::<i128>().is_ok() => {
                "limit param must be positive".to_owned()
            }
            Dialect::Cinder => "limit param must be an integer".to_owned(),
        };
        ApiError::bad_request(msg)
    }

    fn bad_marker(self, marker: &str) -> ApiError {
        ApiError::bad_request(match self {
            Dialect::Nova => format!("marker [{marker}] not found"),
            Dialect::Cinder => format!("Marker {marker} could not be found."),
            Dialect::Generic | Dialect::Neutron => {
                format!("Marker '{marker}' could not be found.")
            }
        })
    }
}

impl PageQuery {
    /// The `limit` parameter: a non-negative integer (one too large for this
    /// machine is as good as no limit: every service caps it at its maximum).
    pub(crate) fn limit_as(&self, dialect: Dialect) -> Result<Option<usize>, ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(None),
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(s.parse::<usize>().unwrap_or(usize::MAX)))
            }
            Some(s) => Err(dialect.bad_limit(s)),
        }
    }

    /// Cuts `items` (already filtered and sorted) at the marker and limit. A marker
    /// that names no item is a 400, as in Nova/Neutron.
    pub(crate) fn apply<T>(
        &self,
        items: Vec<T>,
        id_of: impl Fn(&T) -> &str,
    ) -> Result<Page<T>, ApiError> {
        self.apply_as(Dialect::Generic, items, id_of)
    }

    /// `apply` with the service's wording of its faults.
    pub(crate) fn apply_as<T>(
        &self,
        dialect: Dialect,
        items: Vec<T>,
        id_of: impl Fn(&T) -> &str,
    ) -> Result<Page<T>, ApiError> {
        let limit = self.limit_as(dialect)?;
        let start = match self.marker.as_deref().filter(|m| !m.is_empty()) {
            None => 0,
            Some(marker) => {
                let pos = items.iter().position(|i| id_of(i) == marker);
                pos.map(|p| p + 1)
                    .ok_or_else(|| dialect.bad_marker(marker))?
            }
        };
        let mut items: Vec<T> = items.into_iter().skip(start).collect();
        let has_more = match limit {
            Some(l) if items.len() > l => {
                items.truncate(l);
                true
            }
            _ => false,
        };
        Ok(Page { items, has_more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: Option<&str>, marker: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(String::from),
            marker: marker.map(String::from),
        }
    }

    #[test]
    fn marker_and_limit() {
        let v: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let p = q(Some("2"), Some("a"))
            .apply(v.clone(), |s| s)
            .expect("page");
        assert_eq!(p.items, vec!["b", "c"]);
        assert!(p.has_more);
        let p = q(Some("5"), Some("c"))
            .apply(v.clone(), |s| s)
            .expect("page");
        assert_eq!(p.items, vec!["d"]);
        assert!(!p.has_more);
        assert!(q(None, Some("zz")).apply(v.clone(), |s| s).is_err());
        assert!(q(Some("-1"), None).apply(v.clone(), |s| s).is_err());
        let p = q(Some("18446744073709551616"), None)
            .apply(v, |s| s)
            .expect("a huge limit is no limit");
        assert_eq!(p.items.len(), 4);
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn each_service_words_its_faults() {
        let v = vec!["a".to_owned()];
        let cases = [
            (
                Dialect::Nova,
                Some("abc"),
                None,
                "Invalid input for query parameters limit. Value: abc.",
            ),
            (Dialect::Nova, None, Some("zz"), "marker [zz] not found"),
            (
                Dialect::Neutron,
                Some("-1"),
                None,
                "Limit must be an integer 0 or greater and not '-1'",
            ),
            (
                Dialect::Cinder,
                Some("-1"),
                None,
                "limit param must be positive",
            ),
            (
                Dialect::Cinder,
                Some("x"),
                None,
                "limit param must be an integer",
            ),
            (
                Dialect::Cinder,
                None,
                Some("zz"),
                "Marker zz could not be found.",
            ),
            (Dialect::Generic, Some("1.5"), None, "Invalid limit '1.5'"),
        ];
        for (d, limit, marker, want) in cases {
            let r = q(limit, marker).apply_as(d, v.clone(), |s| s);
            let m = message(r.err().expect("refused"));
            assert!(m.contains(want), "{d:?}: {m}");
        }
    }
}
