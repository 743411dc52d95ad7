//! marker/limit pagination shared by every list API.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize, Clone)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub marker: Option<String>,
}

/// One page of a sorted collection, plus whether more items follow it.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl PageQuery {
    pub fn limit(&self) -> Result<Option<usize>, super::error::ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s.parse::<usize>().map(Some).map_err(|_| {
                super::error::ApiError::bad_request(format!(
                    "Invalid limit '{s}': must be a non-negative integer."
                ))
            }),
        }
    }

    /// Cuts `items` (already filtered and sorted) at the marker and limit. A marker
    /// that names no item is a 400, as in Nova/Neutron.
    pub fn apply<T>(
        &self,
        items: Vec<T>,
        id_of: impl Fn(&T) -> &str,
    ) -> Result<Page<T>, super::error::ApiError> {
        let limit = self.limit()?;
        let start = match self.marker.as_deref().filter(|m| !m.is_empty()) {
            None => 0,
            Some(marker) => {
                let pos = items.iter().position(|i| id_of(i) == marker);
                pos.map(|p| p + 1).ok_or_else(|| {
                    super::error::ApiError::bad_request(format!(
                        "Marker '{marker}' could not be found."
                    ))
                })?
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
        assert!(q(Some("-1"), None).apply(v, |s| s).is_err());
    }
}
