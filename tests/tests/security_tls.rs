//! TLS and mutual TLS between clients and services, with certificates made at run time by a
//! test CA, and the outbox relays delivering events under mutual TLS with service tokens.

mod support;

use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{LeadKey, ListLeadsRequest, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::scoring::GetLeadScoreRequest;
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Backend, Suite, SuiteOptions, backends, eventually};
use support::{Credentials, Pki, TokenKind, with_token};
use tonic::transport::Channel;

fn tls_options(pki: &Pki, mutual: bool) -> SuiteOptions {
    let tls = pki.service_tls(mutual);
    let identity = mutual.then_some((&pki.client_cert, &pki.client_key));
    SuiteOptions {
        configure: Some(Box::new(move |_, config| config.tls = tls.clone())),
        client_tls: Some(pki.client_tls(identity)),
    }
}

async fn list_leads(channel: Channel) -> Result<usize, tonic::Status> {
    let mut client = ActivityServiceClient::new(channel);
    let response = client.list_leads(ListLeadsRequest::default()).await?;
    Ok(response.into_inner().leads.len())
}

fn https_channel(suite: &Suite, index: usize, tls: tonic::transport::ClientTlsConfig) -> Channel {
    Channel::from_shared(format!("https://{}", suite.addresses[index]))
        .expect("endpoint")
        .tls_config(tls)
        .expect("TLS")
        .connect_lazy()
}

#[tokio::test]
async fn tls_round_trip() {
    let pki = Pki::new();
    let mut suite = Suite::start_with(Backend::Sqlite, tls_options(&pki, false)).await;

    let request = UpsertLeadRequest { email: "radu@example.ro".to_owned(), ..UpsertLeadRequest::default() };
    suite.activity.upsert_lead(request).await.expect("upsert over TLS");
    assert_eq!(list_leads(suite.channel(0)).await.expect("list over TLS"), 1);

    let plain = Channel::from_shared(format!("http://{}", suite.addresses[0])).expect("endpoint").connect_lazy();
    assert!(list_leads(plain).await.is_err(), "a plain-text client gets no answer from a TLS port");

    let other_ca = Pki::new();
    let untrusted = https_channel(&suite, 0, other_ca.client_tls(None));
    assert!(list_leads(untrusted).await.is_err(), "a client that does not trust the server's CA fails");
    suite.stop().await;
}

#[tokio::test]
async fn mtls_round_trip() {
    let pki = Pki::new();
    let suite = Suite::start_with(Backend::Sqlite, tls_options(&pki, true)).await;

    for index in 0..3 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(suite.channel(index));
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        health.check(request).await.expect("health over mutual TLS");
    }
    assert_eq!(list_leads(suite.channel(0)).await.expect("list over mutual TLS"), 0);
    suite.stop().await;
}

#[tokio::test]
async fn mtls_rejects_client_without_certificate() {
    let pki = Pki::new();
    let suite = Suite::start_with(Backend::Sqlite, tls_options(&pki, true)).await;

    let anonymous = https_channel(&suite, 0, pki.client_tls(None));
    assert!(list_leads(anonymous).await.is_err(), "a client without a certificate is rejected");

    let stranger = https_channel(&suite, 0, pki.client_tls(Some((&pki.stranger_cert, &pki.stranger_key))));
    assert!(list_leads(stranger).await.is_err(), "a certificate from another CA is rejected");

    assert_eq!(list_leads(suite.channel(0)).await.expect("the CA's client certificate is accepted"), 0);
    suite.stop().await;
}

#[tokio::test]
async fn relay_delivers_under_mtls_with_service_tokens() {
    let pki = Pki::new();
    let credentials = Credentials::new();

    for backend in backends() {
        eprintln!("running on {backend}");
        let mut options = tls_options(&pki, true);
        let tls = pki.service_tls(true);
        let auth = credentials.settings();
        options.configure = Some(Box::new(move |_, config| {
            config.tls = tls.clone();
            config.auth = auth.clone();
        }));
        let suite = Suite::start_with(backend, options).await;

        let marketing = credentials.token(TokenKind::Static, "marketing");
        let mut activity = ActivityServiceClient::new(with_token(suite.channel(0), Some(&marketing)));
        let request = UpsertLeadRequest { email: "mihai@example.ro".to_owned(), ..UpsertLeadRequest::default() };
        let lead_id = activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id;
        let track = TrackActivityRequest {
            lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.clone())) }),
            r#type: ActivityType::PageView as i32,
            ..TrackActivityRequest::default()
        };
        activity.track_activity(track).await.expect("activity tracked");

        let sales = credentials.token(TokenKind::Rs256Pem, "sales");
        let scoring = ScoringServiceClient::new(with_token(suite.channel(1), Some(&sales)));
        let score = eventually("the activity reached scoring over mutual TLS", || {
            let mut scoring = scoring.clone();
            let lead_id = lead_id.clone();
            async move {
                let response = scoring.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?;
                response.into_inner().score.filter(|score| score.ledger_entries > 0)
            }
        })
        .await;
        assert_eq!(score.ledger_entries, 1, "one activity, one ledger entry: {score:?}");
        suite.stop().await;
    }
}
