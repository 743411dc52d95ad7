//! `GET /v2/images`: visibility rules, filters, sorting and marker/limit paging as
//! Glance does them.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::model::*;
use super::{ImageService, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

pub(super) const DEFAULT_LIMIT: usize = 25;
pub(super) const MAX_LIMIT: usize = 1000;

/// Query keys that are not extra-property filters: paging, sorting and the
/// filters on core attributes handled above (or not filterable).
const NOT_PROPERTY_FILTERS: &[&str] = &[
    "limit",
    "marker",
    "sort",
    "sort_key",
    "sort_dir",
    "name",
    "status",
    "owner",
    "disk_format",
    "container_format",
    "id",
    "visibility",
    "member_status",
    "os_hidden",
    "protected",
    "size_min",
    "size_max",
    "tag",
    "changes-since",
    "created_at",
    "updated_at",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "virtual_size",
    "size",
];

const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
    "visibility",
    "owner",
    "min_disk",
    "min_ram",
    "virtual_size",
];

/// The raw query pairs (repeated keys kept: `tag`, `sort_key`, `sort_dir`).
#[derive(Debug, Default, Clone)]
pub(crate) struct ListQuery(pub Vec<(String, String)>);

impl ListQuery {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A page of images and the marker for the next page, if any.
pub(crate) struct ImagePage {
    pub images: Vec<Image>,
    pub next_marker: Option<String>,
    pub limit: usize,
}

fn sort_value(i: &Image, key: &str) -> (Option<i64>, Option<String>) {
    match key {
        "size" => (i.size, None),
        "virtual_size" => (i.virtual_size, None),
        "min_disk" => (Some(i.min_disk), None),
        "min_ram" => (Some(i.min_ram), None),
        "name" => (None, i.name.clone()),
        "status" => (None, Some(i.status.as_str().into())),
        "container_format" => (None, i.container_format.clone()),
        "disk_format" => (None, i.disk_format.clone()),
        "created_at" => (None, Some(i.created_at.clone())),
        "updated_at" => (None, Some(i.updated_at.clone())),
        "visibility" => (None, Some(i.visibility.clone())),
        "owner" => (None, i.owner.clone()),
        _ => (None, Some(i.id.clone())),
    }
}

fn parse_sort(q: &ListQuery) -> ApiResult<Vec<(String, bool)>> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    if let Some(sort) = q.get("sort") {
        for part in sort.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, dir) = part.split_once(':').unwrap_or((part, "desc"));
            keys.push((k.to_owned(), parse_dir(dir)?));
        }
    } else {
        let dirs: Vec<&str> = q
            .all("sort_dir")
            .iter()
            .flat_map(|d| d.split(','))
            .collect();
        for (n, k) in q
            .all("sort_key")
            .iter()
            .flat_map(|k| k.split(','))
            .enumerate()
        {
            let dir = dirs.get(n).or(dirs.last()).copied().unwrap_or("desc");
            keys.push((k.trim().to_owned(), parse_dir(dir)?));
        }
        if keys.is_empty() && !dirs.is_empty() {
            keys.push(("created_at".into(), parse_dir(dirs[0])?));
        }
    }
    if keys.is_empty() {
        keys.push(("created_at".into(), true));
    }
    for (k, _) in &keys {
        if !SORT_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid sort key: {k}. It should be one of: {}.",
                SORT_KEYS.join(", ")
            )));
        }
    }
    if !keys.iter().any(|(k, _)| k == "id") {
        let desc = keys.last().map(|(_, d)| *d).unwrap_or(true);
        keys.push(("id".into(), desc));
    }
    Ok(keys)
}

/// `true` for descending.
fn parse_dir(d: &str) -> ApiResult<bool> {
    match d.trim() {
        "desc" => Ok(true),
        "asc" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "Invalid sort direction: {other}. It must be asc or desc."
        ))),
    }
}

/// `in:a,b` lists and plain values.
fn value_matches(filter: &str, actual: Option<&str>) -> bool {
    match filter.strip_prefix("in:") {
        Some(list) => list
            .split(',')
            .map(|v| v.trim().trim_matches('"'))
            .any(|v| Some(v) == actual),
        None => Some(filter) == actual,
    }
}

/// `gte:2026-01-01T00:00:00Z` style time filters.
fn time_matches(filter: &str, actual: &str) -> ApiResult<bool> {
    let (op, value) = filter
        .split_once(':')
        .filter(|(op, _)| ["gt", "gte", "lt", "lte", "eq", "neq"].contains(op))
        .unwrap_or(("eq", filter));
    let want = crate::http::time::parse(value)?;
    let have = crate::http::time::parse(actual)?;
    Ok(match op {
        "gt" => have > want,
        "gte" => have >= want,
        "lt" => have < want,
        "lte" => have <= want,
        "neq" => have != want,
        _ => have == want,
    })
}

fn parse_bool(key: &str, v: &str) -> ApiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value '{v}' for {key}: expected true or false."
        ))),
    }
}

/// The list filters on visibility and core attributes, checked once per request.
struct ImageFilters<'q> {
    visibility: Option<&'q str>,
    member_status: &'q str,
    hidden: bool,
    protected: Option<bool>,
    size_min: Option<i64>,
    size_max: Option<i64>,
    tags: Vec<&'q str>,
}

impl<'q> ImageFilters<'q> {
    /// Reads and validates the filters Glance rejects with 400 when malformed.
    fn parse(q: &'q ListQuery) -> ApiResult<Self> {
        let visibility = q.get("visibility");
        if let Some(v) = visibility.filter(|v| *v != "all" && !VISIBILITIES.contains(v)) {
            return Err(ApiError::bad_request(format!(
                "Invalid visibility value: {v}"
            )));
        }
        let member_status = q.get("member_status").unwrap_or("accepted");
        if !["pending", "accepted", "rejected", "all"].contains(&member_status) {
            return Err(ApiError::bad_request(format!(
                "Invalid status value: {member_status}"
            )));
        }
        let flag = |key| q.get(key).map(|v| parse_bool(key, v)).transpose();
        Ok(Self {
            visibility,
            member_status,
            hidden: flag("os_hidden")?.unwrap_or(false),
            protected: flag("protected")?,
            size_min: parse_size(q, "size_min")?,
            size_max: parse_size(q, "size_max")?,
            tags: q.all("tag"),
        })
    }

    /// Glance's visibility rule: which images the `visibility` and `member_status`
    /// filters list for this caller (`membership` is the caller's, if any).
    fn lists(&self, image: &Image, own: bool, membership: Option<&str>, admin: bool) -> bool {
        let status = self.member_status;
        let shared_ok = image.visibility == "shared"
            && membership.is_some_and(|s| status == "all" || s == status);
        match self.visibility {
            None => {
                own || image.visibility == "public"
                    || shared_ok
                    || (admin && image.visibility != "community")
            }
            Some("all") => {
                own || image.visibility == "public"
                    || image.visibility == "community"
                    || shared_ok
                    || admin
            }
            Some("shared") => {
                image.visibility == "shared"
                    && (shared_ok || own || (admin && membership.is_none() && status == "all"))
            }
            Some(v) => image.visibility == v && (own || admin || v == "public" || v == "community"),
        }
    }

    /// The `protected`, size and `tag` filters.
    fn flags_match(&self, image: &Image) -> bool {
        self.protected.is_none_or(|p| p == image.protected)
            && self.size_min.is_none_or(|m| image.size.unwrap_or(0) >= m)
            && self.size_max.is_none_or(|m| image.size.unwrap_or(0) <= m)
            && self
                .tags
                .iter()
                .all(|t| image.tags.iter().any(|it| it == t))
    }
}

/// `limit`, capped at [`MAX_LIMIT`].
fn parse_limit(q: &ListQuery) -> ApiResult<usize> {
    match q.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => Ok(l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("Invalid limit: {l}")))?
            .min(MAX_LIMIT)),
    }
}

/// `size_min` / `size_max` in bytes.
fn parse_size(q: &ListQuery, key: &str) -> ApiResult<Option<i64>> {
    q.get(key)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("Invalid {key}")))
        })
        .transpose()
}

/// The exact-or-`in:` filters on core text attributes (`name`, `status`, ...).
fn text_filters_match(q: &ListQuery, image: &Image) -> bool {
    let text_filters = [
        ("name", image.name.as_deref()),
        ("status", Some(image.status.as_str())),
        ("owner", image.owner.as_deref()),
        ("disk_format", image.disk_format.as_deref()),
        ("container_format", image.container_format.as_deref()),
        ("id", Some(image.id.as_str())),
    ];
    text_filters
        .iter()
        .all(|(k, actual)| q.get(k).is_none_or(|f| value_matches(f, *actual)))
}

/// `changes-since`, `created_at` and `updated_at`; a malformed time is a 400.
fn time_filters_match(q: &ListQuery, image: &Image) -> ApiResult<bool> {
    let mut time_ok = match q.get("changes-since") {
        Some(since) => time_matches(&format!("gte:{since}"), &image.updated_at)?,
        None => true,
    };
    for (key, actual) in [
        ("created_at", &image.created_at),
        ("updated_at", &image.updated_at),
    ] {
        if let Some(f) = q.get(key) {
            time_ok &= time_matches(f, actual)?;
        }
    }
    Ok(time_ok)
}

/// Any other key filters on an extra property, and (as in Glance) an image
/// without that property does not match.
fn property_filters_match(q: &ListQuery, image: &Image) -> bool {
    q.0.iter().all(|(k, v)| match image.properties.get(k) {
        _ if NOT_PROPERTY_FILTERS.contains(&k.as_str()) => true,
        Some(serde_json::Value::String(s)) => s == v,
        Some(other) => serde_json::from_str::<serde_json::Value>(v).ok().as_ref() == Some(other),
        None => false,
    })
}

/// Orders images by the parsed sort keys, each ascending or descending.
fn sort_images(images: &mut [Image], sort: &[(String, bool)]) {
    images.sort_by(|a, b| {
        for (key, desc) in sort {
            let ord = sort_value(a, key).cmp(&sort_value(b, key));
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

/// The page after `marker` (a 400 if it is not in the list) of at most `limit` images.
fn page_after_marker(images: Vec<Image>, q: &ListQuery, limit: usize) -> ApiResult<ImagePage> {
    let start = match q.get("marker") {
        None => 0,
        Some(m) => images
            .iter()
            .position(|i| i.id == m)
            .map(|p| p + 1)
            .ok_or_else(|| ApiError::bad_request(format!("marker {m} could not be found.")))?,
    };
    let mut page: Vec<Image> = images.into_iter().skip(start).collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_marker = if more {
        page.last().map(|i| i.id.clone())
    } else {
        None
    };
    Ok(ImagePage {
        images: page,
        next_marker,
        limit,
    })
}

impl ImageService {
    /// `GET /v2/images` as the caller may see it.
    pub(crate) async fn image_list(
        &self,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<ImagePage> {
        let limit = parse_limit(&q)?;
        let sort = parse_sort(&q)?;
        let admin = ctx.allowed(crate::http::policy::IMAGE_ADMIN_CONTEXT);
        let (images, memberships) = self.images_and_memberships(ctx).await?;
        let filters = ImageFilters::parse(&q)?;
        let project = ctx.project_id();
        let mut out = Vec::new();
        for image in images {
            let own = project.is_some() && image.owner.as_deref() == project;
            let membership = memberships.get(&image.id).map(String::as_str);
            if !filters.lists(&image, own, membership, admin)
                || image.os_hidden != filters.hidden
                || !text_filters_match(&q, &image)
                || !filters.flags_match(&image)
            {
                continue;
            }
            if time_filters_match(&q, &image)? && property_filters_match(&q, &image) {
                out.push(image);
            }
        }
        sort_images(&mut out, &sort);
        page_after_marker(out, &q, limit)
    }

    /// Every image, and the caller's project's member status on each image shared with it.
    async fn images_and_memberships(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<(Vec<Image>, HashMap<String, String>)> {
        let project = ctx.project_id().map(str::to_owned);
        self.read(move |c| {
            let members: HashMap<String, String> = match &project {
                Some(p) => store::memberships_of(c, p)?
                    .into_iter()
                    .map(|m| (m.image_id, m.status))
                    .collect(),
                None => HashMap::new(),
            };
            Ok((store::image_list(c)?, members))
        })
        .await
    }
}
