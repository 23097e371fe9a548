//! Rules of the qualification service that need no I/O: state names and transitions, BANT
//! checks, rejection reasons, closes and the funnel period.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use leadflow_kit::errors::FieldViolation;
use leadflow_proto::qualification::Bant;
use leadflow_proto::types::{Outcome, QualificationState};
use uuid::Uuid;

/// Reason codes that `RejectLead` accepts until the settings name others.
pub const REJECTION_REASONS: [&str; 8] = [
    "no_budget",
    "no_authority",
    "no_need",
    "bad_timing",
    "unreachable",
    "duplicate",
    "competitor",
    "not_a_fit",
];
/// Maximum length of a rejection note, in characters.
pub const MAX_NOTE_LEN: usize = 2000;
/// Maximum length of a BANT need, in characters.
pub const MAX_NEED_LEN: usize = 2000;
/// Maximum length of an actor name, in characters.
pub const MAX_ACTOR_LEN: usize = 128;
/// Actor recorded for changes that events and jobs make.
pub const SYSTEM_ACTOR: &str = "system";
/// Actor recorded when a request names none.
pub const UNKNOWN_ACTOR: &str = "unknown";
/// Maximum length of a BANT authority role or a close reason, in characters.
pub const MAX_TEXT_LEN: usize = 256;
/// Time zone of the funnel report when the request names none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";
/// States that `ListQueue` lists when the request names none.
pub const DEFAULT_QUEUE_STATES: [QualificationState; 2] = [QualificationState::New, QualificationState::Working];

/// Expected states named in FAILED_PRECONDITION errors, as a list of state names so the
/// localized messages need no English conjunction.
pub const EXPECTED_OPEN: &str = "NEW, WORKING";
/// Expected state of `CloseLead`.
pub const EXPECTED_SQL: &str = "SQL";
/// Expected states of `RecycleLead`.
pub const EXPECTED_RECYCLABLE: &str = "NEW, WORKING, SQL";

/// Returns the stored name of a state, for example `NEW`, or `UNSPECIFIED` for the unspecified state.
pub fn state_name(state: QualificationState) -> &'static str {
    state.as_str_name().strip_prefix("QUALIFICATION_STATE_").unwrap_or("UNSPECIFIED")
}

/// Parses a stored state name back to the enum. Unknown names read as unspecified.
pub fn state_from_name(name: &str) -> QualificationState {
    QualificationState::from_str_name(&format!("QUALIFICATION_STATE_{name}")).unwrap_or(QualificationState::Unspecified)
}

/// Parses a lead id. An empty value or one that is not a UUID adds a violation under
/// `lead_id` and returns `None`.
pub fn parse_lead_id(raw: &str, violations: &mut Vec<FieldViolation>) -> Option<Uuid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        violations.push(FieldViolation::new("lead_id", "missing; expected the UUID of a lead"));
        return None;
    }
    match Uuid::parse_str(trimmed) {
        Ok(id) => Some(id),
        Err(_) => {
            violations.push(FieldViolation::new("lead_id", format!("{raw:?} is not a UUID; expected the UUID of a lead")));
            None
        }
    }
}

/// Validates the actor of a request and returns it trimmed, or "unknown" when empty.
pub fn parse_actor(raw: &str, violations: &mut Vec<FieldViolation>) -> String {
    let actor = raw.trim();
    if actor.chars().count() > MAX_ACTOR_LEN {
        violations.push(FieldViolation::new(
            "actor",
            format!("has {} characters; expected at most {MAX_ACTOR_LEN}", actor.chars().count()),
        ));
    }
    if actor.is_empty() { UNKNOWN_ACTOR.to_owned() } else { actor.to_owned() }
}

/// A sales action on a qualification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `StartWork`: the first touch of an MQL.
    StartWork,
    /// `AcceptLead`: BANT checked, the lead becomes an SQL.
    Accept,
    /// `RejectLead`: the lead goes back to nurturing.
    Reject,
    /// `RecycleLead`: an explicit recycle, the only way back from SQL.
    Recycle,
    /// `CloseLead` as won.
    CloseWon,
    /// `CloseLead` as lost.
    CloseLost,
}

/// Effect of an action that the current state allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The lead moves to this state.
    Move(QualificationState),
    /// The lead already is where the action leads, so nothing changes.
    Stay,
}

/// Returns what `action` does to a lead in `current`, or the expected states for the
/// FAILED_PRECONDITION error when `current` does not allow it.
pub fn next_state(current: QualificationState, action: Action) -> Result<Step, &'static str> {
    use QualificationState::{Lost, New, Recycled, Sql, Won, Working};

    match (action, current) {
        (Action::StartWork, New) => Ok(Step::Move(Working)),
        (Action::StartWork, Working) => Ok(Step::Stay),
        (Action::Accept, New | Working) => Ok(Step::Move(Sql)),
        (Action::Reject, New | Working) => Ok(Step::Move(Recycled)),
        (Action::Recycle, New | Working | Sql) => Ok(Step::Move(Recycled)),
        (Action::CloseWon, Sql) => Ok(Step::Move(Won)),
        (Action::CloseLost, Sql) => Ok(Step::Move(Lost)),
        (Action::StartWork | Action::Accept | Action::Reject, _) => Err(EXPECTED_OPEN),
        (Action::CloseWon | Action::CloseLost, _) => Err(EXPECTED_SQL),
        (Action::Recycle, _) => Err(EXPECTED_RECYCLABLE),
    }
}

/// Effect of a `LeadBecameMql` event on a lead's qualification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MqlArrival {
    /// The lead enters the queue as NEW, coming from this state (UNSPECIFIED for a first entry).
    Enter(QualificationState),
    /// The lead is already in the sales process, so the event changes nothing.
    Ignore,
}

/// Decides the effect of a `LeadBecameMql` event on a lead whose current state is `current`
/// (`None` when it has no qualification). Only a new or a recycled lead re-enters the queue.
pub fn on_mql(current: Option<QualificationState>) -> MqlArrival {
    match current {
        None => MqlArrival::Enter(QualificationState::Unspecified),
        Some(QualificationState::Recycled) => MqlArrival::Enter(QualificationState::Recycled),
        Some(_) => MqlArrival::Ignore,
    }
}

/// A buying timeframe from BANT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeframe {
    /// A calendar date, `YYYY-MM-DD`.
    Date(NaiveDate),
    /// A calendar quarter, `YYYY-Qn`.
    Quarter {
        /// Four-digit year.
        year: i32,
        /// Quarter from 1 to 4.
        quarter: u32,
    },
}

/// Parses a timeframe: a valid date `YYYY-MM-DD` or a quarter `YYYY-Qn` with n from 1 to 4.
pub fn parse_timeframe(raw: &str) -> Option<Timeframe> {
    let bytes = raw.as_bytes();
    let all_digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);

    match bytes.len() {
        10 if bytes[4] == b'-' && bytes[7] == b'-' && all_digits(0..4) && all_digits(5..7) && all_digits(8..10) => {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().map(Timeframe::Date)
        }
        7 if bytes[4] == b'-' && bytes[5] == b'Q' && all_digits(0..4) && (b'1'..=b'4').contains(&bytes[6]) => {
            let year = raw[..4].parse().ok()?;
            let quarter = u32::from(bytes[6] - b'0');
            Some(Timeframe::Quarter { year, quarter })
        }
        _ => None,
    }
}

/// Returns true for an ISO 4217-shaped currency code: three ASCII upper-case letters.
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase())
}

fn check_currency(code: &str, required: bool, field: &str, violations: &mut Vec<FieldViolation>) {
    if code.is_empty() {
        if required {
            violations.push(FieldViolation::new(
                field,
                "missing; an amount above 0 needs its ISO 4217 currency code, for example EUR or RON",
            ));
        }
    } else if !is_currency_code(code) {
        violations.push(FieldViolation::new(
            field,
            format!("{code:?} is not an ISO 4217 currency code; expected three upper-case letters, for example EUR or RON"),
        ));
    }
}

/// A BANT check that passed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidBant {
    /// Budget amount in minor currency units, 0 when the lead confirmed a budget without one.
    pub amount_minor: i64,
    /// Currency of the amount, empty when there is no amount and none was given.
    pub currency: String,
    /// True when the lead confirmed a budget.
    pub confirmed: bool,
    /// Role of the person who decides, trimmed.
    pub authority_role: String,
    /// The problem the lead needs solved, trimmed.
    pub need: String,
    /// Buying timeframe, `YYYY-MM-DD` or `YYYY-Qn`.
    pub timeframe: String,
}

/// Validates a BANT check and records one violation per missing or invalid part. A missing
/// message lacks all four parts.
pub fn validate_bant(bant: Option<&Bant>, violations: &mut Vec<FieldViolation>) -> Option<ValidBant> {
    let empty = Bant::default();
    let bant = bant.unwrap_or(&empty);
    let before = violations.len();

    let (amount_minor, currency, confirmed) = match &bant.budget {
        None => {
            violations.push(FieldViolation::new(
                "bant.budget",
                "missing; expected an amount_minor with its currency, or confirmed = true when the lead confirmed a budget without an amount",
            ));
            (0, String::new(), false)
        }
        Some(budget) => {
            let currency = budget.currency.trim().to_owned();
            if budget.amount_minor == 0 && !budget.confirmed {
                violations.push(FieldViolation::new(
                    "bant.budget",
                    "has amount_minor 0 and confirmed = false, so no budget is known; expected an amount above 0 or confirmed = true",
                ));
            }
            if budget.amount_minor < 0 {
                violations.push(FieldViolation::new(
                    "bant.budget.amount_minor",
                    format!("{} is negative; expected an amount of 0 or more in minor currency units", budget.amount_minor),
                ));
            }
            check_currency(&currency, budget.amount_minor > 0, "bant.budget.currency", violations);
            (budget.amount_minor, currency, budget.confirmed || budget.amount_minor > 0)
        }
    };

    let authority_role = bant.authority_role.trim();
    if authority_role.is_empty() {
        violations.push(FieldViolation::new(
            "bant.authority_role",
            format!("{:?} is empty; expected the role of the person who decides, for example \"CTO\"", bant.authority_role),
        ));
    } else if authority_role.chars().count() > MAX_TEXT_LEN {
        violations.push(FieldViolation::new(
            "bant.authority_role",
            format!("has {} characters; expected at most {MAX_TEXT_LEN}", authority_role.chars().count()),
        ));
    }

    let need = bant.need.trim();
    if need.is_empty() {
        violations.push(FieldViolation::new(
            "bant.need",
            format!("{:?} is empty; expected the problem the lead needs solved", bant.need),
        ));
    } else if need.chars().count() > MAX_NEED_LEN {
        violations.push(FieldViolation::new(
            "bant.need",
            format!("has {} characters; expected at most {MAX_NEED_LEN}", need.chars().count()),
        ));
    }

    let timeframe = bant.timeframe.trim();
    if timeframe.is_empty() {
        violations.push(FieldViolation::new(
            "bant.timeframe",
            format!("{:?} is empty; expected a date \"YYYY-MM-DD\" or a quarter \"YYYY-Qn\" with n from 1 to 4", bant.timeframe),
        ));
    } else if parse_timeframe(timeframe).is_none() {
        violations.push(FieldViolation::new(
            "bant.timeframe",
            format!("{timeframe:?} is not a valid date \"YYYY-MM-DD\" or quarter \"YYYY-Qn\" with n from 1 to 4"),
        ));
    }

    (violations.len() == before).then(|| ValidBant {
        amount_minor,
        currency,
        confirmed,
        authority_role: authority_role.to_owned(),
        need: need.to_owned(),
        timeframe: timeframe.to_owned(),
    })
}

/// Returns the parts of a BANT check trimmed, complete or not; a missing part is empty.
pub fn bant_parts(bant: &Bant) -> ValidBant {
    let budget = bant.budget.clone().unwrap_or_default();
    ValidBant {
        amount_minor: budget.amount_minor,
        currency: budget.currency.trim().to_owned(),
        confirmed: budget.confirmed || budget.amount_minor > 0,
        authority_role: bant.authority_role.trim().to_owned(),
        need: bant.need.trim().to_owned(),
        timeframe: bant.timeframe.trim().to_owned(),
    }
}

/// Validates a rejection reason against the configured `reasons` and a note, and returns both
/// trimmed.
pub fn validate_rejection(
    reason: &str,
    note: &str,
    reasons: &[String],
    violations: &mut Vec<FieldViolation>,
) -> (String, String) {
    let reason = reason.trim();
    if !reasons.iter().any(|known| known == reason) {
        violations.push(FieldViolation::new(
            "reason",
            format!("{reason:?} is not a rejection reason; expected one of {}", reasons.join(", ")),
        ));
    }

    let note = note.trim();
    let length = note.chars().count();
    if length > MAX_NOTE_LEN {
        violations.push(FieldViolation::new(
            "note",
            format!("has {length} characters; expected at most {MAX_NOTE_LEN}"),
        ));
    }

    (reason.to_owned(), note.to_owned())
}

/// A close that passed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidClose {
    /// Won or lost.
    pub outcome: Outcome,
    /// Deal value in minor currency units.
    pub value_minor: i64,
    /// Currency of the value, empty when none was given.
    pub currency: String,
    /// Reason code or note, trimmed.
    pub reason: String,
}

/// Validates the fields of `CloseLead`.
pub fn validate_close(
    outcome: i32,
    value_minor: i64,
    currency: &str,
    reason: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<ValidClose> {
    let before = violations.len();

    let parsed = match Outcome::try_from(outcome) {
        Ok(found @ (Outcome::Won | Outcome::Lost)) => found,
        _ => {
            violations.push(FieldViolation::new(
                "outcome",
                format!("{outcome} is not a closing outcome; expected OUTCOME_WON or OUTCOME_LOST"),
            ));
            Outcome::Unspecified
        }
    };

    if value_minor < 0 {
        violations.push(FieldViolation::new(
            "value_minor",
            format!("{value_minor} is negative; expected a deal value of 0 or more in minor currency units"),
        ));
    }
    let currency = currency.trim();
    check_currency(currency, value_minor > 0, "currency", violations);

    let reason = reason.trim();
    if reason.chars().count() > MAX_TEXT_LEN {
        violations.push(FieldViolation::new(
            "reason",
            format!("has {} characters; expected at most {MAX_TEXT_LEN}", reason.chars().count()),
        ));
    }

    (violations.len() == before).then(|| ValidClose {
        outcome: parsed,
        value_minor,
        currency: currency.to_owned(),
        reason: reason.to_owned(),
    })
}

/// The period of a funnel report as UTC bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunnelPeriod {
    /// Name of the time zone the dates were read in.
    pub time_zone: String,
    /// Start of the first day, inclusive, or `None` for no lower bound.
    pub start: Option<DateTime<Utc>>,
    /// Start of the day after the last day, exclusive, or `None` for no upper bound.
    pub end: Option<DateTime<Utc>>,
}

/// Parses the period of a funnel report: optional `YYYY-MM-DD` dates read in an IANA time
/// zone (UTC when empty). The end date is inclusive, so the upper bound is the next midnight.
pub fn parse_funnel_period(
    start_date: &str,
    end_date: &str,
    time_zone: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<FunnelPeriod> {
    let before = violations.len();

    let zone_name = time_zone.trim();
    let zone_name = if zone_name.is_empty() { DEFAULT_TIME_ZONE } else { zone_name };
    let zone = match zone_name.parse::<Tz>() {
        Ok(zone) => Some(zone),
        Err(_) => {
            violations.push(FieldViolation::new(
                "time_zone",
                format!("{time_zone:?} is not a known IANA time zone; expected a name such as \"Europe/Bucharest\" or \"UTC\""),
            ));
            None
        }
    };

    let start = parse_date(start_date, "start_date", violations);
    let end = parse_date(end_date, "end_date", violations);
    if let (Some(Some(first)), Some(Some(last))) = (start, end)
        && last < first
    {
        violations.push(FieldViolation::new(
            "end_date",
            format!("{last} is before start_date {first}; expected a date on or after the start date"),
        ));
    }

    if violations.len() != before {
        return None;
    }
    let zone = zone?;
    let start = start?.map(|date| local_midnight(zone, date));
    let end = end?.and_then(|date| date.succ_opt()).map(|date| local_midnight(zone, date));
    Some(FunnelPeriod { time_zone: zone.name().to_owned(), start, end })
}

/// Parses an optional date: `Some(None)` for an empty value, `None` after a violation.
fn parse_date(raw: &str, field: &str, violations: &mut Vec<FieldViolation>) -> Option<Option<NaiveDate>> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Some(None);
    }
    match parse_timeframe(trimmed) {
        Some(Timeframe::Date(date)) => Some(Some(date)),
        _ => {
            violations.push(FieldViolation::new(
                field,
                format!("{raw:?} is not a valid date; expected \"YYYY-MM-DD\", for example \"2026-01-31\""),
            ));
            None
        }
    }
}

/// Returns the first instant of `date` in `zone`. Where a daylight-saving change skips
/// midnight, the day starts at the first local time that exists.
fn local_midnight(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // Daylight-saving gaps last at most a few hours, so stepping by 15 minutes through the
    // first day finds the first valid local time.
    for step in 0..96 {
        let local = midnight + Duration::minutes(15 * step);
        if let Some(instant) = zone.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

/// Returns `numerator / denominator`, or 0 when the denominator is 0.
pub fn ratio(numerator: i64, denominator: i64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadflow_proto::qualification::Budget;

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|violation| violation.field.as_str()).collect()
    }

    fn complete_bant() -> Bant {
        Bant {
            budget: Some(Budget { amount_minor: 500_000, currency: "EUR".to_owned(), confirmed: false }),
            authority_role: "CTO".to_owned(),
            need: "replace the spreadsheet pipeline".to_owned(),
            timeframe: "2026-Q3".to_owned(),
        }
    }

    #[test]
    fn complete_bant_is_valid() {
        let mut violations = Vec::new();
        let bant = validate_bant(Some(&complete_bant()), &mut violations).expect("valid BANT");
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(bant.amount_minor, 500_000);
        assert_eq!(bant.currency, "EUR");
        assert!(bant.confirmed);
    }

    #[test]
    fn bant_missing_budget_and_timeframe() {
        let bant = Bant { budget: None, timeframe: String::new(), ..complete_bant() };
        let mut violations = Vec::new();
        assert!(validate_bant(Some(&bant), &mut violations).is_none());
        assert_eq!(fields(&violations), ["bant.budget", "bant.timeframe"]);
    }

    #[test]
    fn missing_bant_lacks_all_four_parts() {
        let mut violations = Vec::new();
        assert!(validate_bant(None, &mut violations).is_none());
        assert_eq!(fields(&violations), ["bant.budget", "bant.authority_role", "bant.need", "bant.timeframe"]);
    }

    #[test]
    fn confirmed_budget_without_amount_is_valid() {
        let bant = Bant {
            budget: Some(Budget { amount_minor: 0, currency: String::new(), confirmed: true }),
            ..complete_bant()
        };
        let mut violations = Vec::new();
        assert!(validate_bant(Some(&bant), &mut violations).is_some(), "{violations:?}");
    }

    #[test]
    fn unconfirmed_zero_budget_is_missing() {
        let bant = Bant {
            budget: Some(Budget { amount_minor: 0, currency: String::new(), confirmed: false }),
            ..complete_bant()
        };
        let mut violations = Vec::new();
        validate_bant(Some(&bant), &mut violations);
        assert_eq!(fields(&violations), ["bant.budget"]);
    }

    #[test]
    fn budget_amount_and_currency_are_checked() {
        let bant = Bant {
            budget: Some(Budget { amount_minor: 100, currency: "eur".to_owned(), confirmed: false }),
            ..complete_bant()
        };
        let mut violations = Vec::new();
        validate_bant(Some(&bant), &mut violations);
        assert_eq!(fields(&violations), ["bant.budget.currency"]);
        assert!(violations[0].description.contains("\"eur\""), "{}", violations[0].description);

        let bant = Bant {
            budget: Some(Budget { amount_minor: -1, currency: "EUR".to_owned(), confirmed: true }),
            ..complete_bant()
        };
        let mut violations = Vec::new();
        validate_bant(Some(&bant), &mut violations);
        assert_eq!(fields(&violations), ["bant.budget.amount_minor"]);

        let bant = Bant {
            budget: Some(Budget { amount_minor: 100, currency: String::new(), confirmed: false }),
            ..complete_bant()
        };
        let mut violations = Vec::new();
        validate_bant(Some(&bant), &mut violations);
        assert_eq!(fields(&violations), ["bant.budget.currency"]);
    }

    #[test]
    fn blank_authority_and_need_are_missing() {
        let bant = Bant { authority_role: "   ".to_owned(), need: String::new(), ..complete_bant() };
        let mut violations = Vec::new();
        validate_bant(Some(&bant), &mut violations);
        assert_eq!(fields(&violations), ["bant.authority_role", "bant.need"]);
    }

    #[test]
    fn invalid_timeframe_names_the_value() {
        let bant = Bant { timeframe: "next spring".to_owned(), ..complete_bant() };
        let mut violations = Vec::new();
        validate_bant(Some(&bant), &mut violations);
        assert_eq!(fields(&violations), ["bant.timeframe"]);
        assert!(violations[0].description.contains("\"next spring\""));
        assert!(violations[0].description.contains("YYYY-Qn"));
    }

    #[test]
    fn timeframe_quarters_parse() {
        assert_eq!(parse_timeframe("2026-Q1"), Some(Timeframe::Quarter { year: 2026, quarter: 1 }));
        assert_eq!(parse_timeframe("2026-Q4"), Some(Timeframe::Quarter { year: 2026, quarter: 4 }));
        for raw in ["2026-Q0", "2026-Q5", "2026-q2", "26-Q2", "2026-Q12", "2026Q2"] {
            assert_eq!(parse_timeframe(raw), None, "{raw:?} was accepted");
        }
    }

    #[test]
    fn timeframe_dates_parse() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(parse_timeframe("2024-02-29"), Some(Timeframe::Date(date)));
        for raw in ["2025-02-29", "2026-13-01", "2026-1-05", "2026/01/05", "", "2026-01-05T00:00"] {
            assert_eq!(parse_timeframe(raw), None, "{raw:?} was accepted");
        }
    }

    #[test]
    fn state_names_round_trip() {
        for state in [
            QualificationState::New,
            QualificationState::Working,
            QualificationState::Sql,
            QualificationState::Recycled,
            QualificationState::Won,
            QualificationState::Lost,
        ] {
            assert_eq!(state_from_name(state_name(state)), state);
        }
        assert_eq!(state_name(QualificationState::Sql), "SQL");
        assert_eq!(state_name(QualificationState::Unspecified), "UNSPECIFIED");
        assert_eq!(state_from_name("BOGUS"), QualificationState::Unspecified);
    }

    #[test]
    fn open_states_allow_sales_actions() {
        use QualificationState::{New, Recycled, Sql, Working};
        assert_eq!(next_state(New, Action::StartWork), Ok(Step::Move(Working)));
        assert_eq!(next_state(Working, Action::StartWork), Ok(Step::Stay));
        assert_eq!(next_state(New, Action::Accept), Ok(Step::Move(Sql)));
        assert_eq!(next_state(Working, Action::Accept), Ok(Step::Move(Sql)));
        assert_eq!(next_state(New, Action::Reject), Ok(Step::Move(Recycled)));
        assert_eq!(next_state(Working, Action::Reject), Ok(Step::Move(Recycled)));
    }

    #[test]
    fn closed_states_reject_sales_actions() {
        use QualificationState::{Lost, Recycled, Sql, Won};
        for state in [Sql, Recycled, Won, Lost] {
            for action in [Action::StartWork, Action::Accept, Action::Reject] {
                assert_eq!(next_state(state, action), Err(EXPECTED_OPEN), "{action:?} from {state:?}");
            }
        }
    }

    #[test]
    fn explicit_recycle_leaves_sql() {
        use QualificationState::{Lost, New, Recycled, Sql, Won, Working};
        for state in [New, Working, Sql] {
            assert_eq!(next_state(state, Action::Recycle), Ok(Step::Move(Recycled)), "recycle from {state:?}");
        }
        for state in [Recycled, Won, Lost] {
            assert_eq!(next_state(state, Action::Recycle), Err(EXPECTED_RECYCLABLE), "recycle from {state:?}");
        }
    }

    #[test]
    fn only_sql_closes() {
        use QualificationState::{Lost, New, Recycled, Sql, Won, Working};
        assert_eq!(next_state(Sql, Action::CloseWon), Ok(Step::Move(Won)));
        assert_eq!(next_state(Sql, Action::CloseLost), Ok(Step::Move(Lost)));
        for state in [New, Working, Recycled, Won, Lost] {
            assert_eq!(next_state(state, Action::CloseWon), Err(EXPECTED_SQL), "close from {state:?}");
        }
    }

    #[test]
    fn mql_enters_new_and_recycled_leads() {
        assert_eq!(on_mql(None), MqlArrival::Enter(QualificationState::Unspecified));
        assert_eq!(on_mql(Some(QualificationState::Recycled)), MqlArrival::Enter(QualificationState::Recycled));
        for state in [QualificationState::New, QualificationState::Working, QualificationState::Sql, QualificationState::Won] {
            assert_eq!(on_mql(Some(state)), MqlArrival::Ignore, "{state:?}");
        }
    }

    #[test]
    fn rejection_reason_must_be_listed() {
        let mut violations = Vec::new();
        let reasons: Vec<String> = REJECTION_REASONS.iter().map(|reason| (*reason).to_owned()).collect();
        let (reason, _) = validate_rejection(" no_budget ", "", &reasons, &mut violations);
        assert!(violations.is_empty());
        assert_eq!(reason, "no_budget");

        validate_rejection("too_expensive", &"x".repeat(MAX_NOTE_LEN + 1), &reasons, &mut violations);
        assert_eq!(fields(&violations), ["reason", "note"]);
        assert!(violations[0].description.contains("\"too_expensive\""));
        assert!(violations[0].description.contains("not_a_fit"));
    }

    #[test]
    fn close_needs_outcome_and_currency() {
        let mut violations = Vec::new();
        let close = validate_close(Outcome::Won as i32, 100_000, "RON", "signed", &mut violations).unwrap();
        assert_eq!(close.outcome, Outcome::Won);

        let mut violations = Vec::new();
        assert!(validate_close(Outcome::Unspecified as i32, -5, "", "", &mut violations).is_none());
        assert_eq!(fields(&violations), ["outcome", "value_minor"]);

        let mut violations = Vec::new();
        validate_close(Outcome::Lost as i32, 10, "", "", &mut violations);
        assert_eq!(fields(&violations), ["currency"]);

        let mut violations = Vec::new();
        assert!(validate_close(Outcome::Lost as i32, 0, "", "competitor", &mut violations).is_some());
    }

    #[test]
    fn funnel_period_in_bucharest() {
        let mut violations = Vec::new();
        let period = parse_funnel_period("2026-01-01", "2026-01-31", "Europe/Bucharest", &mut violations).unwrap();
        assert_eq!(period.time_zone, "Europe/Bucharest");
        assert_eq!(period.start, Some(Utc.with_ymd_and_hms(2025, 12, 31, 22, 0, 0).unwrap()));
        assert_eq!(period.end, Some(Utc.with_ymd_and_hms(2026, 1, 31, 22, 0, 0).unwrap()));
    }

    #[test]
    fn funnel_period_defaults_to_utc() {
        let mut violations = Vec::new();
        let period = parse_funnel_period("", "", "", &mut violations).unwrap();
        assert_eq!(period, FunnelPeriod { time_zone: "UTC".to_owned(), start: None, end: None });
    }

    #[test]
    fn funnel_period_rejects_unknown_zone() {
        let mut violations = Vec::new();
        assert!(parse_funnel_period("2026-01-01", "", "Mars/Olympus", &mut violations).is_none());
        assert_eq!(fields(&violations), ["time_zone"]);
        assert!(violations[0].description.contains("\"Mars/Olympus\""));
    }

    #[test]
    fn funnel_period_rejects_end_before_start() {
        let mut violations = Vec::new();
        assert!(parse_funnel_period("2026-02-01", "2026-01-31", "UTC", &mut violations).is_none());
        assert_eq!(fields(&violations), ["end_date"]);
    }

    #[test]
    fn funnel_period_rejects_malformed_dates() {
        let mut violations = Vec::new();
        assert!(parse_funnel_period("01/02/2026", "2026-02-30", "UTC", &mut violations).is_none());
        assert_eq!(fields(&violations), ["start_date", "end_date"]);
    }

    #[test]
    fn midnight_in_daylight_saving_gap() {
        // America/Santiago moved clocks from 00:00 (UTC-4) to 01:00 (UTC-3) on 2022-09-11.
        let zone: Tz = "America/Santiago".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        assert!(zone.from_local_datetime(&midnight).earliest().is_none(), "midnight exists in the zone data");
        let start = local_midnight(zone, date);
        assert_eq!(start, Utc.with_ymd_and_hms(2022, 9, 11, 4, 0, 0).unwrap());
    }

    #[test]
    fn ratio_of_empty_stage_is_zero() {
        assert_eq!(ratio(3, 0), 0.0);
        assert_eq!(ratio(1, 4), 0.25);
    }

    #[test]
    fn lead_id_must_be_uuid() {
        let mut violations = Vec::new();
        assert!(parse_lead_id("", &mut violations).is_none());
        assert!(parse_lead_id("lead-7", &mut violations).is_none());
        assert_eq!(fields(&violations), ["lead_id", "lead_id"]);
        let id = Uuid::now_v7();
        assert_eq!(parse_lead_id(&id.to_string(), &mut Vec::new()), Some(id));
    }
}
