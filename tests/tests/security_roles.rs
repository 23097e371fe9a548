//! Authentication and roles. Every method of every service is called with a token of each
//! role and of each kind: JWT HS256, JWT RS256 from a PEM key and from a JWKS file, and
//! static token. It is also called with no token and with invalid or expired tokens. The
//! expected outcome comes from the services' access tables.

mod support;

use leadflow_kit::auth::{AccessTable, Role};
use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::scoring::GetLeadScoreRequest;
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, SuiteOptions, backends, eventually};
use support::{Credentials, Method, TokenKind, call_empty, descriptor_methods, with_token};
use tonic::Code;
use tonic_types::StatusExt;

/// The access table of each service, in the suite's order of addresses.
const TABLES: [AccessTable; 3] = [
    leadflow_activity::access::METHOD_ROLES,
    leadflow_scoring::access::METHOD_ROLES,
    leadflow_qualification::access::METHOD_ROLES,
];

/// Returns the index of the service whose table lists `path`, and the roles it allows.
fn lookup(path: &str) -> Option<(usize, &'static [Role])> {
    TABLES.iter().enumerate().find_map(|(index, table)| {
        table.iter().find(|(method, _)| *method == path).map(|(_, roles)| (index, *roles))
    })
}

fn is_event_delivery(path: &str) -> bool {
    let (service, method) = path.trim_start_matches('/').split_once('/').expect("full method path");
    service.ends_with("EventsService") && method.starts_with("Deliver")
}

#[test]
fn every_method_has_access_entry() {
    let methods = descriptor_methods();
    assert!(methods.len() > 30, "descriptor set lists {} methods", methods.len());

    for method in &methods {
        let entries = TABLES.iter().flat_map(|table| table.iter()).filter(|(path, _)| *path == method.path).count();
        assert_eq!(entries, 1, "{} must have exactly one access table entry", method.path);
    }
    for (path, _) in TABLES.iter().flat_map(|table| table.iter()) {
        assert!(methods.iter().any(|method| method.path == *path), "access table names unknown method {path}");
    }
}

#[test]
fn service_role_reaches_only_deliveries() {
    for (path, roles) in TABLES.iter().flat_map(|table| table.iter()) {
        if is_event_delivery(path) {
            assert_eq!(*roles, &[Role::Service], "{path} is for services only");
        } else {
            assert!(!roles.contains(&Role::Service), "{path} must not admit the service role");
            assert!(roles.contains(&Role::Admin), "{path} must admit admin");
        }
    }
}

#[test]
fn erasure_is_admin_only() {
    for method in ["EraseLead", "GetErasure"] {
        let path = format!("/leadflow.activity.v1.ActivityService/{method}");
        assert_eq!(lookup(&path).map(|(_, roles)| roles), Some(&[Role::Admin][..]), "{path}");
    }
}

fn secured_options(credentials: &Credentials) -> SuiteOptions {
    let settings = credentials.settings();
    SuiteOptions {
        configure: Some(Box::new(move |_, config| config.auth = settings.clone())),
        client_tls: None,
    }
}

/// Calls every method as `role` with a `kind` token and checks the outcome against the
/// tables.
async fn check_role(suite: &Suite, credentials: &Credentials, methods: &[Method], kind: TokenKind, role: Role) {
    let token = credentials.token(kind, role.as_str());
    for method in methods {
        let (index, allowed) = lookup(&method.path).expect("access entry");
        let status = call_empty(with_token(suite.channel(index), Some(&token)), method, "en-US").await;
        let context = format!("{kind:?} {role} {}: {:?} {}", method.path, status.code(), status.message());

        assert_ne!(status.code(), Code::Unauthenticated, "{context}");
        if allowed.contains(&role) {
            assert_ne!(status.code(), Code::PermissionDenied, "{context}");
        } else {
            assert_eq!(status.code(), Code::PermissionDenied, "{context}");
            let info = status.get_error_details().error_info().cloned().expect("ErrorInfo");
            assert_eq!(info.reason, "PERMISSION_DENIED", "{context}");
        }
    }
}

/// Calls every method with `token` and expects UNAUTHENTICATED.
async fn check_rejected(suite: &Suite, methods: &[Method], token: Option<&str>, what: &str) {
    for method in methods {
        let (index, _) = lookup(&method.path).expect("access entry");
        let status = call_empty(with_token(suite.channel(index), token), method, "en-US").await;
        assert_eq!(status.code(), Code::Unauthenticated, "{what} {}: {}", method.path, status.message());
    }
}

#[tokio::test]
async fn roles_matrix_on_every_backend() {
    let credentials = Credentials::new();
    let methods = descriptor_methods();

    for backend in backends() {
        eprintln!("running on {backend}");
        let suite = Suite::start_with(backend, secured_options(&credentials)).await;

        for kind in TokenKind::ALL {
            for role in Role::ALL {
                check_role(&suite, &credentials, &methods, kind, role).await;
            }
        }

        check_rejected(&suite, &methods, None, "no token").await;
        check_rejected(&suite, &methods, Some("not-a-known-token"), "unknown token").await;
        check_rejected(&suite, &methods, Some(&credentials.expired_token("admin")), "expired JWT").await;

        suite.stop().await;
    }
}

#[tokio::test]
async fn invalid_claims_are_unauthenticated() {
    let credentials = Credentials::new();
    let suite = Suite::start_with(leadflow_tests::Backend::Sqlite, secured_options(&credentials)).await;
    let method = descriptor_methods()
        .into_iter()
        .find(|method| method.path == "/leadflow.activity.v1.ActivityService/ListLeads")
        .expect("ListLeads");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = |changes: serde_json::Value| {
        let mut claims = serde_json::json!({
            "sub": "ana", "iss": support::ISSUER, "aud": support::AUDIENCE, "exp": now + 600, "roles": ["admin"],
        });
        for (key, value) in changes.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    };

    let valid = credentials.jwt(TokenKind::Hs256, &claims(serde_json::json!({})));
    let cases = [
        ("wrong issuer", credentials.jwt(TokenKind::Hs256, &claims(serde_json::json!({"iss": "https://other.test"})))),
        ("wrong audience", credentials.jwt(TokenKind::Rs256Pem, &claims(serde_json::json!({"aud": "billing"})))),
        ("not yet valid", credentials.jwt(TokenKind::Rs256Jwks, &claims(serde_json::json!({"nbf": now + 3600})))),
        ("no subject", credentials.jwt(TokenKind::Hs256, &claims(serde_json::json!({"sub": null})))),
        ("tampered signature", format!("{}x", valid)),
    ];

    let status = call_empty(with_token(suite.channel(0), Some(&valid)), &method, "en-US").await;
    assert_eq!(status.code(), Code::Ok, "the unchanged claims pass: {}", status.message());
    for (case, token) in cases {
        let status = call_empty(with_token(suite.channel(0), Some(&token)), &method, "en-US").await;
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {}", status.message());
    }
    suite.stop().await;
}

#[tokio::test]
async fn rejections_carry_details() {
    let credentials = Credentials::new();
    let suite = Suite::start_with(leadflow_tests::Backend::Sqlite, secured_options(&credentials)).await;
    let methods = descriptor_methods();
    let erase = methods.iter().find(|method| method.path.ends_with("/EraseLead")).expect("EraseLead");

    let status = call_empty(with_token(suite.channel(0), None), erase, "ro-RO").await;
    assert_eq!(status.code(), Code::Unauthenticated);
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "UNAUTHENTICATED");
    assert_eq!(info.domain, "activity.leadflow");
    let localized = details.localized_message().expect("LocalizedMessage");
    assert_eq!(localized.locale, "ro-RO");
    assert!(localized.message.contains("token bearer"), "{}", localized.message);

    let marketing = credentials.token(TokenKind::Static, "marketing");
    let status = call_empty(with_token(suite.channel(0), Some(&marketing)), erase, "en-US").await;
    assert_eq!(status.code(), Code::PermissionDenied);
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "PERMISSION_DENIED");
    assert_eq!(info.metadata.get("allowed").map(String::as_str), Some("admin"));
    assert_eq!(info.metadata.get("roles").map(String::as_str), Some("marketing"));
    let localized = details.localized_message().expect("LocalizedMessage");
    assert_eq!(localized.locale, "en-US");
    assert!(localized.message.contains("EraseLead"), "{}", localized.message);
    suite.stop().await;
}

#[tokio::test]
async fn health_and_reflection_stay_open() {
    let credentials = Credentials::new();
    let suite = Suite::start_with(leadflow_tests::Backend::Sqlite, secured_options(&credentials)).await;

    for index in 0..3 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(suite.channel(index));
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        let response = health.check(request).await.expect("health answers without a token").into_inner();
        assert_eq!(response.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

        let mut reflection =
            tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(suite.channel(index));
        let request = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .expect("reflection answers without a token")
            .into_inner();
        assert!(responses.message().await.expect("stream ok").is_some(), "service {index} lists its services");
    }
    suite.stop().await;
}

#[tokio::test]
async fn relays_deliver_with_service_token() {
    let credentials = Credentials::new();
    for backend in backends() {
        eprintln!("running on {backend}");
        let suite = Suite::start_with(backend, secured_options(&credentials)).await;
        let marketing = credentials.token(TokenKind::Rs256Jwks, "marketing");
        let sales = credentials.token(TokenKind::Hs256, "sales");

        let mut activity = ActivityServiceClient::new(with_token(suite.channel(0), Some(&marketing)));
        let request = UpsertLeadRequest { email: "ioana@example.ro".to_owned(), ..UpsertLeadRequest::default() };
        let lead_id = activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id;
        let track = TrackActivityRequest {
            lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.clone())) }),
            r#type: ActivityType::DemoRequest as i32,
            ..TrackActivityRequest::default()
        };
        activity.track_activity(track).await.expect("activity tracked");

        let scoring = ScoringServiceClient::new(with_token(suite.channel(1), Some(&sales)));
        let score = eventually("the activity scored through the authenticated relay", || {
            let mut scoring = scoring.clone();
            let lead_id = lead_id.clone();
            async move {
                let response = scoring.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?;
                response.into_inner().score.filter(|score| score.ledger_entries > 0)
            }
        })
        .await;
        assert!(score.score > 0, "a demo request scores points: {score:?}");
        suite.stop().await;
    }
}
