//! Microversions, once for every service: the `OpenStack-API-Version: <service> X.Y`
//! request header (several services may be named in one header, comma-separated),
//! negotiated against a per-service [`Spec`], and echoed on the response with `Vary`.

use axum::http::{HeaderMap, HeaderValue};

use super::error::ApiError;

pub(crate) const HEADER: &str = "openstack-api-version";

/// A `major.minor` microversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub u32, pub u32);

impl Version {
    /// True when this is at least `major.minor` of the same major version.
    pub(crate) fn at_least(self, minor: u32) -> bool {
        self >= Version(self.0, minor)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What one service serves: its name in the header and its oldest and newest versions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// The service word of `OpenStack-API-Version` (`placement`, `volume`, `compute`).
    pub service: &'static str,
    pub min: Version,
    pub max: Version,
}

/// Why a version header was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Malformed: 400.
    Invalid(String),
    /// Well-formed but outside min..=max: 406.
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

impl Spec {
    /// The version string asked of this service by `values` (the header's values),
    /// if any. Values naming another service are ignored; the last one naming this
    /// service wins.
    pub(crate) fn requested<'a>(&self, values: impl Iterator<Item = &'a str>) -> Option<String> {
        let mut wanted = None;
        for value in values.flat_map(|v| v.split(',')) {
            let mut words = value.split_whitespace();
            let (Some(service), Some(ver)) = (words.next(), words.next()) else {
                continue;
            };
            if service.eq_ignore_ascii_case(self.service) {
                wanted = Some(ver.to_owned());
            }
        }
        wanted
    }

    /// Parses a version string (`3.27`, `latest`) and checks it is served. Numbers
    /// with leading zeros (`3.01`) are malformed, as in the services' own parsers.
    pub(crate) fn parse(&self, ver: &str) -> Result<Version, Refused> {
        if ver.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let parsed = ver
            .split_once('.')
            .and_then(|(a, b)| Some(Version(parse_part(a)?, parse_part(b)?)))
            .ok_or_else(|| Refused::Invalid(format!("Invalid API version request: {ver}")))?;
        if parsed < self.min || parsed > self.max {
            return Err(Refused::Unacceptable(format!(
                "Version {parsed} is not supported by the API. Minimum is {} and maximum is {}.",
                self.min, self.max
            )));
        }
        Ok(parsed)
    }

    /// The version a request asks for; none for this service means `min`.
    pub(crate) fn negotiate<'a>(
        &self,
        values: impl Iterator<Item = &'a str>,
    ) -> Result<Version, Refused> {
        match self.requested(values) {
            Some(v) => self.parse(&v),
            None => Ok(self.min),
        }
    }

    /// Negotiates from a request's headers.
    pub(crate) fn negotiate_headers(&self, headers: &HeaderMap) -> Result<Version, Refused> {
        self.negotiate(
            headers
                .get_all(HEADER)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }

    /// Announces the version served on a response (`OpenStack-API-Version` and `Vary`).
    pub(crate) fn announce(&self, h: &mut HeaderMap, v: Version) {
        if let Ok(value) = HeaderValue::from_str(&format!("{} {v}", self.service)) {
            h.insert(HEADER, value);
        }
        h.insert(
            axum::http::header::VARY,
            HeaderValue::from_static("OpenStack-API-Version"),
        );
    }
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

    const VOLUME: Spec = Spec {
        service: "volume",
        min: Version(3, 0),
        max: Version(3, 70),
    };

    fn n(v: &[&str]) -> Result<Version, Refused> {
        VOLUME.negotiate(v.iter().copied())
    }

    #[test]
    fn defaults_to_minimum_and_ignores_other_services() {
        assert_eq!(n(&[]), Ok(Version(3, 0)));
        assert_eq!(n(&["compute 2.90"]), Ok(Version(3, 0)));
    }

    #[test]
    fn explicit_latest_and_several_services() {
        assert_eq!(n(&["volume 3.27"]), Ok(Version(3, 27)));
        assert_eq!(n(&["VOLUME   3.44"]), Ok(Version(3, 44)));
        assert_eq!(n(&["compute 2.1, volume 3.10"]), Ok(Version(3, 10)));
        assert_eq!(n(&["volume latest"]), Ok(Version(3, 70)));
        assert!(Version(3, 70).at_least(27) && !Version(3, 10).at_least(27));
    }

    #[test]
    fn malformed_is_invalid_and_out_of_range_unacceptable() {
        for bad in [
            "volume 3",
            "volume 3.x",
            "volume three",
            "volume 3.01",
            "volume .5",
        ] {
            assert!(matches!(n(&[bad]), Err(Refused::Invalid(_))), "{bad}");
        }
        for far in ["volume 3.71", "volume 2.0", "volume 4.0"] {
            assert!(matches!(n(&[far]), Err(Refused::Unacceptable(_))), "{far}");
        }
    }
}
