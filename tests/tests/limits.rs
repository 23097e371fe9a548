//! Per-caller rate and concurrency limits and the maximum message size, against real
//! services with authentication on, so each static token is its own caller.

mod support;

use std::time::Duration;

use leadflow_kit::faults::DelayPoint;
use leadflow_kit::limits::LimitSettings;
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{GetLeadRequest, LeadKey, ListLeadsRequest, UpsertLeadRequest, lead_key};
use leadflow_tests::{Backend, Suite, SuiteOptions, backends, eventually};
use support::{Credentials, TokenKind, with_token};
use tonic::Code;
use tonic_types::StatusExt;

fn limited_options(credentials: &Credentials, limits: LimitSettings) -> SuiteOptions {
    let auth = credentials.settings();
    SuiteOptions {
        configure: Some(Box::new(move |_, config| {
            config.auth = auth.clone();
            config.limits = limits.clone();
        })),
        client_tls: None,
    }
}

fn activity_client(suite: &Suite, token: &str) -> ActivityServiceClient<leadflow_kit::auth::TokenChannel> {
    ActivityServiceClient::new(with_token(suite.channel(0), Some(token)))
}

#[tokio::test]
async fn flood_is_rate_limited_per_caller() {
    let credentials = Credentials::new();
    let limits = LimitSettings { rate_per_second: 1, rate_burst: 3, ..LimitSettings::default() };

    for backend in backends() {
        eprintln!("running on {backend}");
        let suite = Suite::start_with(backend, limited_options(&credentials, limits.clone())).await;
        let mut flooder = activity_client(&suite, &credentials.token(TokenKind::Static, "marketing"));
        let mut other = activity_client(&suite, &credentials.token(TokenKind::Static, "sales"));

        let mut served = 0;
        let mut limited = Vec::new();
        for _ in 0..20 {
            match flooder.list_leads(ListLeadsRequest::default()).await {
                Ok(_) => served += 1,
                Err(status) => limited.push(status),
            }
        }
        assert!(served >= 3, "the burst of 3 calls is served, got {served}");
        assert!(!limited.is_empty(), "20 calls at a rate of 1 per second exceed the limit");

        let status = &limited[0];
        assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
        let details = status.get_error_details();
        assert_eq!(details.error_info().expect("ErrorInfo").reason, "RATE_LIMITED");
        let delay = details.retry_info().expect("RetryInfo").retry_delay.expect("retry delay");
        assert!(delay > Duration::ZERO, "the delay until a token is free is positive: {delay:?}");
        assert!(delay <= Duration::from_secs(1), "one token refills within a second: {delay:?}");
        assert!(details.localized_message().is_some(), "LocalizedMessage");

        other.list_leads(ListLeadsRequest::default()).await.expect("another caller is served during the flood");
        suite.stop().await;
    }
}

#[tokio::test]
async fn oversize_message_is_rejected() {
    let credentials = Credentials::new();
    let limits = LimitSettings { max_message_bytes: 64 * 1024, ..LimitSettings::default() };

    for backend in backends() {
        eprintln!("running on {backend}");
        let suite = Suite::start_with(backend, limited_options(&credentials, limits.clone())).await;
        let mut client = activity_client(&suite, &credentials.token(TokenKind::Static, "marketing"));

        let oversize = UpsertLeadRequest {
            email: "maria@example.ro".to_owned(),
            campaign: "c".repeat(100 * 1024),
            ..UpsertLeadRequest::default()
        };
        let status = client.upsert_lead(oversize).await.expect_err("a 100 KiB message exceeds 64 KiB");
        assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
        assert_eq!(info.metadata.get("limit").map(String::as_str), Some("65536"));

        let leads = client.list_leads(ListLeadsRequest::default()).await.expect("list").into_inner().leads;
        assert!(leads.is_empty(), "the rejected message stored nothing");

        let normal = UpsertLeadRequest { email: "maria@example.ro".to_owned(), ..UpsertLeadRequest::default() };
        client.upsert_lead(normal).await.expect("a small message is accepted");
        suite.stop().await;
    }
}

#[tokio::test]
async fn concurrency_limit_per_caller() {
    let credentials = Credentials::new();
    let limits = LimitSettings { max_concurrent_calls: 2, ..LimitSettings::default() };
    let suite = Suite::start_with(Backend::Sqlite, limited_options(&credentials, limits)).await;
    let token = credentials.token(TokenKind::Static, "marketing");

    // Two slow calls take both of the caller's slots while the delay keeps them busy. A slow call
    // that arrives while a probe below holds a slot is rejected too, so it tries again.
    suite.activity_faults.set_delay("ListLeads", Duration::from_secs(5), DelayPoint::BeforeHandler);
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let mut client = activity_client(&suite, &token);
            tokio::spawn(async move {
                loop {
                    match client.list_leads(ListLeadsRequest::default()).await {
                        Err(status) if status.code() == Code::ResourceExhausted => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        result => return result,
                    }
                }
            })
        })
        .collect();

    let probe = GetLeadRequest {
        lead: Some(LeadKey { key: Some(lead_key::Key::Email("nobody@example.ro".to_owned())) }),
    };
    let client = activity_client(&suite, &token);
    let status = eventually("the third call of the caller is rejected", || {
        let mut client = client.clone();
        let probe = probe.clone();
        async move {
            let status = client.get_lead(probe).await.expect_err("no such lead");
            (status.code() == Code::ResourceExhausted).then_some(status)
        }
    })
    .await;
    let details = status.get_error_details();
    assert_eq!(details.error_info().expect("ErrorInfo").reason, "TOO_MANY_CONCURRENT_CALLS");
    assert!(details.retry_info().expect("RetryInfo").retry_delay.is_some());

    let mut other = activity_client(&suite, &credentials.token(TokenKind::Static, "sales"));
    let status = other.get_lead(probe.clone()).await.expect_err("no such lead");
    assert_eq!(status.code(), Code::NotFound, "another caller keeps its own slots");

    for call in slow {
        call.await.expect("task").expect("the slow calls finish");
    }
    suite.activity_faults.clear();
    let mut client = activity_client(&suite, &token);
    let status = client.get_lead(probe).await.expect_err("no such lead");
    assert_eq!(status.code(), Code::NotFound, "the slots are free again");
    suite.stop().await;
}
