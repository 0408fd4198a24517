//! Logging as an operator reads it: one line per panic (never a backtrace) and one completion
//! line per request with its status, latency and request id. Its own test binary, because
//! the subscriber and the panic hook are global to the process.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{middleware, test, web, App, HttpResponse};
use hubbridge::config::LogFormat;
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("UTF-8 logs")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn failing() -> HttpResponse {
    HttpResponse::ServiceUnavailable().finish()
}

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_millis(30)).await;
    HttpResponse::Ok().finish()
}

#[actix_web::test]
async fn a_panic_is_one_log_line_and_a_request_one_completion_line() {
    let logs = Captured::default();
    hubbridge::telemetry::init(LogFormat::Json, "info", logs.clone());

    let text = std::thread::spawn(|| panic!("broken invariant {}", 42)).join();
    let literal = std::thread::spawn(|| panic!("a literal message")).join();
    let app = test::init_service(
        App::new()
            .wrap(middleware::from_fn(hubbridge::telemetry::request_span))
            .route("/slow", web::get().to(slow))
            .route("/failing", web::get().to(failing)),
    )
    .await;
    let failed = test::call_service(&app, test::TestRequest::get().uri("/failing").to_request())
        .await
        .status();
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/slow")
            .insert_header(("x-request-id", "req-0042"))
            .to_request(),
    )
    .await;

    assert!(text.is_err() && literal.is_err());
    let lines = logs.lines();
    let panics: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "a thread panicked (a bug)")
        .collect();
    assert_eq!(panics.len(), 2, "one line per panic: {lines:#?}");
    assert_eq!(panics[0]["panic"], "broken invariant 42");
    assert_eq!(panics[1]["panic"], "a literal message");
    for p in &panics {
        assert_eq!(p["level"], "ERROR");
        assert!(
            p["location"]
                .as_str()
                .is_some_and(|l| l.starts_with("tests/telemetry.rs:")),
            "{p}"
        );
    }
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-0042")
    );
    let done: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .collect();
    assert_eq!(done.len(), 1, "{lines:#?}");
    assert_eq!(done[0]["status"], 200);
    assert_eq!(done[0]["span"]["request_id"], "req-0042");
    let ms = done[0]["latency_ms"].as_f64().expect("latency_ms");
    assert!(
        (30.0..1000.0).contains(&ms),
        "latency in milliseconds: {ms}"
    );
    assert_eq!(failed.as_u16(), 503);
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request failed")
        .collect();
    assert_eq!(failures.len(), 1, "{lines:#?}");
    assert_eq!(failures[0]["status"], 503);
    assert_eq!(failures[0]["level"], "WARN");
}
