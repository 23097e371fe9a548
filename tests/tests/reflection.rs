//! Reflection lists exactly the services a port serves.

use leadflow_tests::{Suite, on_every_backend};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

async fn listed_services(suite: &Suite, index: usize) -> Vec<String> {
    let mut client = ServerReflectionClient::new(suite.channel(index));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let response = responses.message().await.expect("stream ok").expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    names.sort();
    names
}

async fn only_own_services(suite: Suite) -> Suite {
    let expected = [
        ["leadflow.activity.v1.ActivityEventsService", "leadflow.activity.v1.ActivityService"],
        ["leadflow.scoring.v1.ScoringEventsService", "leadflow.scoring.v1.ScoringService"],
        ["leadflow.qualification.v1.QualificationEventsService", "leadflow.qualification.v1.QualificationService"],
    ];
    for (index, own) in expected.iter().enumerate() {
        let listed = listed_services(&suite, index).await;
        let leadflow: Vec<&str> = listed.iter().map(String::as_str).filter(|name| name.starts_with("leadflow.")).collect();
        assert_eq!(leadflow, own.to_vec(), "service {index} lists only its own services");
        assert!(listed.iter().any(|name| name == "grpc.health.v1.Health"), "health is listed: {listed:?}");
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reflection_lists_own_services() {
    on_every_backend(only_own_services).await;
}
