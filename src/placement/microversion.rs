//! Placement microversions: the `OpenStack-API-Version: placement 1.x` request
//! header, parsed once per request and handed to handlers as an extension.

/// Oldest and newest microversion served. 1.25+ granular request groups (numbered
/// `resourcesN=`) are refused, so the newest is 1.28, before nested candidates (1.29).
pub(crate) const MIN: Version = Version(1, 0);
pub(crate) const MAX: Version = Version(1, 28);

use crate::http::microversion::Spec;
pub(crate) use crate::http::microversion::{HEADER, Refused, Version};

pub(crate) const SERVICE: &str = "placement";

const SPEC: Spec = Spec {
    service: SERVICE,
    min: MIN,
    max: MAX,
};

/// The version a request asks for, from all its `OpenStack-API-Version` values
/// (the shared parser), with Placement's own wording of refusals.
/// Values naming another service are ignored; none for placement means MIN.
pub(crate) fn negotiate<'a>(values: impl Iterator<Item = &'a str>) -> Result<Version, Refused> {
    let Some(ver) = SPEC.requested(values) else {
        return Ok(MIN);
    };
    SPEC.parse(&ver).map_err(|r| match r {
        Refused::Invalid(_) => Refused::Invalid(format!("invalid version string: {ver}")),
        Refused::Unacceptable(_) => {
            Refused::Unacceptable(format!("Unacceptable version header: {ver}"))
        }
    })
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
