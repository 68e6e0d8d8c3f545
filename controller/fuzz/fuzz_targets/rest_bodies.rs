//! Any request to any operation of the REST API (every path and method of the OpenAPI document,
//! a fuzzed path parameter or query, a fuzzed body, with or without content type and token),
//! answered in process by the router over the tests' four-switch fixture: the answer is never a
//! server error (a 5xx means a request the API should have refused as 4xx, or a crash), and
//! nothing panics.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use prescient_tests::rest::{fixture, Fixture, TOKEN};
use tower::ServiceExt;

/// `(method, path template)` of every operation the API documents.
fn operations() -> &'static [(Method, String)] {
    static OPS: OnceLock<Vec<(Method, String)>> = OnceLock::new();
    OPS.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi.json")).expect("openapi.json");
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .expect("method");
                ops.push((method, path.clone()));
            }
        }
        ops.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
        ops
    })
}

fn world() -> &'static (tokio::runtime::Runtime, Fixture) {
    static WORLD: OnceLock<(tokio::runtime::Runtime, Fixture)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let fixture = runtime.block_on(async { fixture(5) });
        (runtime, fixture)
    })
}

/// The path with every `{param}` replaced by `value`; `value` becomes the query string of a path
/// without parameters.
fn uri(template: &str, value: &str) -> String {
    if !template.contains('{') {
        return format!("{template}?{value}");
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = rest[open..].split_once('}').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let [op, flags, rest @ ..] = data else {
        return;
    };
    let ops = operations();
    let (method, template) = &ops[usize::from(*op) % ops.len()];
    // The parameter runs to the first NUL; the body is what follows.
    let (param, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(param) = std::str::from_utf8(param) else {
        return;
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri(template, param));
    if flags & 1 != 0 {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if flags & 2 != 0 {
        request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return; // not a request a client could send (bad URI or header)
    };
    let (runtime, fixture) = world();
    // A successful event stream never ends: its status is checked, its body is not read.
    let streaming = template.ends_with("/events");
    runtime.block_on(async {
        let response = prescient::northbound::router(fixture.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "{method} {template} param {param:?} body {:?}: {status}",
            String::from_utf8_lossy(body)
        );
        if !(streaming && status.is_success()) {
            let body = axum::body::to_bytes(response.into_body(), 1 << 24).await;
            assert!(body.is_ok(), "{method} {template}: body failed");
        }
    });
});
