//! The tower layer that observes every call of a service.
//!
//! For each call it:
//! - takes the request id from `x-request-id` (or creates a UUIDv7) and returns it in the
//!   response headers, so a client can quote it;
//! - when tracing is on, starts the server span `package.Service/Method` as a child of the
//!   caller's `traceparent`, and replaces the request's `traceparent` with the span's own, so
//!   [`crate::CallContext`] and the events the handler writes carry the server span;
//! - records the call in the RPC metrics once its gRPC status is known: from the response
//!   headers for unary errors, from the trailers otherwise;
//! - logs a non-OK status that no handler logged (decoding errors, unknown methods), so every
//!   failed call has exactly one log line.
//!
//! Health and reflection calls are counted but get no span, so probes do not fill the trace
//! store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Status as SpanStatus, Tracer as _};
use opentelemetry_sdk::trace::Span;
use tokio::time::Instant;
use tonic::Code;
use tower::{Layer, Service};

use super::{Telemetry, TraceParent, trace};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Longest `x-request-id` taken from a caller; a longer or non-printable value is replaced.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Ids of the call that the current task handles, for log lines.
#[derive(Clone, Debug)]
pub struct RequestIds {
    /// Full method, for example `leadflow.activity.v1.ActivityService/TrackActivity`.
    pub method: Arc<str>,
    /// The caller's `x-request-id` or a generated UUIDv7.
    pub request_id: Arc<str>,
    /// Trace id of the server span, when tracing is on.
    pub trace_id: Option<Arc<str>>,
    /// Context of the server span, when tracing is on.
    pub span_context: Option<SpanContext>,
    logged: Arc<AtomicBool>,
}

tokio::task_local! {
    static REQUEST: RequestIds;
}

/// Returns the ids of the call that the current task handles, if any.
pub fn current_request() -> Option<RequestIds> {
    REQUEST.try_with(Clone::clone).ok()
}

/// Notes that the current call's error has been logged, so the layer does not log it again.
pub(crate) fn mark_error_logged() {
    let _ = REQUEST.try_with(|ids| ids.logged.store(true, Ordering::Relaxed));
}

/// Tower layer that observes calls for one service's [`Telemetry`].
#[derive(Clone)]
pub struct ObserveLayer {
    telemetry: Telemetry,
}

impl ObserveLayer {
    /// Creates the layer.
    pub fn new(telemetry: Telemetry) -> Self {
        Self { telemetry }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService { inner, telemetry: self.telemetry.clone() }
    }
}

/// Service produced by [`ObserveLayer`].
#[derive(Clone)]
pub struct ObserveService<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S, B> Service<http::Request<B>> for ObserveService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let start = Instant::now();
        let (service, method) = split_path(request.uri().path());
        let request_id = request_id_of(request.headers());
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(crate::faults::parse_grpc_timeout)
            .map(|timeout| start + timeout);

        let span = self.telemetry.tracer().filter(|_| !is_infrastructure(&service)).map(|tracer| {
            let parent = request
                .headers()
                .get("traceparent")
                .and_then(|value| value.to_str().ok())
                .map(trace::parent_context)
                .unwrap_or_default();
            let span = tracer
                .tracer()
                .span_builder(format!("{service}/{method}"))
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new("rpc.system", "grpc"),
                    KeyValue::new("rpc.service", service.clone()),
                    KeyValue::new("rpc.method", method.clone()),
                    KeyValue::new("leadflow.request_id", request_id.clone()),
                ])
                .start_with_context(tracer.tracer(), &parent);
            if let Some(own) = TraceParent::from_span_context(span.span_context()) {
                if let Ok(value) = HeaderValue::from_str(&own.to_string()) {
                    request.headers_mut().insert("traceparent", value);
                }
            }
            span
        });

        let ids = RequestIds {
            method: Arc::from(format!("{service}/{method}")),
            request_id: Arc::from(request_id.as_str()),
            trace_id: span.as_ref().map(|span| Arc::from(span.span_context().trace_id().to_string())),
            span_context: span.as_ref().map(|span| span.span_context().clone()),
            logged: Arc::new(AtomicBool::new(false)),
        };
        let call = CallRecord { telemetry: self.telemetry.clone(), service, method, start, deadline, span, ids: ids.clone() };

        // Generated handlers may do work in `call`, so it runs inside the scopes too.
        let telemetry = self.telemetry.clone();
        let inner = &mut self.inner;
        let future = telemetry.sync_scope(|| REQUEST.sync_scope(ids.clone(), || inner.call(request)));

        Box::pin(async move {
            let mut guard = CallGuard { call: Some(call) };
            let result = telemetry.scope(REQUEST.scope(ids, future)).await;
            let call = guard.call.take().expect("the guard holds the call until the response");

            match result {
                Ok(mut response) => {
                    if let Ok(value) = HeaderValue::from_str(&call.ids.request_id) {
                        response.headers_mut().insert("x-request-id", value);
                    }
                    match status_code(response.headers()) {
                        Some(code) => {
                            call.finish(code, response.headers());
                            Ok(response)
                        }
                        None => Ok(response.map(|body| tonic::body::Body::new(ObservedBody { inner: body, call: Some(call) }))),
                    }
                }
                Err(error) => {
                    call.finish(Code::Unknown, &HeaderMap::new());
                    Err(error)
                }
            }
        })
    }
}

/// A call in flight, finished once with its status code.
struct CallRecord {
    telemetry: Telemetry,
    service: String,
    method: String,
    start: Instant,
    deadline: Option<Instant>,
    span: Option<Span>,
    ids: RequestIds,
}

impl CallRecord {
    fn finish(mut self, code: Code, headers: &HeaderMap) {
        let elapsed = self.start.elapsed();
        // An unknown method would add one label set per name a client sends.
        let (service, method) =
            if code == Code::Unimplemented { ("_OTHER", "_OTHER") } else { (self.service.as_str(), self.method.as_str()) };
        self.telemetry.metrics().record_call(service, method, code, elapsed);

        if let Some(span) = self.span.as_mut() {
            span.set_attribute(KeyValue::new("rpc.grpc.status_code", code as i64));
            if is_server_error(code) {
                span.set_status(SpanStatus::error(format!("{code:?}")));
            }
            span.end();
        }

        if code != Code::Ok && !self.ids.logged.load(Ordering::Relaxed) {
            let message = headers.get("grpc-message").and_then(|value| value.to_str().ok()).unwrap_or_default();
            super::logs::log_unhandled_status(&self.ids, code, message, elapsed);
        }
    }

    /// Finishes a call whose future was dropped before it produced a response: the deadline
    /// layer outside cut it off (and logged it), or the client went away.
    fn finish_dropped(self) {
        let deadline_passed = self.deadline.is_some_and(|deadline| Instant::now() + Duration::from_millis(10) >= deadline);
        let code = if deadline_passed { Code::DeadlineExceeded } else { Code::Cancelled };
        self.ids.logged.store(true, Ordering::Relaxed);
        self.finish(code, &HeaderMap::new());
    }
}

/// Finishes the call when its future is dropped before the response.
struct CallGuard {
    call: Option<CallRecord>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.finish_dropped();
        }
    }
}

/// A response body that finishes its call when the trailers arrive or the body is dropped.
struct ObservedBody {
    inner: tonic::body::Body,
    call: Option<CallRecord>,
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = status_code(trailers).unwrap_or(Code::Unknown);
                    if let Some(call) = self.call.take() {
                        call.finish(code, trailers);
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(call) = self.call.take() {
                    call.finish(Code::Internal, &HeaderMap::new());
                }
            }
            Poll::Ready(None) => {
                if let Some(call) = self.call.take() {
                    call.finish(Code::Ok, &HeaderMap::new());
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.ids.logged.store(true, Ordering::Relaxed);
            call.finish(Code::Cancelled, &HeaderMap::new());
        }
    }
}

/// Splits `/package.Service/Method` into the service and the method.
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

fn is_infrastructure(service: &str) -> bool {
    service.starts_with("grpc.health.") || service.starts_with("grpc.reflection.")
}

/// Returns true for the codes that the OpenTelemetry gRPC conventions mark as server errors.
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown | Code::DeadlineExceeded | Code::Unimplemented | Code::Internal | Code::Unavailable | Code::DataLoss
    )
}

fn status_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    value.parse::<i32>().ok().map(Code::from_i32)
}

fn request_id_of(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= MAX_REQUEST_ID_LEN)
        .filter(|value| value.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_splits_into_service_and_method() {
        let (service, method) = split_path("/leadflow.activity.v1.ActivityService/TrackActivity");
        assert_eq!(service, "leadflow.activity.v1.ActivityService");
        assert_eq!(method, "TrackActivity");
    }

    #[test]
    fn caller_request_id_is_kept_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("req-42"));
        assert_eq!(request_id_of(&headers), "req-42");

        headers.insert("x-request-id", HeaderValue::from_str(&"x".repeat(65)).expect("header"));
        assert_ne!(request_id_of(&headers), "x".repeat(65));
    }
}
