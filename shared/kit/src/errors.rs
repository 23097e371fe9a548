//! One error type for every handler, mapped in one place to `google.rpc.Status`.
//!
//! Each status carries an `ErrorInfo` (reason in UPPER_SNAKE_CASE, domain = service), a
//! `BadRequest` with one field violation per invalid field, a `LocalizedMessage` for people in
//! the caller's language (`accept-language`, English by default, or Romanian) and a
//! `RetryInfo` where a retry can help. The status message itself is English for developers.

use std::collections::HashMap;
use std::time::Duration;

use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Result of domain and store functions called by handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// Language of the people-facing parts of an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// English (en-US), the default.
    #[default]
    En,
    /// Romanian (ro-RO).
    Ro,
}

impl Lang {
    /// Every supported language.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ro];

    /// Returns the BCP 47 tag written into `LocalizedMessage.locale`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en-US",
            Lang::Ro => "ro-RO",
        }
    }

    /// Picks the language from an `accept-language` value such as `ro-RO,ro;q=0.9,en;q=0.8`:
    /// the supported language with the highest weight, English when none is supported.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;

        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = pieces
                .find_map(|piece| piece.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);

            let lang = match tag.split(['-', '_']).next() {
                Some("ro") => Lang::Ro,
                Some("en") => Lang::En,
                _ => continue,
            };
            if best.is_none_or(|(best_weight, _)| weight > best_weight) {
                best = Some((weight, lang));
            }
        }

        best.map(|(_, lang)| lang).unwrap_or_default()
    }

    /// Reads the caller's language from the `accept-language` request metadata.
    pub fn from_metadata(metadata: &MetadataMap) -> Lang {
        metadata
            .get("accept-language")
            .and_then(|value| value.to_str().ok())
            .map(Lang::from_accept_language)
            .unwrap_or_default()
    }

    /// Picks the language from a POSIX locale such as `ro_RO.UTF-8`; English otherwise.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("ro") {
            Lang::Ro
        } else {
            Lang::En
        }
    }
}

/// Machine-readable reason of an error, sent as `ErrorInfo.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// One or more request fields are invalid.
    InvalidArgument,
    /// No lead matches the given key.
    LeadNotFound,
    /// The lead has no score yet.
    ScoreNotFound,
    /// The scoring model does not exist.
    ModelNotFound,
    /// The lead never became an MQL, so it has no qualification.
    QualificationNotFound,
    /// The scoring model has no such version.
    ModelVersionNotFound,
    /// The model version is not a draft, so it cannot be published as one.
    VersionNotDraft,
    /// The stored model version does not pass validation.
    ModelInvalid,
    /// Too few leads with a known outcome to fit a model.
    NotEnoughOutcomes,
    /// No feature varies across the leads, so no model can be fitted.
    NoVaryingFeature,
    /// The lead's state does not allow the requested transition.
    InvalidState,
    /// The e-mail address and the external id do not belong to the same lead.
    LeadKeyConflict,
    /// A `request_id` was reused for a different request.
    RequestIdReused,
    /// The service has not finished starting.
    ServiceStarting,
    /// The service is draining before it stops.
    ShuttingDown,
    /// The service's database cannot be reached.
    DatabaseUnavailable,
    /// A concurrent request changed the same record; the request can be retried.
    ConcurrentUpdate,
    /// A fault inside the service.
    Internal,
    /// No sales rep has the given id.
    RepNotFound,
    /// A sales rep with the given id already exists.
    RepAlreadyExists,
    /// The sales rep has as many open leads as their capacity allows.
    RepAtCapacity,
    /// The sales rep is inactive and takes no leads.
    RepInactive,
    /// A merge names the same lead as survivor and as merged lead.
    MergeSameLead,
    /// A lead of a merge was already merged into another lead.
    LeadAlreadyMerged,
    /// The survivor of a merge was itself merged into the other lead, so the merge would loop.
    MergeLoop,
    /// A lead of a merge is erased.
    MergeErasedLead,
    /// The lead's personal data was erased, so it takes no new personal data or activities.
    LeadErased,
    /// No erasure matches the given id.
    ErasureNotFound,
    /// The call carries no bearer token, or the token is invalid or expired.
    Unauthenticated,
    /// The caller's roles do not allow the method.
    PermissionDenied,
    /// The caller sent more calls than its rate limit allows.
    RateLimited,
    /// The caller has as many calls in progress as its concurrency limit allows.
    TooManyConcurrentCalls,
    /// A request or response message is larger than the configured maximum.
    MessageTooLarge,
}

impl Reason {
    /// Every reason, for catalogue checks.
    pub const ALL: [Reason; 33] = [
        Reason::InvalidArgument,
        Reason::LeadNotFound,
        Reason::ScoreNotFound,
        Reason::ModelNotFound,
        Reason::QualificationNotFound,
        Reason::ModelVersionNotFound,
        Reason::VersionNotDraft,
        Reason::ModelInvalid,
        Reason::NotEnoughOutcomes,
        Reason::NoVaryingFeature,
        Reason::InvalidState,
        Reason::LeadKeyConflict,
        Reason::RequestIdReused,
        Reason::ServiceStarting,
        Reason::ShuttingDown,
        Reason::DatabaseUnavailable,
        Reason::ConcurrentUpdate,
        Reason::Internal,
        Reason::RepNotFound,
        Reason::RepAlreadyExists,
        Reason::RepAtCapacity,
        Reason::RepInactive,
        Reason::MergeSameLead,
        Reason::LeadAlreadyMerged,
        Reason::MergeLoop,
        Reason::MergeErasedLead,
        Reason::LeadErased,
        Reason::ErasureNotFound,
        Reason::Unauthenticated,
        Reason::PermissionDenied,
        Reason::RateLimited,
        Reason::TooManyConcurrentCalls,
        Reason::MessageTooLarge,
    ];

    /// Returns the UPPER_SNAKE_CASE name sent in `ErrorInfo.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidArgument => "INVALID_ARGUMENT",
            Reason::LeadNotFound => "LEAD_NOT_FOUND",
            Reason::ScoreNotFound => "SCORE_NOT_FOUND",
            Reason::ModelNotFound => "MODEL_NOT_FOUND",
            Reason::QualificationNotFound => "QUALIFICATION_NOT_FOUND",
            Reason::ModelVersionNotFound => "MODEL_VERSION_NOT_FOUND",
            Reason::VersionNotDraft => "VERSION_NOT_DRAFT",
            Reason::ModelInvalid => "MODEL_INVALID",
            Reason::NotEnoughOutcomes => "NOT_ENOUGH_OUTCOMES",
            Reason::NoVaryingFeature => "NO_VARYING_FEATURE",
            Reason::InvalidState => "INVALID_STATE",
            Reason::LeadKeyConflict => "LEAD_KEY_CONFLICT",
            Reason::RequestIdReused => "REQUEST_ID_REUSED",
            Reason::ServiceStarting => "SERVICE_STARTING",
            Reason::ShuttingDown => "SHUTTING_DOWN",
            Reason::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Reason::ConcurrentUpdate => "CONCURRENT_UPDATE",
            Reason::Internal => "INTERNAL",
            Reason::RepNotFound => "REP_NOT_FOUND",
            Reason::RepAlreadyExists => "REP_ALREADY_EXISTS",
            Reason::RepAtCapacity => "REP_AT_CAPACITY",
            Reason::RepInactive => "REP_INACTIVE",
            Reason::MergeSameLead => "MERGE_SAME_LEAD",
            Reason::LeadAlreadyMerged => "LEAD_ALREADY_MERGED",
            Reason::MergeLoop => "MERGE_LOOP",
            Reason::MergeErasedLead => "MERGE_ERASED_LEAD",
            Reason::LeadErased => "LEAD_ERASED",
            Reason::ErasureNotFound => "ERASURE_NOT_FOUND",
            Reason::Unauthenticated => "UNAUTHENTICATED",
            Reason::PermissionDenied => "PERMISSION_DENIED",
            Reason::RateLimited => "RATE_LIMITED",
            Reason::TooManyConcurrentCalls => "TOO_MANY_CONCURRENT_CALLS",
            Reason::MessageTooLarge => "MESSAGE_TOO_LARGE",
        }
    }

    /// Returns the people-facing text of the reason in `lang`, with `{name}` placeholders that
    /// [`ApiError::localized_message`] fills from the error's arguments.
    pub fn template(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Reason::InvalidArgument, Lang::En) => "The request has invalid fields: {fields}.",
            (Reason::InvalidArgument, Lang::Ro) => "Cererea are câmpuri nevalide: {fields}.",
            (Reason::LeadNotFound, Lang::En) => "No lead matches {key}.",
            (Reason::LeadNotFound, Lang::Ro) => "Niciun lead nu corespunde cheii {key}.",
            (Reason::ScoreNotFound, Lang::En) => "Lead {lead_id} has no score yet.",
            (Reason::ScoreNotFound, Lang::Ro) => "Lead-ul {lead_id} nu are încă un scor.",
            (Reason::ModelNotFound, Lang::En) => "Scoring model {model_id} does not exist.",
            (Reason::ModelNotFound, Lang::Ro) => "Modelul de scoring {model_id} nu există.",
            (Reason::QualificationNotFound, Lang::En) => {
                "Lead {lead_id} is not in the sales queue because it has not become an MQL."
            }
            (Reason::QualificationNotFound, Lang::Ro) => {
                "Lead-ul {lead_id} nu este în coada de vânzări, deoarece nu a devenit MQL."
            }
            (Reason::ModelVersionNotFound, Lang::En) => "Scoring model {model_id} has no version {version}.",
            (Reason::ModelVersionNotFound, Lang::Ro) => "Modelul de scoring {model_id} nu are versiunea {version}.",
            (Reason::VersionNotDraft, Lang::En) => {
                "Version {version} of scoring model {model_id} is {state}, not a draft."
            }
            (Reason::VersionNotDraft, Lang::Ro) => {
                "Versiunea {version} a modelului de scoring {model_id} este {state}, nu o ciornă."
            }
            (Reason::ModelInvalid, Lang::En) => {
                "Version {version} of scoring model {model_id} is not valid: {fields}. The active version stays active."
            }
            (Reason::ModelInvalid, Lang::Ro) => {
                "Versiunea {version} a modelului de scoring {model_id} nu este validă: {fields}. Versiunea activă rămâne activă."
            }
            (Reason::NotEnoughOutcomes, Lang::En) => {
                "Fitting needs at least {needed} won and {needed} lost leads on the training side; it has {won} won and {lost} lost."
            }
            (Reason::NotEnoughOutcomes, Lang::Ro) => {
                "Ajustarea are nevoie de cel puțin {needed} lead-uri câștigate și {needed} pierdute în partea de antrenare; are {won} câștigate și {lost} pierdute."
            }
            (Reason::NoVaryingFeature, Lang::En) => {
                "No feature varies across the {leads} training leads, so no model can be fitted."
            }
            (Reason::NoVaryingFeature, Lang::Ro) => {
                "Nicio caracteristică nu variază între cele {leads} lead-uri de antrenare, așa că nu se poate ajusta niciun model."
            }
            (Reason::InvalidState, Lang::En) => {
                "Lead {lead_id} is in state {state}, but this action needs one of the states: {expected}."
            }
            (Reason::InvalidState, Lang::Ro) => {
                "Lead-ul {lead_id} este în starea {state}, dar această acțiune cere una dintre stările: {expected}."
            }
            (Reason::LeadKeyConflict, Lang::En) => {
                "The e-mail address and the external id do not belong to the same lead, so nothing was changed."
            }
            (Reason::LeadKeyConflict, Lang::Ro) => {
                "Adresa de e-mail și id-ul extern nu aparțin aceluiași lead, așa că nu s-a schimbat nimic."
            }
            (Reason::RequestIdReused, Lang::En) => {
                "Request id {request_id} was already used for a different request."
            }
            (Reason::RequestIdReused, Lang::Ro) => {
                "Id-ul de cerere {request_id} a fost folosit deja pentru o altă cerere."
            }
            (Reason::ServiceStarting, Lang::En) => "The service is starting. Retry in a moment.",
            (Reason::ServiceStarting, Lang::Ro) => {
                "Serviciul pornește. Reîncercați peste câteva momente."
            }
            (Reason::ShuttingDown, Lang::En) => {
                "The service is shutting down. Retry, and another instance will answer."
            }
            (Reason::ShuttingDown, Lang::Ro) => {
                "Serviciul se oprește. Reîncercați, iar o altă instanță va răspunde."
            }
            (Reason::DatabaseUnavailable, Lang::En) => {
                "The database is unavailable. Retry in a few seconds."
            }
            (Reason::DatabaseUnavailable, Lang::Ro) => {
                "Baza de date nu este disponibilă. Reîncercați peste câteva secunde."
            }
            (Reason::ConcurrentUpdate, Lang::En) => {
                "Another request changed the same record at the same time. Retry the request."
            }
            (Reason::ConcurrentUpdate, Lang::Ro) => {
                "O altă cerere a modificat aceeași înregistrare în același timp. Reîncercați cererea."
            }
            (Reason::Internal, Lang::En) => {
                "An internal error occurred and was logged with id {error_id}."
            }
            (Reason::Internal, Lang::Ro) => {
                "A apărut o eroare internă, înregistrată cu id-ul {error_id}."
            }
            (Reason::RepNotFound, Lang::En) => "No sales rep has the id {rep_id}.",
            (Reason::RepNotFound, Lang::Ro) => "Niciun agent de vânzări nu are id-ul {rep_id}.",
            (Reason::RepAlreadyExists, Lang::En) => "A sales rep with the id {rep_id} already exists.",
            (Reason::RepAlreadyExists, Lang::Ro) => "Există deja un agent de vânzări cu id-ul {rep_id}.",
            (Reason::RepAtCapacity, Lang::En) => {
                "Sales rep {rep_id} has no free capacity (capacity: {capacity} open leads)."
            }
            (Reason::RepAtCapacity, Lang::Ro) => {
                "Agentul de vânzări {rep_id} nu mai are capacitate liberă (capacitate: {capacity} lead-uri deschise)."
            }
            (Reason::RepInactive, Lang::En) => "Sales rep {rep_id} is inactive and takes no leads.",
            (Reason::RepInactive, Lang::Ro) => "Agentul de vânzări {rep_id} este inactiv și nu primește lead-uri.",
            (Reason::MergeSameLead, Lang::En) => "Lead {lead_id} cannot be merged into itself; nothing was changed.",
            (Reason::MergeSameLead, Lang::Ro) => {
                "Lead-ul {lead_id} nu poate fi unit cu el însuși; nu s-a schimbat nimic."
            }
            (Reason::LeadAlreadyMerged, Lang::En) => {
                "Lead {lead_id} was already merged into lead {survivor_id}; merge into lead {survivor_id} instead. Nothing was changed."
            }
            (Reason::LeadAlreadyMerged, Lang::Ro) => {
                "Lead-ul {lead_id} a fost deja unit cu lead-ul {survivor_id}; folosiți lead-ul {survivor_id}. Nu s-a schimbat nimic."
            }
            (Reason::MergeLoop, Lang::En) => {
                "Lead {survivor_id} was merged into lead {merged_id} before, so merging {merged_id} into it would create a loop; nothing was changed."
            }
            (Reason::MergeLoop, Lang::Ro) => {
                "Lead-ul {survivor_id} a fost unit anterior cu lead-ul {merged_id}, așa că unirea lui {merged_id} cu el ar crea o buclă; nu s-a schimbat nimic."
            }
            (Reason::MergeErasedLead, Lang::En) => {
                "Lead {lead_id} is erased, so it cannot take part in a merge; nothing was changed."
            }
            (Reason::MergeErasedLead, Lang::Ro) => {
                "Lead-ul {lead_id} este șters, așa că nu poate participa la o unire; nu s-a schimbat nimic."
            }
            (Reason::LeadErased, Lang::En) => {
                "The personal data of lead {lead_id} was erased, so the lead takes no new personal data or activities."
            }
            (Reason::LeadErased, Lang::Ro) => {
                "Datele personale ale lead-ului {lead_id} au fost șterse, așa că lead-ul nu mai primește date personale sau activități noi."
            }
            (Reason::ErasureNotFound, Lang::En) => "No erasure matches {key}.",
            (Reason::ErasureNotFound, Lang::Ro) => "Nicio ștergere nu corespunde cheii {key}.",
            (Reason::Unauthenticated, Lang::En) => {
                "This call needs a valid bearer token in the authorization metadata. Sign in again or ask an administrator for a token."
            }
            (Reason::Unauthenticated, Lang::Ro) => {
                "Acest apel necesită un token bearer valid în metadatele authorization. Autentificați-vă din nou sau cereți un token unui administrator."
            }
            (Reason::PermissionDenied, Lang::En) => {
                "Your roles ({roles}) do not allow {method}. It needs one of the roles: {allowed}."
            }
            (Reason::PermissionDenied, Lang::Ro) => {
                "Rolurile dumneavoastră ({roles}) nu permit {method}. Este nevoie de unul dintre rolurile: {allowed}."
            }
            (Reason::RateLimited, Lang::En) => {
                "Too many calls: the limit is {rate} calls per second. Retry in {retry_ms} ms."
            }
            (Reason::RateLimited, Lang::Ro) => {
                "Prea multe apeluri: limita este de {rate} apeluri pe secundă. Reîncercați peste {retry_ms} ms."
            }
            (Reason::TooManyConcurrentCalls, Lang::En) => {
                "Too many of your calls are in progress at once (limit: {limit}). Retry in {retry_ms} ms."
            }
            (Reason::TooManyConcurrentCalls, Lang::Ro) => {
                "Prea multe dintre apelurile dumneavoastră sunt în curs în același timp (limita: {limit}). Reîncercați peste {retry_ms} ms."
            }
            (Reason::MessageTooLarge, Lang::En) => "The message is larger than the limit of {limit} bytes.",
            (Reason::MessageTooLarge, Lang::Ro) => "Mesajul depășește limita de {limit} octeți.",
        }
    }
}

/// One invalid request field, sent as a `BadRequest.FieldViolation`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, for example `bant.budget`.
    pub field: String,
    /// Explanation of the problem and of the expected value, naming the value received.
    pub description: String,
}

impl FieldViolation {
    /// Creates a violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// An error a handler returns to its caller.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    reason: Reason,
    message: String,
    args: Vec<(&'static str, String)>,
    violations: Vec<FieldViolation>,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(code: Code, reason: Reason, message: String) -> Self {
        Self { code, reason, message, args: Vec::new(), violations: Vec::new(), retry_after: None }
    }

    /// Adds an argument for the localized message template.
    pub fn with_arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// INVALID_ARGUMENT with one field violation per invalid field.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        let fields = fields.join(", ");
        let details: Vec<String> =
            violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect();
        let message = format!("invalid request: {}", details.join("; "));

        let mut error = Self::new(Code::InvalidArgument, Reason::InvalidArgument, message);
        error.violations = violations;
        error.with_arg("fields", fields)
    }

    /// INVALID_ARGUMENT for one field.
    pub fn invalid_field(field: &str, description: String) -> Self {
        Self::invalid(vec![FieldViolation::new(field, description)])
    }

    /// NOT_FOUND with a reason and an English message that names the missing value.
    pub fn not_found(reason: Reason, message: String) -> Self {
        Self::new(Code::NotFound, reason, message)
    }

    /// FAILED_PRECONDITION: the request is valid but the stored state does not allow it.
    pub fn failed_precondition(reason: Reason, message: String) -> Self {
        Self::new(Code::FailedPrecondition, reason, message)
    }

    /// ALREADY_EXISTS: a record with the same key exists.
    pub fn already_exists(reason: Reason, message: String) -> Self {
        Self::new(Code::AlreadyExists, reason, message)
    }

    /// Attaches field violations, for example to a FAILED_PRECONDITION about stored data.
    pub fn with_violations(mut self, violations: Vec<FieldViolation>) -> Self {
        let fields: Vec<String> = violations.iter().map(|v| v.field.clone()).collect();
        self.violations = violations;
        self.with_arg("fields", fields.join(", "))
    }

    /// FAILED_PRECONDITION for a state transition that the lead's state does not allow.
    pub fn invalid_state(lead_id: &str, state: &str, expected: &str) -> Self {
        let message = format!("lead {lead_id} is in state {state}; this action needs one of the states {expected}");
        Self::failed_precondition(Reason::InvalidState, message)
            .with_arg("lead_id", lead_id)
            .with_arg("state", state)
            .with_arg("expected", expected)
    }

    /// INVALID_ARGUMENT for a `request_id` reused with a different request.
    pub fn request_id_reused(request_id: &str) -> Self {
        let message = format!(
            "request_id {request_id} was already used for a different request; use a new request_id for a new request"
        );
        let mut error = Self::new(Code::InvalidArgument, Reason::RequestIdReused, message);
        error.violations.push(FieldViolation::new(
            "request_id",
            format!("{request_id} was already used for a different request"),
        ));
        error.with_arg("request_id", request_id)
    }

    /// UNAVAILABLE with a retry delay.
    pub fn unavailable(reason: Reason, message: String, retry_after: Duration) -> Self {
        let mut error = Self::new(Code::Unavailable, reason, message);
        error.retry_after = Some(retry_after);
        error
    }

    /// ABORTED: a concurrent request changed the same record, so this one can be retried.
    pub fn concurrent_update(what: &str) -> Self {
        let mut error = Self::new(
            Code::Aborted,
            Reason::ConcurrentUpdate,
            format!("concurrent update of {what}; retry the request"),
        );
        error.retry_after = Some(Duration::from_millis(50));
        error
    }

    /// INTERNAL for a fault inside the service. The cause is logged here with an error id
    /// that the caller also receives; the cause itself is not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let error_id = uuid::Uuid::now_v7().to_string();
        crate::telemetry::logs::log_internal_error(&error_id, &cause);
        Self::new(Code::Internal, Reason::Internal, format!("internal error {error_id}"))
            .with_arg("error_id", error_id)
    }

    /// UNAUTHENTICATED: the call has no valid bearer token. `message` says what was wrong
    /// with the token without repeating it.
    pub fn unauthenticated(message: String) -> Self {
        Self::new(Code::Unauthenticated, Reason::Unauthenticated, message)
    }

    /// PERMISSION_DENIED: the caller's roles do not include one that `method` allows.
    pub fn permission_denied(method: &str, roles: &str, allowed: &str) -> Self {
        let message = format!("the caller's roles ({roles}) do not allow {method}; it needs one of: {allowed}");
        Self::new(Code::PermissionDenied, Reason::PermissionDenied, message)
            .with_arg("method", method)
            .with_arg("roles", roles)
            .with_arg("allowed", allowed)
    }

    /// RESOURCE_EXHAUSTED with a `RetryInfo` when `retry_after` is set.
    pub fn resource_exhausted(reason: Reason, message: String, retry_after: Option<Duration>) -> Self {
        let mut error = Self::new(Code::ResourceExhausted, reason, message);
        error.retry_after = retry_after;
        error
    }

    /// Returns the gRPC code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// Returns the reason.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// Returns the English developer message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns the field violations.
    pub fn violations(&self) -> &[FieldViolation] {
        &self.violations
    }

    /// Renders the people-facing message in `lang`.
    pub fn localized_message(&self, lang: Lang) -> String {
        let mut text = self.reason.template(lang).to_owned();
        for (name, value) in &self.args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// Converts the error to a status with rich details. `domain` names the service, for
    /// example `activity.leadflow`; `rpc` names the method for the log line.
    pub fn into_status(self, domain: &str, rpc: &str, lang: Lang) -> Status {
        log_error(&self, rpc);

        let metadata: HashMap<String, String> =
            self.args.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();

        let mut details = ErrorDetails::with_error_info(self.reason.as_str(), domain, metadata);
        details.set_localized_message(lang.tag(), self.localized_message(lang));
        if !self.violations.is_empty() {
            let violations = self
                .violations
                .iter()
                .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
                .collect::<Vec<_>>();
            details.set_bad_request(violations);
        }
        if let Some(delay) = self.retry_after {
            details.set_retry_info(Some(delay));
        }

        Status::with_error_details(self.code, self.message, details)
    }
}

/// Logs a handled error once, at a level chosen by its status class (see
/// [`crate::telemetry::logs::error_level`]). An INTERNAL error was logged with its cause when
/// it was created, so it is not logged again.
fn log_error(error: &ApiError, rpc: &str) {
    if error.code == Code::Internal && error.reason == Reason::Internal {
        return;
    }
    let lead_id = error.args.iter().find(|(name, _)| *name == "lead_id").map(|(_, value)| value.as_str());
    crate::telemetry::logs::log_call_error(rpc, error.code, error.reason.as_str(), lead_id);
}

/// Request context that every handler reads: error domain, method, language, trace.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// Error domain of the service.
    pub domain: &'static str,
    /// Method name, for logs.
    pub rpc: &'static str,
    /// Language of the people-facing error text.
    pub lang: Lang,
    /// W3C `traceparent` of the call, empty when absent.
    pub traceparent: String,
}

impl CallContext {
    /// Reads the context of a request.
    pub fn new<T>(domain: &'static str, rpc: &'static str, request: &tonic::Request<T>) -> Self {
        let metadata = request.metadata();
        let traceparent = metadata
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .filter(|value| value.len() <= 128)
            .unwrap_or_default()
            .to_owned();
        Self { domain, rpc, lang: Lang::from_metadata(metadata), traceparent }
    }

    /// Converts an error to the status returned to the caller.
    pub fn status(&self, error: ApiError) -> Status {
        error.into_status(self.domain, self.rpc, self.lang)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::db::is_connection_error(&error) {
            tracing::warn!(error = %error, "database unreachable");
            return ApiError::unavailable(
                Reason::DatabaseUnavailable,
                "database unavailable; retry with backoff".to_owned(),
                Duration::from_secs(2),
            );
        }
        if matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
            return ApiError::concurrent_update("a record with the same key");
        }
        ApiError::internal(format!("database error: {error}"))
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(error: sea_orm::TransactionError<ApiError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(template: &str) -> Vec<String> {
        let mut names: Vec<String> = template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_reason_has_both_translations() {
        for reason in Reason::ALL {
            let english = reason.template(Lang::En);
            let romanian = reason.template(Lang::Ro);
            assert!(!english.is_empty(), "{reason:?} has no English text");
            assert!(!romanian.is_empty(), "{reason:?} has no Romanian text");
            assert_ne!(english, romanian, "{reason:?} is not translated");
            assert_eq!(placeholders(english), placeholders(romanian), "{reason:?} placeholders differ");
        }
    }

    #[test]
    fn romanian_uses_comma_below() {
        for reason in Reason::ALL {
            let text = reason.template(Lang::Ro);
            assert!(!text.contains('ş'), "{reason:?} uses s with cedilla");
            assert!(!text.contains('ţ'), "{reason:?} uses t with cedilla");
        }
    }

    #[test]
    fn accept_language_picks_highest_weight() {
        assert_eq!(Lang::from_accept_language("ro-RO,ro;q=0.9,en;q=0.8"), Lang::Ro);
        assert_eq!(Lang::from_accept_language("en;q=0.5, ro;q=0.7"), Lang::Ro);
        assert_eq!(Lang::from_accept_language("de-DE"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn invalid_status_carries_details() {
        let error = ApiError::invalid(vec![
            FieldViolation::new("bant.budget", "missing"),
            FieldViolation::new("bant.timeframe", "missing"),
        ]);
        let status = error.into_status("qualification.leadflow", "AcceptLead", Lang::Ro);
        assert_eq!(status.code(), Code::InvalidArgument);

        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("bad request");
        assert_eq!(bad_request.field_violations.len(), 2);
        let localized = details.localized_message().expect("localized message");
        assert_eq!(localized.locale, "ro-RO");
        assert!(localized.message.contains("bant.budget"));
        assert_eq!(details.error_info().unwrap().reason, "INVALID_ARGUMENT");
    }
}
