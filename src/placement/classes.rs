//! Resource classes: the standard ones and `CUSTOM_*` ones users add.

use super::*;

impl PlacementService {
    // --- resource classes -----------------------------------------------------------

    pub(crate) async fn classes_list(&self) -> ApiResult<Vec<String>> {
        self.read(|c| {
            let mut all: Vec<String> = STANDARD_CLASSES.iter().map(|s| s.to_string()).collect();
            all.extend(store::custom_classes(c)?);
            Ok(all)
        })
        .await
    }

    pub(crate) async fn class_get(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.read(move |c| {
            if is_standard_class(&name) || store::custom_class_exists(c, &name)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!("No such resource class {name}.")))
            }
        })
        .await
    }

    /// POST (`idempotent = false`: an existing class is 409) or, from 1.7, PUT
    /// (`idempotent = true`). Returns whether the class was created.
    pub(crate) async fn class_create(&self, name: &str, idempotent: bool) -> ApiResult<bool> {
        check_custom(name, "resource class")?;
        let name = name.to_owned();
        self.write(move |tx| {
            if store::custom_class_exists(tx, &name)? {
                if idempotent {
                    return Ok(false);
                }
                return Err(ApiError::Conflict(format!(
                    "Conflicting resource class already exists: {name}"
                )));
            }
            store::custom_class_insert(tx, &name)?;
            Ok(true)
        })
        .await
    }

    pub(crate) async fn class_delete(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.write(move |tx| {
            if is_standard_class(&name) {
                return Err(ApiError::bad_request(format!(
                    "Cannot delete standard resource class {name}."
                )));
            }
            if !store::custom_class_exists(tx, &name)? {
                return Err(ApiError::Missing(format!("No such resource class {name}.")));
            }
            if store::class_in_use(tx, &name)? {
                return Err(ApiError::Conflict(format!(
                    "Unable to delete resource class {name}. Cannot delete resource class {name}. \
                     Class is in use in inventory."
                )));
            }
            store::custom_class_delete(tx, &name)?;
            Ok(())
        })
        .await
    }
}
