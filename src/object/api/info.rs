//! `GET /info`: the cluster's capabilities, which python-swiftclient reads to choose
//! static large objects and tempest to know the limits.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::object::model;

/// Swift's `/info` document for what this service implements.
pub(crate) async fn info() -> Json<Value> {
    Json(json!({
        "swift": {
            "version": "2.34.0",
            "max_file_size": model::MAX_FILE_SIZE,
            "max_meta_name_length": model::MAX_META_NAME_LENGTH,
            "max_meta_value_length": model::MAX_META_VALUE_LENGTH,
            "max_meta_count": model::MAX_META_COUNT,
            "max_meta_overall_size": model::MAX_META_OVERALL_SIZE,
            "max_header_size": 8192,
            "extra_header_count": 0,
            "max_object_name_length": model::MAX_OBJECT_NAME_LENGTH,
            "max_container_name_length": model::MAX_CONTAINER_NAME_LENGTH,
            "max_account_name_length": 256,
            "container_listing_limit": model::LISTING_LIMIT,
            "account_listing_limit": model::LISTING_LIMIT,
            "account_autocreate": true,
            "allow_account_management": false,
            "strict_cors_mode": true,
            "policies": [{"name": "Policy-0", "aliases": "Policy-0", "default": true}],
        },
        "slo": {
            "max_manifest_segments": model::MAX_MANIFEST_SEGMENTS,
            "max_manifest_size": model::MAX_MANIFEST_SIZE,
            "min_segment_size": 1,
            "yield_frequency": 10,
            "allow_async_delete": false,
        },
        "dlo": {"max_get_time": 86400},
        "bulk_delete": {
            "max_deletes_per_request": model::MAX_BULK_DELETES,
            "max_failed_deletes": 1000,
        },
        "tempurl": {
            "methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
            "incoming_remove_headers": ["x-timestamp"],
            "incoming_allow_headers": [],
            "outgoing_remove_headers": ["x-object-meta-*"],
            "outgoing_allow_headers": ["x-object-meta-public-*"],
            "allowed_digests": ["sha1", "sha256", "sha512"],
        },
        "versioned_writes": {"allowed_flags": ["x-versions-location", "x-history-location"]},
        "container_quotas": {},
        "bulk_upload": {
            "max_containers_per_extraction": 10000,
            "max_failed_extractions": 1000,
        },
        "staticweb": {},
        "formpost": {"allowed_digests": ["sha1", "sha256", "sha512"]},
        "container_sync": {
            // `crate::object::sync::REALM` and `CLUSTER`, upper-cased as Swift lists them.
            "realms": {"REALM1": {"clusters": {"NAME1": {}}}},
        },
        "keystoneauth": {},
    }))
}

/// A small public document with Swift's transaction id, as its middlewares answer.
fn document(req: Request, content_type: &'static str, body: &'static str) -> Response {
    let call = super::Call::from_request(req);
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    super::finish(r, &call)
}

/// `GET /crossdomain.xml`: the cross-domain policy of Swift's `crossdomain` middleware
/// (its default: any domain), which Flash and Silverlight clients read.
pub(super) async fn crossdomain(req: Request) -> Response {
    document(
        req,
        "application/xml; charset=utf-8",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE cross-domain-policy SYSTEM \"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\" >\n<cross-domain-policy>\n<allow-access-from domain=\"*\" secure=\"false\" />\n</cross-domain-policy>",
    )
}

/// `GET /healthcheck`: Swift's `healthcheck` middleware, for load balancers.
pub(super) async fn healthcheck(req: Request) -> Response {
    document(req, "text/plain", "OK")
}
