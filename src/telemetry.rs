//! Logging: the tracing subscriber (text or JSON) and the per-request span.
//!
//! Every request gets a request id (the client's `X-Request-Id` when it is a sane token,
//! otherwise a new UUID), echoed in the response header and carried by one span, so all
//! lines of a request can be found together. Request bodies, query strings (which may hold
//! personal data in filters) and `Authorization` headers are never logged.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use futures_util::FutureExt;
use tracing::Instrument;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::scim::error::ScimError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init<W>(format: LogFormat, level: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    install_panic_hook();
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn request_id_from(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Replaces the default panic message (and its backtrace, with `RUST_BACKTRACE` set) by
/// one log line with the location. A panic while serving a request is also answered as a
/// 500 by [`request_span`], so a client never sees a dropped connection.
/// Where no subscriber records errors (tests run with logging off), the standard message
/// is printed instead, so a failing test still says why.
fn install_panic_hook() {
    let standard = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !tracing::enabled!(tracing::Level::ERROR) {
            return standard(info);
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic payload".to_string());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %message, location = %location, "a thread panicked (a bug)");
    }));
}

/// Middleware: the request span, the `X-Request-Id` header and one completion line. A
/// panic anywhere below it ends as a SCIM 500 body (the panic hook has logged it once).
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = request_id_from(&req);
    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    // An error returned from here is rendered by actix through its `ResponseError`.
    let result = match AssertUnwindSafe(next.call(req).instrument(span.clone()))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => Err(ScimError::internal(&"the request handler panicked").into()),
    };
    let _enter = span.enter();
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::warn!(status, latency_ms = ms, "request failed");
            } else {
                tracing::info!(status, latency_ms = ms, "request completed");
            }
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                res.headers_mut().insert(REQUEST_ID, v);
            }
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(error = %e, "request errored");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{middleware, test, web, App, HttpResponse};

    use super::*;

    async fn boom() -> HttpResponse {
        let text = "n€";
        // A byte index inside '€': the kind of bug a fuzzer finds.
        let cut = std::hint::black_box(2);
        HttpResponse::Ok().body(text[..cut].to_string())
    }

    #[actix_web::test]
    async fn a_panicking_handler_is_answered_with_a_scim_500() {
        let app = test::init_service(
            App::new()
                .wrap(middleware::from_fn(request_span))
                .route("/boom", web::get().to(boom))
                .route("/fine", web::get().to(HttpResponse::Ok)),
        )
        .await;
        // The panic becomes an error, which actix's dispatcher renders as the response.
        let error =
            test::try_call_service(&app, test::TestRequest::get().uri("/boom").to_request())
                .await
                .err()
                .expect("the panic becomes an error");
        let res = error.error_response();
        assert_eq!(res.status().as_u16(), 500);
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["status"], "500");
        assert_eq!(body["schemas"][0], crate::scim::schema::ERROR_SCHEMA);
        // The worker goes on serving.
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
}
