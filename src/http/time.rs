//! Timestamps as the OpenStack APIs write and accept them.

use chrono::{DateTime, Utc};

use super::error::{ApiError, ApiResult};

/// `2026-01-01T00:00:00.000000Z`, the form Keystone tokens use.
pub(crate) fn iso_micros(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `2026-01-01T00:00:00Z`, the form Glance, Nova and Neutron use.
pub(crate) fn iso_seconds(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Accepts ISO 8601 with or without a zone (UTC assumed) and with or without fractions.
pub(crate) fn parse(s: &str) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let bare = s.trim_end_matches('Z');
    chrono::NaiveDateTime::parse_from_str(bare, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid time '{s}': expected ISO 8601, e.g. 2030-01-01T00:00:00Z."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        for s in [
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00",
            "2030-01-01T00:00:00.123456",
            "2030-01-01T01:00:00+01:00",
        ] {
            assert_eq!(parse(s).expect(s).timestamp(), 1_893_456_000, "{s}");
        }
        assert!(parse("yesterday").is_err());
    }
}
