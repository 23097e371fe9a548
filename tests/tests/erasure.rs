//! Erasure of a lead's personal data across the three real services, checked by searching
//! every column of every table of every database, and the logs of a whole funnel checked for
//! e-mail addresses and names.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use leadflow_proto::activity::{
    EraseLeadRequest, EraseLeadResponse, Erasure, ErasureState, GetErasureRequest, GetLeadRequest, IdentifyVisitorRequest, LeadKey,
    MergeLeadsRequest, TrackActivityRequest, UpsertLeadRequest, lead_key,
};
use leadflow_proto::qualification::{
    AcceptLeadRequest, Bant, Budget, CloseLeadRequest, GetFunnelRequest, ListQueueRequest, RejectLeadRequest,
};
use leadflow_proto::types::{ActivityType, Outcome};
use leadflow_tests::{Suite, eventually, on_every_backend};
use sqlx::Connection;
use tonic::Code;

/// Personal data of one test lead, and the free texts sales wrote about it.
struct Person {
    email: &'static str,
    external_id: &'static str,
    name: &'static str,
    phone: &'static str,
    visitor_id: &'static str,
    note: &'static str,
}

impl Person {
    /// Every value that must be gone after the erasure.
    fn personal_values(&self) -> [&'static str; 6] {
        [self.email, self.external_id, self.name, self.phone, self.visitor_id, self.note]
    }
}

const CONTROL: Person = Person {
    email: "mihai.controlescu@example.org",
    external_id: "crm-mihai-1001",
    name: "Mihai Controlescu",
    phone: "+40 700 000 111",
    visitor_id: "cookie-mihai-0001",
    note: "Mihai Controlescu wants the pilot in January",
};

const REJECTED: Person = Person {
    email: "ioana.petrescu@example.ro",
    external_id: "crm-ioana-4711",
    name: "Ioana Petrescu",
    phone: "+40 721 555 014",
    visitor_id: "cookie-ioana-7777",
    note: "Ioana Petrescu asked to be called after March",
};

const ACCEPTED: Person = Person {
    email: "radu.ionescu@example.ro",
    external_id: "crm-radu-0815",
    name: "Radu Ionescu",
    phone: "+40 722 111 222",
    visitor_id: "cookie-radu-2222",
    note: "Radu Ionescu signed in person at the Cluj office",
};

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

fn by_email(email: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::Email(email.to_owned())) })
}

fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Creates the lead with its profile, a visitor id and three activities that make it an MQL
/// under the built-in model. Every call carries a request id, so its response is stored.
async fn create_mql(suite: &mut Suite, person: &Person) -> String {
    let upsert = UpsertLeadRequest {
        email: person.email.to_owned(),
        external_id: person.external_id.to_owned(),
        source: "google".to_owned(),
        campaign: "spring-webinar".to_owned(),
        attributes: [
            ("name".to_owned(), person.name.to_owned()),
            ("phone".to_owned(), person.phone.to_owned()),
            ("country".to_owned(), "RO".to_owned()),
        ]
        .into(),
        request_id: request_id(),
        ..UpsertLeadRequest::default()
    };
    let lead = suite.activity.upsert_lead(upsert).await.expect("lead stored").into_inner().lead.expect("lead");
    let lead_id = lead.lead_id;

    let identify = IdentifyVisitorRequest {
        visitor_id: person.visitor_id.to_owned(),
        email: person.email.to_owned(),
        request_id: request_id(),
    };
    let identified = suite.activity.identify_visitor(identify).await.expect("visitor identified").into_inner();
    assert_eq!(identified.lead.expect("lead").lead_id, lead_id);

    let activities = [
        (ActivityType::PageView, "url", format!("/pricing?contact={}", person.email)),
        (ActivityType::ContentDownload, "asset_id", "guide-lead-scoring".to_owned()),
        (ActivityType::DemoRequest, "comment", format!("{} would like a demo, call {}", person.name, person.phone)),
    ];
    for (index, (kind, property, value)) in activities.into_iter().enumerate() {
        let track = TrackActivityRequest {
            lead: by_id(&lead_id),
            r#type: kind as i32,
            properties: [(property.to_owned(), value)].into(),
            idempotency_key: format!("web:{}:{index}", person.email),
            request_id: request_id(),
            ..TrackActivityRequest::default()
        };
        suite.activity.track_activity(track).await.expect("activity tracked");
    }

    let qualification = suite.qualification.clone();
    eventually("the lead in the MQL queue", || {
        let mut client = qualification.clone();
        let lead_id = lead_id.clone();
        async move {
            let queue = client.list_queue(ListQueueRequest::default()).await.ok()?.into_inner();
            queue.qualifications.into_iter().any(|entry| entry.lead_id == lead_id).then_some(())
        }
    })
    .await;
    lead_id
}

fn bant_of(person: &Person) -> Bant {
    Bant {
        budget: Some(Budget { amount_minor: 1_500_000, currency: "EUR".to_owned(), confirmed: false }),
        authority_role: format!("CTO, {}", person.name),
        need: format!("{} needs inbound leads routed within a day", person.name),
        timeframe: "2027-Q1".to_owned(),
    }
}

async fn accept(suite: &mut Suite, lead_id: &str, person: &Person) {
    let request = AcceptLeadRequest {
        lead_id: lead_id.to_owned(),
        bant: Some(bant_of(person)),
        request_id: request_id(),
        ..AcceptLeadRequest::default()
    };
    suite.qualification.accept_lead(request).await.expect("lead accepted");
}

async fn erase(suite: &mut Suite, lead_id: &str) -> Erasure {
    let request = EraseLeadRequest { lead: by_id(lead_id), request_id: request_id() };
    suite.activity.erase_lead(request).await.expect("lead erased").into_inner().erasure.expect("erasure")
}

async fn wait_until_complete(suite: &Suite, erasure_id: &str) -> Erasure {
    let activity = suite.activity.clone();
    eventually("the confirmations of scoring and qualification", || {
        let mut client = activity.clone();
        let request = GetErasureRequest { erasure_id: erasure_id.to_owned(), ..GetErasureRequest::default() };
        async move {
            let erasure = client.get_erasure(request).await.ok()?.into_inner().erasure?;
            (erasure.state == ErasureState::Completed as i32).then_some(erasure)
        }
    })
    .await
}

/// Reads every stored value of every column of every table of a database as bytes, with its
/// `table.column`. Binary columns (protobuf outbox payloads, stored responses) are read raw,
/// where strings appear as UTF-8, and every other column is cast to text.
async fn stored_values(database_url: &str) -> Vec<(String, Vec<u8>)> {
    let mut values = Vec::new();

    if database_url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(database_url).await.expect("open SQLite database");
        let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut connection)
            .await
            .expect("list tables");
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut connection)
                .await
                .expect("list columns");
            for column in columns {
                let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                let rows: Vec<Option<Vec<u8>>> =
                    sqlx::query_scalar(&sql).fetch_all(&mut connection).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
                values.extend(rows.into_iter().flatten().map(|bytes| (format!("{table}.{column}"), bytes)));
            }
        }
    } else {
        let mut connection = sqlx::PgConnection::connect(database_url).await.expect("connect to PostgreSQL");
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&mut connection)
        .await
        .expect("list columns");
        for (table, column, data_type) in columns {
            let sql = if data_type == "bytea" {
                format!("SELECT \"{column}\" FROM \"{table}\"")
            } else {
                format!("SELECT convert_to(\"{column}\"::text, 'UTF8') FROM \"{table}\"")
            };
            let rows: Vec<Option<Vec<u8>>> =
                sqlx::query_scalar(&sql).fetch_all(&mut connection).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
            values.extend(rows.into_iter().flatten().map(|bytes| (format!("{table}.{column}"), bytes)));
        }
    }
    values
}

/// Returns the `table.column` places whose stored bytes contain `needle` as UTF-8.
fn places_of(values: &[(String, Vec<u8>)], needle: &str) -> BTreeSet<String> {
    let needle = needle.as_bytes();
    values
        .iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|window| window == needle))
        .map(|(place, _)| place.clone())
        .collect()
}

/// Returns every place in the three databases where one of `needles` is stored, as
/// `service: table.column contains needle`.
async fn find_everywhere(suite: &Suite, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (service, url) in ["activity", "scoring", "qualification"].iter().zip(&suite.database_urls) {
        let values = stored_values(url).await;
        for needle in needles {
            for place in places_of(&values, needle) {
                found.push(format!("{service}: {place} contains {needle:?}"));
            }
        }
    }
    found
}

async fn personal_data_is_gone_everywhere(mut suite: Suite) -> Suite {
    let control_id = create_mql(&mut suite, &CONTROL).await;
    accept(&mut suite, &control_id, &CONTROL).await;

    let rejected_id = create_mql(&mut suite, &REJECTED).await;
    let reject = RejectLeadRequest {
        lead_id: rejected_id.clone(),
        reason: "no_budget".to_owned(),
        note: REJECTED.note.to_owned(),
        request_id: request_id(),
        ..RejectLeadRequest::default()
    };
    suite.qualification.reject_lead(reject).await.expect("lead rejected");

    let accepted_id = create_mql(&mut suite, &ACCEPTED).await;
    accept(&mut suite, &accepted_id, &ACCEPTED).await;
    let close = CloseLeadRequest {
        lead_id: accepted_id.clone(),
        outcome: Outcome::Won as i32,
        value_minor: 1_200_000,
        currency: "EUR".to_owned(),
        reason: ACCEPTED.note.to_owned(),
        request_id: request_id(),
        ..CloseLeadRequest::default()
    };
    suite.qualification.close_lead(close).await.expect("lead closed");
    let funnel_before = suite.qualification.get_funnel(GetFunnelRequest::default()).await.expect("funnel").into_inner();

    // The search reads binary and JSON columns: before the erasure it finds the e-mail
    // address in a stored UpsertLead response and the name in the scoring and BANT copies.
    let activity_values = stored_values(&suite.database_urls[0]).await;
    assert!(places_of(&activity_values, REJECTED.email).contains("idempotency_key.response"));
    let scoring_values = stored_values(&suite.database_urls[1]).await;
    assert!(places_of(&scoring_values, REJECTED.name).contains("lead_score.attributes"));
    let qualification_values = stored_values(&suite.database_urls[2]).await;
    assert!(places_of(&qualification_values, ACCEPTED.name).contains("qualification.bant"));

    // With scoring stopped, new personal data of the accepted lead waits in the outbox.
    suite.stop_service(1).await;
    let update = UpsertLeadRequest {
        email: ACCEPTED.email.to_owned(),
        attributes: [("assistant".to_owned(), format!("{} (assistant)", ACCEPTED.name))].into(),
        ..UpsertLeadRequest::default()
    };
    suite.activity.upsert_lead(update).await.expect("profile updated");
    let track = TrackActivityRequest {
        lead: by_id(&accepted_id),
        r#type: ActivityType::PageView as i32,
        properties: [("url".to_owned(), format!("/thanks?email={}", ACCEPTED.email))].into(),
        ..TrackActivityRequest::default()
    };
    suite.activity.track_activity(track).await.expect("activity tracked");
    let pending = stored_values(&suite.database_urls[0]).await;
    assert!(places_of(&pending, ACCEPTED.name).contains("outbox.payload"));

    let rejected_erasure = erase(&mut suite, &rejected_id).await;
    let accepted_erasure = erase(&mut suite, &accepted_id).await;
    assert_eq!(accepted_erasure.state, ErasureState::Pending as i32);
    assert_eq!(accepted_erasure.scoring_erase_time, None);

    let activity_values = stored_values(&suite.database_urls[0]).await;
    for person in [&REJECTED, &ACCEPTED] {
        for needle in person.personal_values() {
            let places = places_of(&activity_values, needle);
            assert!(places.is_empty(), "activity still stores {needle:?} in {places:?} while scoring is stopped");
        }
    }

    suite.start_service(1).await;
    let rejected_erasure = wait_until_complete(&suite, &rejected_erasure.erasure_id).await;
    let accepted_erasure = wait_until_complete(&suite, &accepted_erasure.erasure_id).await;
    for erasure in [&rejected_erasure, &accepted_erasure] {
        assert!(erasure.scoring_erase_time.is_some());
        assert!(erasure.qualification_erase_time.is_some());
        assert!(erasure.complete_time.is_some());
    }

    let mut needles: Vec<&str> = REJECTED.personal_values().to_vec();
    needles.extend(ACCEPTED.personal_values());
    let found = find_everywhere(&suite, &needles).await;
    assert!(found.is_empty(), "erased personal data is still stored:\n{}", found.join("\n"));

    let activity_values = stored_values(&suite.database_urls[0]).await;
    assert!(places_of(&activity_values, CONTROL.email).contains("lead.email"));
    assert!(places_of(&activity_values, CONTROL.visitor_id).contains("visitor_alias.visitor_id"));
    let scoring_values = stored_values(&suite.database_urls[1]).await;
    assert!(places_of(&scoring_values, CONTROL.name).contains("lead_score.attributes"));
    let qualification_values = stored_values(&suite.database_urls[2]).await;
    assert!(places_of(&qualification_values, CONTROL.name).contains("qualification.bant"));

    let funnel_after = suite.qualification.get_funnel(GetFunnelRequest::default()).await.expect("funnel").into_inner();
    assert_eq!(funnel_after, funnel_before);

    let accept_erased = AcceptLeadRequest { lead_id: rejected_id.clone(), bant: Some(bant_of(&REJECTED)), ..AcceptLeadRequest::default() };
    let status = suite.qualification.accept_lead(accept_erased).await.expect_err("BANT for an erased lead");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(tonic_types::StatusExt::get_details_error_info(&status).expect("error info").reason, "LEAD_ERASED");

    let tombstone = suite
        .activity
        .get_lead(GetLeadRequest { lead: by_id(&accepted_id) })
        .await
        .expect("erased lead")
        .into_inner()
        .lead
        .expect("lead");
    assert_eq!(tombstone.email, "");
    assert_eq!(tombstone.external_id, "");
    assert!(tombstone.attributes.is_empty());
    assert_eq!(tombstone.source, "google");
    assert_eq!(tombstone.campaign, "spring-webinar");
    assert_eq!(tombstone.erase_time, accepted_erasure.activity_erase_time);
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_removes_personal_data_everywhere() {
    on_every_backend(personal_data_is_gone_everywhere).await;
}

async fn erasing_is_idempotent(mut suite: Suite) -> Suite {
    let upsert = UpsertLeadRequest { email: "elena.dumitru@example.ro".to_owned(), ..UpsertLeadRequest::default() };
    let lead = suite.activity.upsert_lead(upsert).await.expect("lead").into_inner().lead.expect("lead");

    let request = EraseLeadRequest { lead: by_email("elena.dumitru@example.ro"), request_id: request_id() };
    let first = suite.activity.erase_lead(request.clone()).await.expect("erased").into_inner();
    assert!(first.created);
    let erasure = first.erasure.expect("erasure");
    assert_eq!(erasure.lead_id, lead.lead_id);

    let replayed = suite.activity.erase_lead(request).await.expect("replayed").into_inner();
    assert_eq!(replayed, EraseLeadResponse { erasure: Some(erasure.clone()), created: true });

    let again = EraseLeadRequest { lead: by_id(&lead.lead_id), request_id: String::new() };
    let second = suite.activity.erase_lead(again).await.expect("erased again").into_inner();
    assert!(!second.created);
    assert_eq!(second.erasure.expect("erasure").erasure_id, erasure.erasure_id);

    let by_lead = GetErasureRequest { lead_id: lead.lead_id.clone(), ..GetErasureRequest::default() };
    let shown = suite.activity.get_erasure(by_lead).await.expect("erasure by lead").into_inner().erasure.expect("erasure");
    assert_eq!(shown.erasure_id, erasure.erasure_id);

    let unknown_lead = EraseLeadRequest { lead: by_id(&uuid::Uuid::now_v7().to_string()), request_id: String::new() };
    let status = suite.activity.erase_lead(unknown_lead).await.expect_err("unknown lead");
    assert_eq!(status.code(), Code::NotFound);

    let old_email = EraseLeadRequest { lead: by_email("elena.dumitru@example.ro"), request_id: String::new() };
    let status = suite.activity.erase_lead(old_email).await.expect_err("e-mail of an erased lead");
    assert_eq!(status.code(), Code::NotFound);

    let unknown_erasure = GetErasureRequest { erasure_id: uuid::Uuid::now_v7().to_string(), ..GetErasureRequest::default() };
    let status = suite.activity.get_erasure(unknown_erasure).await.expect_err("unknown erasure");
    assert_eq!(status.code(), Code::NotFound);

    let both = GetErasureRequest { erasure_id: erasure.erasure_id.clone(), lead_id: lead.lead_id.clone() };
    let status = suite.activity.get_erasure(both).await.expect_err("two ids");
    assert_eq!(status.code(), Code::InvalidArgument);
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_is_idempotent() {
    on_every_backend(erasing_is_idempotent).await;
}

async fn erased_lead_stays_erased(mut suite: Suite) -> Suite {
    let email = "andrei.popa@example.ro";
    let upsert = UpsertLeadRequest { email: email.to_owned(), ..UpsertLeadRequest::default() };
    let erased = suite.activity.upsert_lead(upsert).await.expect("lead").into_inner().lead.expect("lead");
    let other = UpsertLeadRequest { email: "maria.stan@example.ro".to_owned(), ..UpsertLeadRequest::default() };
    let other = suite.activity.upsert_lead(other).await.expect("lead").into_inner().lead.expect("lead");
    let erasure = erase(&mut suite, &erased.lead_id).await;
    wait_until_complete(&suite, &erasure.erasure_id).await;

    let into_erased = MergeLeadsRequest { survivor: by_id(&erased.lead_id), merged: by_id(&other.lead_id), ..MergeLeadsRequest::default() };
    let status = suite.activity.merge_leads(into_erased).await.expect_err("merge into an erased lead");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let from_erased = MergeLeadsRequest { survivor: by_id(&other.lead_id), merged: by_id(&erased.lead_id), ..MergeLeadsRequest::default() };
    let status = suite.activity.merge_leads(from_erased).await.expect_err("merge from an erased lead");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let track = TrackActivityRequest {
        lead: by_id(&erased.lead_id),
        r#type: ActivityType::PageView as i32,
        ..TrackActivityRequest::default()
    };
    let status = suite.activity.track_activity(track).await.expect_err("activity of an erased lead");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let details = tonic_types::StatusExt::get_details_error_info(&status).expect("error info");
    assert_eq!(details.reason, "LEAD_ERASED");

    let identify = IdentifyVisitorRequest { visitor_id: "cookie-andrei-9".to_owned(), email: email.to_owned(), request_id: String::new() };
    let identified = suite.activity.identify_visitor(identify).await.expect("identified").into_inner();
    let new_lead = identified.lead.expect("lead");
    assert_ne!(new_lead.lead_id, erased.lead_id);
    assert_eq!(new_lead.email, email);
    assert_eq!(new_lead.erase_time, None);

    let tombstone = suite.activity.get_lead(GetLeadRequest { lead: by_id(&erased.lead_id) }).await.expect("tombstone").into_inner();
    assert_eq!(tombstone.lead.expect("lead").email, "");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erased_lead_cannot_be_merged_or_revived() {
    on_every_backend(erased_lead_stays_erased).await;
}

/// Log output of every service running in this test process.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

/// A log sink that appends to a shared buffer.
#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const LOGGED: Person = Person {
    email: "cristina.vlad@example.ro",
    external_id: "crm-cristina-31",
    name: "Cristina Vlad",
    phone: "+40 733 444 555",
    visitor_id: "cookie-cristina-31",
    note: "Cristina Vlad prefers calls after 17:00",
};

async fn funnel_logs_carry_no_personal_data(mut suite: Suite) -> Suite {
    let logs = captured_logs();

    let lead_id = create_mql(&mut suite, &LOGGED).await;
    accept(&mut suite, &lead_id, &LOGGED).await;
    let close = CloseLeadRequest {
        lead_id: lead_id.clone(),
        outcome: Outcome::Won as i32,
        value_minor: 900_000,
        currency: "EUR".to_owned(),
        reason: LOGGED.note.to_owned(),
        ..CloseLeadRequest::default()
    };
    suite.qualification.close_lead(close).await.expect("lead closed");

    // Rejected calls name the person in their messages, which go to the caller only.
    let conflict = UpsertLeadRequest {
        email: LOGGED.email.to_owned(),
        external_id: "crm-someone-else".to_owned(),
        ..UpsertLeadRequest::default()
    };
    let status = suite.activity.upsert_lead(conflict).await.expect_err("key conflict");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let unknown = GetLeadRequest { lead: by_email("cristina.vlad.unknown@example.ro") };
    assert_eq!(suite.activity.get_lead(unknown).await.expect_err("unknown lead").code(), Code::NotFound);

    let erasure = erase(&mut suite, &lead_id).await;
    wait_until_complete(&suite, &erasure.erasure_id).await;

    let text = String::from_utf8_lossy(&logs.lock().expect("log buffer")).into_owned();
    assert!(text.contains(&lead_id), "the captured logs name the lead by id");
    for needle in LOGGED.personal_values().into_iter().chain(["cristina.vlad.unknown@example.ro", "Cristina"]) {
        let line = text.lines().find(|line| line.contains(needle));
        assert_eq!(line, None, "a log line carries {needle:?}");
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_carry_no_personal_data() {
    on_every_backend(funnel_logs_carry_no_personal_data).await;
}
