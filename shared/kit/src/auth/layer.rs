//! The tower layer that authenticates each call and checks its method against the
//! service's access table.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{AccessTable, Authenticator, Caller, Role};
use crate::errors::{ApiError, Lang};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Returns true for the methods that stay open to every caller: gRPC health and reflection.
pub fn is_open_method(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

/// Builds the HTTP response of `error` in the language of the request's `accept-language`.
pub(crate) fn error_response(
    headers: &http::HeaderMap,
    error: ApiError,
    domain: &str,
    path: &str,
) -> http::Response<tonic::body::Body> {
    let lang = headers
        .get("accept-language")
        .and_then(|value| value.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default();
    error.into_status(domain, path, lang).into_http()
}

/// Reads the token of an `authorization: Bearer TOKEN` header. The scheme is matched
/// case-insensitively.
fn bearer_token(headers: &http::HeaderMap) -> Result<&str, String> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or("the call has no authorization metadata")?;
    let value = value.to_str().map_err(|_| "the authorization metadata is not ASCII text")?;
    let (scheme, token) = value.trim().split_once(' ').ok_or("the authorization metadata is not `Bearer TOKEN`")?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err("the authorization metadata is not `Bearer TOKEN`".to_owned());
    }
    Ok(token.trim())
}

/// Tower layer that authenticates calls and enforces an [`AccessTable`]. Without an
/// authenticator (authentication off) it lets every call through unchanged.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Option<Arc<Authenticator>>,
    access: Arc<HashMap<&'static str, &'static [Role]>>,
    domain: &'static str,
}

impl AuthLayer {
    /// Creates the layer for the service with error domain `domain`.
    pub fn new(authenticator: Option<Arc<Authenticator>>, access: AccessTable, domain: &'static str) -> Self {
        Self { authenticator, access: Arc::new(access.iter().copied().collect()), domain }
    }

    /// Decides one call: the caller to attach to the request, or the error to return.
    fn check(&self, authenticator: &Authenticator, path: &str, headers: &http::HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer_token(headers).map_err(ApiError::unauthenticated)?;
        let caller = authenticator.authenticate(token).map_err(|failure| ApiError::unauthenticated(failure.0))?;

        let roles: Vec<&str> = caller.roles.iter().map(|role| role.as_str()).collect();
        let roles = if roles.is_empty() { "none".to_owned() } else { roles.join(", ") };
        let Some(allowed) = self.access.get(path) else {
            return Err(ApiError::permission_denied(path, &roles, "none, because the method is not in the access table"));
        };
        if caller.roles.iter().any(|role| allowed.contains(role)) {
            return Ok(caller);
        }
        let allowed: Vec<&str> = allowed.iter().map(|role| role.as_str()).collect();
        Err(ApiError::permission_denied(path, &roles, &allowed.join(", ")))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, layer: self.clone() }
    }
}

/// Service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
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
        let Some(authenticator) = self.layer.authenticator.clone() else {
            return Box::pin(self.inner.call(request));
        };
        let path = request.uri().path().to_owned();
        if is_open_method(&path) {
            return Box::pin(self.inner.call(request));
        }

        match self.layer.check(&authenticator, &path, request.headers()) {
            Ok(caller) => {
                // The subject is not logged: a JWT `sub` is often an e-mail address.
                request.extensions_mut().insert(caller);
                Box::pin(self.inner.call(request))
            }
            Err(error) => {
                let response = error_response(request.headers(), error, self.layer.domain, &path);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers("bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(&headers("Bearer  abc ")), Ok("abc"));
    }

    #[test]
    fn other_schemes_are_rejected() {
        assert!(bearer_token(&headers("Basic abc")).is_err());
        assert!(bearer_token(&headers("Bearer")).is_err());
        assert!(bearer_token(&http::HeaderMap::new()).is_err());
    }
}
