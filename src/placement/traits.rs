//! Traits: the standard and `CUSTOM_*` names, and those each provider has.

use super::*;

impl PlacementService {
    // --- traits ----------------------------------------------------------------------

    /// All traits, filtered by `name=in:a,b` / `startswith:X` and `associated=`.
    pub(crate) async fn traits_list(
        &self,
        name_filter: Option<String>,
        associated: Option<bool>,
    ) -> ApiResult<Vec<String>> {
        let filter = match name_filter.as_deref() {
            None => None,
            Some(f) => Some(parse_trait_name_filter(f)?),
        };
        self.read(move |c| {
            let mut all = standard_traits();
            all.extend(store::custom_traits(c)?);
            if let Some(assoc) = associated {
                let used: BTreeSet<String> = store::associated_traits(c)?.into_iter().collect();
                all.retain(|t| used.contains(t) == assoc);
            }
            if let Some(f) = &filter {
                all.retain(|t| f.matches(t));
            }
            all.sort();
            Ok(all)
        })
        .await
    }

    pub(crate) async fn trait_exists(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.read(move |c| {
            if is_standard_trait(&name) || store::custom_trait_exists(c, &name)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!("No such trait(s): {name}.")))
            }
        })
        .await
    }

    /// Creates a custom trait; false when it already existed.
    pub(crate) async fn trait_put(&self, name: &str) -> ApiResult<bool> {
        if !is_custom_name(name) {
            return Err(ApiError::bad_request(
                "The trait is invalid. A valid trait must be no longer than 255 characters, \
                 start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \
                 \"0\"-\"9\" and \"_\"",
            ));
        }
        let name = name.to_owned();
        self.write(move |tx| store::custom_trait_insert(tx, &name))
            .await
    }

    pub(crate) async fn trait_delete(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.write(move |tx| {
            if is_standard_trait(&name) {
                return Err(ApiError::bad_request(format!(
                    "Cannot delete standard trait {name}."
                )));
            }
            if !store::custom_trait_exists(tx, &name)? {
                return Err(ApiError::Missing(format!("No such trait(s): {name}.")));
            }
            if store::trait_in_use(tx, &name)? {
                return Err(ApiError::Conflict(format!(
                    "The trait {name} is in use by a resource provider."
                )));
            }
            store::custom_trait_delete(tx, &name)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn provider_traits_get(&self, uuid: &str) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            Ok((p.generation, store::provider_traits(c, &uuid)?))
        })
        .await
    }

    /// Replaces a provider's traits if `generation` is current; unknown traits are 400.
    pub(crate) async fn provider_traits_put(
        &self,
        uuid: &str,
        generation: i64,
        traits: Vec<String>,
    ) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            let mut unknown = vec![];
            for t in &traits {
                if !is_standard_trait(t) && !store::custom_trait_exists(tx, t)? {
                    unknown.push(t.as_str());
                }
            }
            if !unknown.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "No such trait(s): {}.",
                    unknown.join(", ")
                )));
            }
            let rp_gen = store::provider_bump(tx, &uuid, Some(generation))?;
            store::provider_traits_set(tx, &uuid, &traits)?;
            Ok((rp_gen, store::provider_traits(tx, &uuid)?))
        })
        .await
    }

    pub(crate) async fn provider_traits_delete(&self, uuid: &str) -> ApiResult<()> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            store::provider_traits_set(tx, &uuid, &[])?;
            store::provider_bump(tx, &uuid, None)?;
            Ok(())
        })
        .await
    }
}
