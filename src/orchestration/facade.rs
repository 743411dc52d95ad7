//! What the rest of onestack may call on orchestration: opening it, the start-up
//! recovery of interrupted stack operations, and the lists the API and `status`
//! show.

use crate::cloud::Cloud;
use crate::db::Db;

use super::OrchestrationService;

impl OrchestrationService {
    /// The service on the state database.
    pub(crate) fn open(db: Db) -> OrchestrationService {
        OrchestrationService::new(db)
    }

    /// Resumes or fails the stack operations a restart interrupted. Run once at
    /// start, after the other services recovered.
    pub(crate) async fn recover_stacks(&self, cloud: &Cloud) {
        match self.recover(cloud).await {
            Ok((resumed, failed)) => {
                tracing::info!(resumed, failed, "stack operations recovered")
            }
            Err(e) => tracing::error!(error = %e, "could not recover stack operations"),
        }
    }
}

/// The resource types templates may use.
pub(crate) fn resource_types() -> Vec<&'static str> {
    super::resources::type_names()
}

/// A resource type's schema (`None`: no such type).
pub(crate) fn resource_type_schema(kind: &str) -> Option<serde_json::Value> {
    super::resources::type_schema(kind)
}

/// A resource type's generated template (`None`: no such type).
pub(crate) fn resource_type_template(kind: &str) -> Option<serde_json::Value> {
    super::resources::type_template(kind)
}

/// The intrinsic functions of HOT, with Heat's descriptions.
pub(crate) fn template_functions() -> &'static [(&'static str, &'static str)] {
    TEMPLATE_FUNCTIONS
}

/// Heat's `template_functions` answer for HOT, a plain table.
const TEMPLATE_FUNCTIONS: &[(&str, &str)] = &[
    ("get_attr", "A function for resolving resource attributes."),
    ("get_file", "A function for including a file inline."),
    (
        "get_param",
        "A function for resolving parameter references.",
    ),
    (
        "get_resource",
        "A function for resolving resource references.",
    ),
    ("list_join", "A function for joining strings."),
    (
        "str_replace",
        "A function for performing string substitutions.",
    ),
    (
        "str_replace_strict",
        "A function for performing string substitutions.",
    ),
    (
        "str_replace_vstrict",
        "A function for performing string substitutions.",
    ),
    (
        "str_split",
        "A function for splitting delimited strings into a list.",
    ),
    ("repeat", "A function for iterating over a list of items."),
    ("map_merge", "A function for merging maps."),
    (
        "map_replace",
        "A function for performing substitutions on maps.",
    ),
    ("list_concat", "A function for extending lists."),
    (
        "list_concat_unique",
        "A function for extending lists with unique items.",
    ),
    (
        "make_url",
        "A function for performing substitutions for URLs.",
    ),
    ("digest", "A function for performing digest operations."),
    (
        "contains",
        "A function for checking whether specific value is in sequence.",
    ),
    ("filter", "A function for filtering out values from lists."),
    (
        "if",
        "A function to return corresponding value based on condition evaluation.",
    ),
    (
        "equals",
        "A function for comparing whether two values are equal.",
    ),
    (
        "not",
        "A function that acts as a NOT operator on a condition.",
    ),
    (
        "and",
        "A function that acts as an AND operator on conditions.",
    ),
    (
        "or",
        "A function that acts as an OR operator on conditions.",
    ),
];

/// The HOT versions accepted.
pub(crate) fn template_versions() -> &'static [&'static str] {
    super::template::VERSIONS
}
