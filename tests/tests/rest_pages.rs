//! Long lists in pages: `/devices`, `/links` and `/hosts` with `?limit=&cursor=` (the fixture
//! of `prescient_tests::rest`: four switches, eight directed links, two hosts). A client that
//! follows `X-Next-Cursor` sees every item exactly once, in id order, and every page says how
//! long the whole list is; without `limit` the list comes whole, as before.

use axum::http::StatusCode;
use prescient_tests::rest::{assert_error, fixture, get, Fixture};
use serde_json::Value;

/// Every page of `path` at `limit` items, following `X-Next-Cursor` until it is absent.
async fn walk(f: &Fixture, path: &str, limit: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let r = get(f, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        let page = r.body.as_array().expect("a JSON array").clone();
        assert!(page.len() <= limit, "{uri}: {} items", page.len());
        let whole = get(f, path).await;
        assert_eq!(
            r.header("x-total-count"),
            Some(
                whole
                    .body
                    .as_array()
                    .expect("array")
                    .len()
                    .to_string()
                    .as_str()
            ),
            "{uri}: the total is the length of the whole list"
        );
        cursor = r.header("x-next-cursor").map(str::to_string);
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
        assert!(pages.len() < 100, "{path}: the cursor never ends");
    }
}

#[tokio::test]
async fn pages_cover_each_list_once_in_order_and_give_the_total() {
    let f = fixture(3);
    for (path, key) in [
        ("/api/v1/devices", "id"),
        ("/api/v1/links", "id"),
        ("/api/v1/hosts", "mac"),
    ] {
        let whole = get(&f, path).await;
        assert_eq!(whole.status, StatusCode::OK);
        // The whole list says so too, and has no next page.
        let all = whole.body.as_array().expect("array").clone();
        assert_eq!(
            whole.header("x-total-count"),
            Some(all.len().to_string().as_str())
        );
        assert_eq!(whole.header("x-next-cursor"), None, "{path}");
        assert!(all.len() >= 2, "{path}: the fixture has at least two");
        for limit in [1, 3, all.len(), all.len() + 5] {
            let pages = walk(&f, path, limit).await;
            assert_eq!(
                pages.len(),
                all.len().div_ceil(limit).max(1),
                "{path} by {limit}"
            );
            let seen: Vec<Value> = pages.into_iter().flatten().collect();
            // Exactly the whole list, in the same order: nothing twice, nothing skipped.
            assert_eq!(seen, all, "{path} walked by {limit}");
        }
        // The cursor of the last item ends the list: an empty last page is never needed.
        let last = all.last().expect("items")[key]
            .as_str()
            .expect("id")
            .to_string();
        let after_last = get(&f, &format!("{path}?cursor={last}")).await;
        assert_eq!(after_last.status, StatusCode::OK);
        assert_eq!(after_last.body, Value::Array(vec![]));
        assert_eq!(
            after_last.header("x-total-count"),
            Some(all.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_cursor_naming_a_device_that_is_not_there_starts_where_it_would_be() {
    let f = fixture(3);
    // The fixture has of:1 to of:4; of:2a (42) sorts after all of them, of:1 before of:2.
    let r = get(&f, "/api/v1/devices?limit=10&cursor=of:2a").await;
    assert_eq!(r.body, Value::Array(vec![]), "{}", r.text);
    let r = get(&f, "/api/v1/devices?limit=1&cursor=of:0000000000000001").await;
    assert_eq!(r.body[0]["id"], "of:0000000000000002");
    assert_eq!(r.header("x-next-cursor"), Some("of:0000000000000002"));
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_refused_naming_the_parameter() {
    let f = fixture(3);
    for uri in [
        "/api/v1/devices?limit=0",
        "/api/v1/links?limit=10001",
        "/api/v1/hosts?limit=0",
    ] {
        assert_error(
            &get(&f, uri).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("limit"),
        );
    }
    for uri in [
        "/api/v1/devices?cursor=switch-7",
        "/api/v1/links?cursor=of:1",
        "/api/v1/hosts?cursor=10.0.0.1",
    ] {
        assert_error(
            &get(&f, uri).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("cursor"),
        );
    }
    assert_eq!(
        get(&f, "/api/v1/devices?limit=ten").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
