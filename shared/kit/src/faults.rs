//! Tower layers around every service's routes: the call deadline from `grpc-timeout`, and
//! delays that tests inject into chosen methods.
//!
//! [`FaultInjection::default`] is inactive and adds no delay, so production servers only pay
//! for one `Option` check per call. Tests create an active handle with
//! [`FaultInjection::enabled`], pass it to [`crate::server::run_service_with`] and switch
//! delays on and off while the service runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tower::{Layer, Service};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Position of an injected delay relative to the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelayPoint {
    /// Before the handler starts, so a call cut off by its deadline has changed nothing.
    BeforeHandler,
    /// After the handler has returned, so a call cut off by its deadline has already
    /// committed its effect.
    AfterHandler,
}

#[derive(Clone, Debug)]
struct Delay {
    method: String,
    duration: Duration,
    point: DelayPoint,
}

/// A handle that injects delays into calls of a running service. Cloning shares the state.
#[derive(Clone, Debug, Default)]
pub struct FaultInjection {
    delay: Option<Arc<Mutex<Option<Delay>>>>,
}

impl FaultInjection {
    /// Creates an active handle with no delay set yet.
    pub fn enabled() -> Self {
        Self { delay: Some(Arc::new(Mutex::new(None))) }
    }

    /// Delays every call whose gRPC method name (the last path segment, for example
    /// `TrackActivity`) equals `method`. Does nothing on an inactive handle.
    pub fn set_delay(&self, method: &str, duration: Duration, point: DelayPoint) {
        if let Some(delay) = &self.delay {
            let mut guard = delay.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *guard = Some(Delay { method: method.to_owned(), duration, point });
        }
    }

    /// Removes the delay.
    pub fn clear(&self) {
        if let Some(delay) = &self.delay {
            *delay.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        }
    }

    fn delay_for(&self, path: &str) -> Option<(Duration, DelayPoint)> {
        let delay = self.delay.as_ref()?;
        let guard = delay.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let delay = guard.as_ref()?;
        let method = path.rsplit('/').next().unwrap_or_default();
        (method == delay.method).then_some((delay.duration, delay.point))
    }
}

/// Tower layer that applies a [`FaultInjection`].
#[derive(Clone, Debug)]
pub struct FaultLayer {
    faults: FaultInjection,
}

impl FaultLayer {
    /// Creates the layer over `faults`.
    pub fn new(faults: FaultInjection) -> Self {
        Self { faults }
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService { inner, faults: self.faults.clone() }
    }
}

/// Service produced by [`FaultLayer`].
#[derive(Clone, Debug)]
pub struct FaultService<S> {
    inner: S,
    faults: FaultInjection,
}

impl<S, B> Service<http::Request<B>> for FaultService<S>
where
    S: Service<http::Request<B>> + Send,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let delay = self.faults.delay_for(request.uri().path());
        // Generated tonic handlers do no work until their future is first polled, so the
        // handler below starts only after a BeforeHandler delay.
        let handler = self.inner.call(request);
        match delay {
            None => Box::pin(handler),
            Some((duration, DelayPoint::BeforeHandler)) => Box::pin(async move {
                tokio::time::sleep(duration).await;
                handler.await
            }),
            Some((duration, DelayPoint::AfterHandler)) => Box::pin(async move {
                let response = handler.await;
                tokio::time::sleep(duration).await;
                response
            }),
        }
    }
}

/// Margin by which [`DeadlineService`] responds before tonic's own `grpc-timeout` timer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(5);

/// Tower layer that ends a call with DEADLINE_EXCEEDED when the caller's `grpc-timeout`
/// passes, and drops the handler's future, so an uncommitted transaction rolls back.
///
/// tonic 0.14 enforces `grpc-timeout` itself but returns CANCELLED. This layer runs inside
/// tonic's timer and fires [`DEADLINE_MARGIN`] earlier, so callers get DEADLINE_EXCEEDED as
/// the gRPC specification describes. Like tonic's timer, it bounds the handler up to its
/// response headers, so a server-streaming body that follows is not cut off.
#[derive(Clone, Debug, Default)]
pub struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner }
    }
}

/// Service produced by [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct DeadlineService<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for DeadlineService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let timeout = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        let path = request.uri().path().to_owned();
        let handler = self.inner.call(request);

        let Some(timeout) = timeout else {
            return Box::pin(handler);
        };
        // The deadline is fixed here, in `call`, as tonic fixes its own, and not at the first
        // poll, which a busy runtime can delay past tonic's timer.
        let timeout = timeout.saturating_sub(DEADLINE_MARGIN);
        let deadline = tokio::time::Instant::now() + timeout;
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, handler).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(rpc = %path, timeout_ms = timeout.as_millis() as u64, "call deadline exceeded; handler cancelled");
                    let status = Status::deadline_exceeded(format!(
                        "the call's deadline of {} ms passed before {path} finished; retry with the same request_id or idempotency key",
                        timeout.as_millis()
                    ));
                    Ok(status.into_http())
                }
            }
        })
    }
}

/// Parses a `grpc-timeout` header value: at most eight digits and a unit, `H` hours, `M`
/// minutes, `S` seconds, `m` milliseconds, `u` microseconds or `n` nanoseconds.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_parse() {
        assert_eq!(parse_grpc_timeout("200m"), Some(Duration::from_millis(200)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("300u"), Some(Duration::from_micros(300)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_grpc_timeout_is_ignored() {
        for value in ["", "m", "12", "123456789m", "-5m", "5x", "5.0S"] {
            assert_eq!(parse_grpc_timeout(value), None, "{value:?}");
        }
    }

    #[test]
    fn inactive_handle_never_delays() {
        let faults = FaultInjection::default();
        faults.set_delay("TrackActivity", Duration::from_secs(1), DelayPoint::BeforeHandler);
        assert_eq!(faults.delay_for("/leadflow.activity.v1.ActivityService/TrackActivity"), None);
    }

    #[test]
    fn active_handle_delays_named_method() {
        let faults = FaultInjection::enabled();
        faults.set_delay("TrackActivity", Duration::from_secs(1), DelayPoint::AfterHandler);
        let path = "/leadflow.activity.v1.ActivityService/TrackActivity";
        assert_eq!(faults.delay_for(path), Some((Duration::from_secs(1), DelayPoint::AfterHandler)));
        assert_eq!(faults.delay_for("/leadflow.activity.v1.ActivityService/GetLead"), None);
        faults.clear();
        assert_eq!(faults.delay_for(path), None);
    }
}
