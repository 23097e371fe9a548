//! Limits that protect a service from one caller: a token-bucket rate limit and a limit on
//! calls in progress, both per caller, a server-side timeout for every call, and the
//! maximum message size.
//!
//! The caller is the token subject that authentication attached to the request, or the peer
//! IP address when authentication is off. A call over the rate or concurrency limit gets
//! RESOURCE_EXHAUSTED with an `ErrorInfo` and a `RetryInfo`. Health and reflection are not
//! limited.
//!
//! The message size limit is set on each generated server with `max_decoding_message_size`
//! and `max_encoding_message_size` (see [`LimitSettings::max_message_bytes`]). tonic 0.14
//! rejects an over-size request with OUT_OF_RANGE; this layer turns that status into
//! RESOURCE_EXHAUSTED `MESSAGE_TOO_LARGE`, the code the gRPC specification gives for it. An
//! over-size response fails inside the response stream, after this layer has passed the
//! response on, so the caller sees tonic's OUT_OF_RANGE status for it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::auth::Caller;
use crate::auth::layer::{error_response, is_open_method};
use crate::errors::{ApiError, Reason};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Number of tracked callers above which idle rate-limit buckets are dropped.
const MAX_IDLE_BUCKETS: usize = 10_000;

/// Delay suggested to a caller over its concurrency limit. The service cannot know when one
/// of the caller's calls will finish, so this is an estimate.
const CONCURRENCY_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Start of the message tonic 0.14 sends with OUT_OF_RANGE when a request exceeds
/// `max_decoding_message_size`.
const TONIC_DECODE_LIMIT_MESSAGE: &str = "Error, decoded message length too large";

/// Limit settings (`[limits]` in TOML, `LEADFLOW_LIMITS__*` variables). A value of 0 turns
/// the rate, concurrency or timeout limit off.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Maximum size of a request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Calls per second that one caller may make on average.
    pub rate_per_second: u32,
    /// Calls that one caller may make at once after being idle (the bucket size).
    pub rate_burst: u32,
    /// Calls of one caller that may be in progress at once. A server-streaming call counts
    /// until its response headers are sent.
    pub max_concurrent_calls: u32,
    /// Milliseconds after which the server ends a call with DEADLINE_EXCEEDED, whatever
    /// deadline the caller set. Like the caller's deadline, it bounds a call up to its
    /// response headers.
    pub request_timeout_ms: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024 * 1024,
            rate_per_second: 2000,
            rate_burst: 4000,
            max_concurrent_calls: 256,
            request_timeout_ms: 120_000,
        }
    }
}

/// One caller's token bucket.
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// State shared by the clones of one server's [`LimitLayer`].
struct Limiter {
    settings: LimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
    in_progress: Mutex<HashMap<String, u32>>,
}

impl Limiter {
    /// Takes one token from `caller`'s bucket, or returns the time until one is free.
    fn take_token(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(self.settings.rate_per_second);
        if rate == 0.0 {
            return Ok(());
        }
        let burst = f64::from(self.settings.rate_burst.max(1));

        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > MAX_IDLE_BUCKETS {
            // A bucket that refilled completely carries no state worth keeping.
            buckets.retain(|_, bucket| bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;

        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Counts one more call of `caller` in progress, unless it is at its limit.
    fn enter(self: &Arc<Self>, caller: &str) -> Option<InProgress> {
        let limit = self.settings.max_concurrent_calls;
        if limit == 0 {
            return Some(InProgress { limiter: None, caller: String::new() });
        }
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = in_progress.entry(caller.to_owned()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(InProgress { limiter: Some(self.clone()), caller: caller.to_owned() })
    }
}

/// One call in progress; dropping it ends the call for the concurrency limit.
struct InProgress {
    limiter: Option<Arc<Limiter>>,
    caller: String,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let Some(limiter) = &self.limiter else { return };
        let mut in_progress = limiter.in_progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = in_progress.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                in_progress.remove(&self.caller);
            }
        }
    }
}

/// Returns the key that limits count calls by: the token subject, else the peer IP address.
fn caller_key<B>(request: &http::Request<B>) -> String {
    let extensions = request.extensions();
    if let Some(caller) = extensions.get::<Caller>() {
        return format!("subject:{}", caller.subject);
    }
    let address = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|info| info.get_ref().remote_addr()));
    match address {
        Some(address) => format!("ip:{}", address.ip()),
        None => "unknown".to_owned(),
    }
}

/// Returns true when `response` is tonic's rejection of an over-size request.
fn is_decode_limit_rejection(response: &http::Response<tonic::body::Body>) -> bool {
    let headers = response.headers();
    let status = headers.get("grpc-status").and_then(|value| value.to_str().ok());
    let message = headers.get("grpc-message").and_then(|value| value.to_str().ok()).unwrap_or_default();
    // tonic percent-encodes the spaces of `grpc-message`.
    status == Some("11") && message.replace("%20", " ").starts_with(TONIC_DECODE_LIMIT_MESSAGE)
}

/// Tower layer that applies [`LimitSettings`].
#[derive(Clone)]
pub struct LimitLayer {
    limiter: Arc<Limiter>,
    domain: &'static str,
}

impl LimitLayer {
    /// Creates the layer for the service with error domain `domain`.
    pub fn new(settings: LimitSettings, domain: &'static str) -> Self {
        let limiter = Limiter { settings, buckets: Mutex::default(), in_progress: Mutex::default() };
        Self { limiter: Arc::new(limiter), domain }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = LimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitService { inner, layer: self.clone() }
    }
}

/// Service produced by [`LimitLayer`].
#[derive(Clone)]
pub struct LimitService<S> {
    inner: S,
    layer: LimitLayer,
}

impl<S, B> Service<http::Request<B>> for LimitService<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        if is_open_method(&path) {
            return Box::pin(self.inner.call(request));
        }
        let limiter = &self.layer.limiter;
        let domain = self.layer.domain;
        let caller = caller_key(&request);

        // NOTE: every rejected call logs one warning through `ApiError::into_status`, so a
        // flood from one caller also floods the log.
        if let Err(delay) = limiter.take_token(&caller, Instant::now()) {
            let retry_ms = delay.as_millis().max(1);
            let rate = limiter.settings.rate_per_second;
            let message = format!("rate limit of {rate} calls per second exceeded; retry in {retry_ms} ms");
            let error = ApiError::resource_exhausted(Reason::RateLimited, message, Some(delay))
                .with_arg("rate", rate.to_string())
                .with_arg("retry_ms", retry_ms.to_string());
            let response = error_response(request.headers(), error, domain, &path);
            return Box::pin(async move { Ok(response) });
        }

        let Some(in_progress) = limiter.enter(&caller) else {
            let limit = limiter.settings.max_concurrent_calls;
            let retry_ms = CONCURRENCY_RETRY_DELAY.as_millis();
            let message = format!("{limit} calls of this caller are already in progress; retry in {retry_ms} ms");
            let error = ApiError::resource_exhausted(Reason::TooManyConcurrentCalls, message, Some(CONCURRENCY_RETRY_DELAY))
                .with_arg("limit", limit.to_string())
                .with_arg("retry_ms", retry_ms.to_string());
            let response = error_response(request.headers(), error, domain, &path);
            return Box::pin(async move { Ok(response) });
        };

        let timeout = Some(limiter.settings.request_timeout_ms).filter(|ms| *ms > 0).map(Duration::from_millis);
        let max_message_bytes = limiter.settings.max_message_bytes;
        let headers = request.headers().clone();
        let handler = self.inner.call(request);

        Box::pin(async move {
            let response = match timeout {
                None => handler.await?,
                Some(timeout) => match tokio::time::timeout(timeout, handler).await {
                    Ok(response) => response?,
                    Err(_) => {
                        tracing::warn!(rpc = %path, timeout_ms = timeout.as_millis() as u64, "server request timeout passed; handler cancelled");
                        let status = tonic::Status::deadline_exceeded(format!(
                            "the server's request timeout of {} ms passed before {path} finished",
                            timeout.as_millis()
                        ));
                        return Ok(status.into_http());
                    }
                },
            };
            drop(in_progress);

            if is_decode_limit_rejection(&response) {
                let message = format!("the request message is larger than the limit of {max_message_bytes} bytes");
                let error = ApiError::resource_exhausted(Reason::MessageTooLarge, message, None)
                    .with_arg("limit", max_message_bytes.to_string());
                return Ok(error_response(&headers, error, domain, &path));
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32, concurrent: u32) -> Arc<Limiter> {
        let settings = LimitSettings { rate_per_second: rate, rate_burst: burst, max_concurrent_calls: concurrent, ..LimitSettings::default() };
        Arc::new(Limiter { settings, buckets: Mutex::default(), in_progress: Mutex::default() })
    }

    #[test]
    fn bucket_refills_at_rate() {
        let limiter = limiter(10, 2, 0);
        let start = Instant::now();
        assert!(limiter.take_token("a", start).is_ok());
        assert!(limiter.take_token("a", start).is_ok());
        let delay = limiter.take_token("a", start).unwrap_err();
        assert_eq!(delay, Duration::from_millis(100));
        assert!(limiter.take_token("b", start).is_ok(), "another caller has its own bucket");
        assert!(limiter.take_token("a", start + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn concurrency_counts_until_drop() {
        let limiter = limiter(0, 0, 1);
        let first = limiter.enter("a").unwrap();
        assert!(limiter.enter("a").is_none());
        assert!(limiter.enter("b").is_some());
        drop(first);
        assert!(limiter.enter("a").is_some());
        assert!(limiter.in_progress.lock().unwrap().is_empty(), "finished callers leave no entry");
    }
}
