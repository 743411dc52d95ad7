//! Placement microversions: the `OpenStack-API-Version: placement 1.x` request
//! header, parsed once per request and handed to handlers as an extension.

use crate::http::error::ApiError;

/// Oldest and newest microversion served. 1.25+ granular request groups (numbered
/// `resourcesN=`) are refused, so the newest is 1.28, before nested candidates (1.29).
pub const MIN: Version = Version(1, 0);
pub const MAX: Version = Version(1, 28);

pub const HEADER: &str = "openstack-api-version";
pub const SERVICE: &str = "placement";

/// A `major.minor` microversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    /// True when this request asked for at least `1.minor`.
    pub fn at_least(self, minor: u32) -> bool {
        self >= Version(1, minor)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Why a version header was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Malformed: 400.
    Invalid(String),
    /// Well-formed but outside MIN..=MAX: 406.
    Unacceptable(String),
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        match r {
            Refused::Invalid(m) => ApiError::BadRequest(m),
            Refused::Unacceptable(m) => ApiError::NotAcceptable(m),
        }
    }
}

/// The version a request asks for, from all its `OpenStack-API-Version` values.
/// Values naming another service are ignored; none for placement means MIN.
pub fn negotiate<'a>(values: impl Iterator<Item = &'a str>) -> Result<Version, Refused> {
    let mut wanted = None;
    for value in values.flat_map(|v| v.split(',')) {
        let mut words = value.split_whitespace();
        let (Some(service), Some(ver)) = (words.next(), words.next()) else {
            continue;
        };
        if service.eq_ignore_ascii_case(SERVICE) {
            wanted = Some(ver.to_owned());
        }
    }
    let Some(ver) = wanted else {
        return Ok(MIN);
    };
    if ver.eq_ignore_ascii_case("latest") {
        return Ok(MAX);
    }
    let parsed = ver
        .split_once('.')
        .and_then(|(a, b)| Some(Version(parse_part(a)?, parse_part(b)?)))
        .ok_or_else(|| Refused::Invalid(format!("invalid version string: {ver}")))?;
    if parsed < MIN || parsed > MAX {
        return Err(Refused::Unacceptable(format!(
            "Unacceptable version header: {ver}"
        )));
    }
    Ok(parsed)
}

fn parse_part(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Result<Version, Refused> {
        negotiate(v.iter().copied())
    }

    #[test]
    fn defaults_to_minimum() {
        assert_eq!(n(&[]), Ok(MIN));
        assert_eq!(n(&["compute 2.90"]), Ok(MIN));
    }

    #[test]
    fn explicit_and_latest() {
        assert_eq!(n(&["placement 1.20"]), Ok(Version(1, 20)));
        assert_eq!(n(&["PLACEMENT   1.14"]), Ok(Version(1, 14)));
        assert_eq!(n(&["compute 2.1, placement 1.10"]), Ok(Version(1, 10)));
        assert_eq!(n(&["placement latest"]), Ok(MAX));
        assert!(Version(1, 28).at_least(20) && !Version(1, 10).at_least(14));
    }

    #[test]
    fn malformed_is_invalid() {
        for bad in [
            "placement 1",
            "placement 1.x",
            "placement one",
            "placement 1.01",
            "placement .5",
        ] {
            assert!(matches!(n(&[bad]), Err(Refused::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn out_of_range_is_unacceptable() {
        assert!(matches!(
            n(&["placement 1.99"]),
            Err(Refused::Unacceptable(_))
        ));
        assert!(matches!(
            n(&["placement 2.0"]),
            Err(Refused::Unacceptable(_))
        ));
        assert!(matches!(
            n(&["placement 0.9"]),
            Err(Refused::Unacceptable(_))
        ));
    }
}
