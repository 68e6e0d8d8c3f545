//! Pagination of long lists (`/devices`, `/links`, `/hosts`): `?limit=N` returns at most N
//! items in id order, `?cursor=ID` starts after the item with that id (the `X-Next-Cursor` of
//! the page before, or any id of the right form: a cursor naming an item that has gone since
//! still starts where it would have been). Every answer says how many items the whole list
//! has (`X-Total-Count`); the body stays the plain JSON array it always was, so clients that
//! ask without `limit` get the whole list as before.

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::Required;

use super::error::ApiError;

/// The largest page.
pub const MAX_LIMIT: usize = 10_000;

/// Header with the number of items in the whole list.
pub const TOTAL: HeaderName = HeaderName::from_static("x-total-count");
/// Header with the cursor of the next page; absent on the last one.
pub const NEXT: HeaderName = HeaderName::from_static("x-next-cursor");

/// `?limit=&cursor=` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Most items to return, 1 ..= [`MAX_LIMIT`]; all when absent.
    pub limit: Option<u64>,
    /// Start after the item with this id.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size asked for (everything when absent), or why it is refused.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(usize::MAX),
            Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => Ok(n as usize),
            Some(n) => Err(ApiError::invalid(
                "limit",
                format!("limit {n} is out of range: a page holds 1 to {MAX_LIMIT} items"),
            )),
        }
    }

    /// The cursor parsed by `parse` (`None` when absent); `what` names its form in the error.
    pub fn cursor<K>(
        &self,
        parse: impl Fn(&str) -> Option<K>,
        what: &str,
    ) -> Result<Option<K>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(text) => parse(text).map(Some).ok_or_else(|| {
                ApiError::invalid(
                    "cursor",
                    format!(
                        "cursor {text:?} is not {what} (give the X-Next-Cursor of the page before)"
                    ),
                )
            }),
        }
    }
}

/// One page of a list: the items, the size of the whole list and the next page's cursor.
#[derive(Debug)]
pub struct Page<T> {
    /// The items of this page, in id order.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: usize,
    /// The id to pass as `cursor` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Takes at most `limit` items from `items` (in id order); `id` gives an item's cursor text.
    pub fn take(
        items: impl Iterator<Item = T>,
        limit: usize,
        total: usize,
        id: impl Fn(&T) -> String,
    ) -> Page<T> {
        let mut items = items.peekable();
        let mut page = Vec::new();
        while page.len() < limit {
            match items.next() {
                Some(item) => page.push(item),
                None => break,
            }
        }
        let next = match (items.peek(), page.last()) {
            (Some(_), Some(last)) => Some(id(last)),
            _ => None,
        };
        Page {
            items: page,
            total,
            next,
        }
    }

    /// Maps the items (after taking the page, so only its items are built).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            next: self.next,
        }
    }
}

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        let mut r = Json(self.items).into_response();
        r.headers_mut().insert(TOTAL, HeaderValue::from(self.total));
        // Cursors are ids (`of:…`, `p4:…`, `…:port`, MACs): always valid header text.
        if let Some(v) = self.next.and_then(|n| HeaderValue::from_str(&n).ok()) {
            r.headers_mut().insert(NEXT, v);
        }
        r
    }
}

/// The OpenAPI parameters `limit` and `cursor`; `cursor` has the schema of the list's ids.
pub fn params(cursor: Object, what: &str) -> Vec<Parameter> {
    vec![
        ParameterBuilder::new()
            .name("limit")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(format!(
                "Most {what} to return (a page); the whole list when absent"
            )))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .minimum(Some(1))
                    .maximum(Some(MAX_LIMIT as f64)),
            ))
            .build(),
        ParameterBuilder::new()
            .name("cursor")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "Start after the item with this id: the `X-Next-Cursor` of the page before (any id \
                 of this form is taken; the list is in id order)",
            ))
            .schema(Some(cursor))
            .build(),
    ]
}

/// `?limit=&cursor=` of `/devices`.
pub struct DevicePage;
/// `?limit=&cursor=` of `/links`.
pub struct LinkPage;
/// `?limit=&cursor=` of `/hosts`.
pub struct HostPage;

impl utoipa::IntoParams for DevicePage {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        params(crate::vocab::formats::device_id(), "devices")
    }
}

impl utoipa::IntoParams for LinkPage {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        params(crate::vocab::formats::link(), "links")
    }
}

impl utoipa::IntoParams for HostPage {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        params(crate::vocab::formats::mac(), "hosts")
    }
}
