//! Every people-facing text of the client in English and Romanian, in one catalogue.
//!
//! Texts are templates: `{name}` marks a value filled in by [`Text::fill`]. Both languages of
//! an entry use the same placeholders. The stage names Lead, MQL and SQL are the same in both
//! languages, so they live in the code as constants, not here.

use std::fmt::Display;

pub use leadflow_kit::Lang;

macro_rules! catalogue {
    ($($name:ident => $en:literal, $ro:literal;)*) => {
        /// One people-facing text.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Text {
            $($name,)*
        }

        impl Text {
            /// Every entry of the catalogue.
            pub const ALL: &'static [Text] = &[$(Text::$name,)*];

            /// Returns the English and the Romanian template.
            pub fn pair(self) -> (&'static str, &'static str) {
                match self {
                    $(Text::$name => ($en, $ro),)*
                }
            }
        }
    };
}

catalogue! {
    ErrorPrefix => "error", "eroare";
    Unreachable => "cannot connect to the {service} service at {address}: connection refused. Start the suite with `leadflow up`.",
        "nu se poate conecta la serviciul {service} la {address}: conexiune refuzată. Porniți suita cu `leadflow up`.";
    ConnectFailed => "cannot connect to the {service} service at {address}: {error}",
        "nu se poate conecta la serviciul {service} la {address}: {error}";
    InvalidAddress => "invalid address {address} of the {service} service: {error}",
        "adresa {address} a serviciului {service} este invalidă: {error}";
    RpcFailed => "{method} failed: {message}", "{method} a eșuat: {message}";
    ReadFileFailed => "cannot read {path}: {error}", "nu se poate citi {path}: {error}";
    InvalidToml => "invalid TOML in {path}: {error}", "TOML invalid în {path}: {error}";
    UnknownActivityType => "unknown activity type {value} in {field}; accepted names: {accepted}",
        "tip de activitate necunoscut {value} în {field}; nume acceptate: {accepted}";
    InvalidKeyValue => "invalid {flag} value {value}: expected KEY=VALUE",
        "valoare invalidă {value} pentru {flag}: se așteaptă CHEIE=VALOARE";
    InvalidTimestamp => "invalid time {value}: expected RFC 3339, for example 2026-12-01T09:30:00Z",
        "moment invalid {value}: se așteaptă RFC 3339, de exemplu 2026-12-01T09:30:00Z";
    InvalidBatchSize => "invalid batch size {value}: use 1 to 1000",
        "dimensiune de lot invalidă {value}: folosiți o valoare între 1 și 1000";
    InvalidMapping => "invalid mapping {path}: {problem}", "maparea {path} este invalidă: {problem}";
    MissingColumn => "column {column} named by {field} in the mapping is not in the header of {path}",
        "coloana {column} numită de {field} în mapare nu se află în antetul fișierului {path}";
    HeaderFailed => "cannot read the header row of {path}: {error}",
        "nu se poate citi rândul de antet al fișierului {path}: {error}";
    BindFailed => "cannot listen on {address} for the {service} service: {error}",
        "nu se poate asculta la {address} pentru serviciul {service}: {error}";
    ServiceFailed => "the {service} service stopped with an error: {error}",
        "serviciul {service} s-a oprit cu o eroare: {error}";
    ServiceTaskFailed => "the {service} service task failed: {error}",
        "sarcina serviciului {service} a eșuat: {error}";

    UpListening => "{service} service listening on {address}", "serviciul {service} ascultă la {address}";
    UpDataDir => "Databases in {path}", "Bazele de date sunt în {path}";
    UpNoAuth => "No authentication is configured: run the suite this way for local use only.",
        "Nu este configurată nicio autentificare: rulați suita astfel doar pentru uz local.";
    UpStopHint => "Press Ctrl+C to stop.", "Apăsați Ctrl+C pentru oprire.";
    UpStopped => "All services stopped.", "Toate serviciile s-au oprit.";

    TrackStored => "Activity {id} stored for lead {lead}.", "Activitatea {id} a fost înregistrată pentru lead-ul {lead}.";
    TrackDuplicate => "Activity {id} was already stored for lead {lead}; nothing changed.",
        "Activitatea {id} era deja înregistrată pentru lead-ul {lead}; nu s-a schimbat nimic.";
    LeadCreated => "Lead {id} created.", "Lead-ul {id} a fost creat.";
    LeadUpdated => "Lead {id} updated.", "Lead-ul {id} a fost actualizat.";

    LabelLeadId => "Lead id", "Id lead";
    LabelEmail => "E-mail address", "Adresă de e-mail";
    LabelExternalId => "External id", "Id extern";
    LabelSource => "Source", "Sursă";
    LabelCampaign => "Campaign", "Campanie";
    LabelLifecycleStage => "Lifecycle stage", "Etapă în ciclul de viață";
    LabelCreated => "Created", "Creat";
    LabelAttributes => "Attributes", "Atribute";
    LabelScore => "Score", "Scor";
    LabelMql => "Marketing qualified (MQL)", "Calificat de marketing (MQL)";
    LabelQualification => "Qualification state", "Stare de calificare";
    LabelMqlSince => "MQL since", "MQL din";
    Yes => "yes", "da";
    No => "no", "nu";
    NoScoreYet => "no score yet", "încă fără scor";
    NotMql => "not an MQL", "nu este MQL";
    NoneValue => "none", "niciunul";
    SectionScoreReasons => "Score reasons", "Motivele scorului";
    SectionActivities => "Activities", "Activități";
    NoActivities => "No activities.", "Nicio activitate.";
    MoreActivities => "More activities exist; only the first {count} are shown.",
        "Există mai multe activități; sunt afișate doar primele {count}.";
    HeaderActivityType => "Activity type", "Tip de activitate";
    HeaderCount => "Count", "Număr";
    HeaderPoints => "Points", "Puncte";
    HeaderOccurredAt => "Occurred at", "Data și ora";
    HeaderProperties => "Properties", "Proprietăți";

    LifecycleCustomer => "Customer", "Client";
    LifecycleLost => "Lost", "Pierdut";
    LifecycleRecycled => "Recycled", "Reciclat";
    Unknown => "unknown", "necunoscut";
    StateNew => "New", "Nou";
    StateWorking => "Working", "În lucru";
    StateRecycled => "Recycled", "Reciclat";
    StateWon => "Won", "Câștigat";
    StateLost => "Lost", "Pierdut";

    HeaderState => "State", "Stare";
    HeaderMqlScore => "MQL score", "Scor MQL";
    HeaderMqlTime => "MQL time", "Momentul MQL";
    QueueEmpty => "The queue is empty.", "Coada este goală.";
    QueueShown => "{count} entries shown.", "{count} intrări afișate.";

    Accepted => "Lead {id} accepted: it is now an SQL.", "Lead-ul {id} a fost acceptat: acum este SQL.";
    Rejected => "Lead {id} rejected and recycled to nurturing.",
        "Lead-ul {id} a fost respins și trimis înapoi în nurturing.";
    ClosedWon => "Lead {id} closed as won.", "Lead-ul {id} a fost închis: câștigat.";
    ClosedLost => "Lead {id} closed as lost.", "Lead-ul {id} a fost închis: pierdut.";
    Working => "Lead {id} is now being worked.", "Lead-ul {id} este acum în lucru.";

    FunnelTitle => "Funnel in unique leads (time zone {zone})", "Pâlnia în lead-uri unice (fus orar {zone})";
    FunnelPeriod => "Leads that entered from {from} to {to}", "Lead-uri intrate între {from} și {to}";
    FunnelOpenStart => "the beginning", "început";
    FunnelOpenEnd => "today", "azi";
    HeaderStage => "Stage", "Etapă";
    HeaderUniqueLeads => "Unique leads", "Lead-uri unice";
    HeaderFromPrevious => "% from previous", "% din etapa anterioară";
    HeaderFromLeads => "% from leads", "% din lead-uri";
    FunnelImported => "Customers recorded by import: {won} of {leads} leads ({share}); {won_mql} of them had become MQL.",
        "Clienți înregistrați prin import: {won} din {leads} lead-uri ({share}); {won_mql} dintre ei deveniseră MQL.";
    FunnelImportedMql => "Of the {mqls} MQLs with an imported outcome, {won_mql} won ({share}).",
        "Din cele {mqls} MQL-uri cu rezultat importat, {won_mql} au fost câștigate ({share}).";

    ModelHeader => "Model {id}, version {version}, MQL threshold {threshold} points",
        "Modelul {id}, versiunea {version}, prag MQL {threshold} puncte";
    ModelDescription => "Description: {text}", "Descriere: {text}";
    ModelPublishTime => "Published at {time}", "Publicat la {time}";
    ModelUnlisted => "Activity types not listed score 0 points.", "Tipurile de activitate nelistate primesc 0 puncte.";
    ModelPublished => "Published version {version} of model {id}.", "A fost publicată versiunea {version} a modelului {id}.";

    ProgressImporting => "Importing {path}", "Se importă {path}";
    ReportTitle => "Import of {path}", "Importul fișierului {path}";
    ReportRowsRead => "Rows read", "Rânduri citite";
    ReportImported => "Rows imported", "Rânduri importate";
    ReportSkipped => "Rows skipped", "Rânduri omise";
    ReportFailed => "Rows failed", "Rânduri eșuate";
    ReportLeadsCreated => "Leads created", "Lead-uri create";
    ReportActivitiesCreated => "Activities created", "Activități create";
    ReportActivitiesPresent => "Activities already present", "Activități deja existente";
    ReportUnmapped => "Unmapped category values ignored", "Valori de categorie nemapate, ignorate";
    ReportSkippedList => "Skipped rows (first {count}):", "Rânduri omise (primele {count}):";
    ReportFailedList => "Failed rows (first {count}):", "Rânduri eșuate (primele {count}):";
    ReportLine => "line {line}: {reason}", "linia {line}: {reason}";
    SkipFieldCount => "the row has {found} fields but the header has {expected}",
        "rândul are {found} câmpuri, dar antetul are {expected}";
    SkipEmptyKey => "the key column {column} is empty", "coloana cheie {column} este goală";
    SkipInvalidCount => "column {column} contains {value}, which is not a count of 0 or more",
        "coloana {column} conține {value}, care nu este un număr mai mare sau egal cu 0";
    SkipCountTooLarge => "column {column} contains {value}, above the limit of {max} activities per cell",
        "coloana {column} conține {value}, peste limita de {max} activități pe celulă";
    SkipInvalidUtf8 => "the row is not valid UTF-8", "rândul nu este UTF-8 valid";
    SkipCsv => "the CSV parser failed: {error}", "analiza CSV a eșuat: {error}";
}

impl Text {
    /// Returns the template in `lang`.
    pub fn get(self, lang: Lang) -> &'static str {
        let (english, romanian) = self.pair();
        match lang {
            Lang::En => english,
            Lang::Ro => romanian,
        }
    }

    /// Returns the text in `lang` with every `{name}` replaced by its value from `args`.
    pub fn fill(self, lang: Lang, args: &[(&str, &dyn Display)]) -> String {
        fill_template(self.get(lang), args)
    }
}

/// Replaces every `{name}` of `template` with its value from `args`; unknown names stay.
pub fn fill_template(template: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut output = template.to_owned();
    for (name, value) in args {
        output = output.replace(&format!("{{{name}}}"), &value.to_string());
    }
    output
}

/// Picks the language from `--lang` or, without it, from the POSIX locale variables in
/// their order of precedence: LC_ALL, LC_MESSAGES, LANG.
pub fn detect_lang(flag: Option<crate::args::LangArg>) -> Lang {
    if let Some(flag) = flag {
        return match flag {
            crate::args::LangArg::En => Lang::En,
            crate::args::LangArg::Ro => Lang::Ro,
        };
    }

    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
        .map(|locale| Lang::from_locale(&locale))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn placeholders(template: &str) -> BTreeSet<String> {
        template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn every_text_has_both_languages() {
        for text in Text::ALL {
            let (english, romanian) = text.pair();
            assert!(!english.trim().is_empty(), "{text:?} has no English text");
            assert!(!romanian.trim().is_empty(), "{text:?} has no Romanian text");
            assert_ne!(english, romanian, "{text:?} is not translated");
        }
    }

    #[test]
    fn both_languages_use_same_placeholders() {
        for text in Text::ALL {
            let (english, romanian) = text.pair();
            assert_eq!(placeholders(english), placeholders(romanian), "{text:?}");
        }
    }

    #[test]
    fn romanian_uses_comma_below() {
        for text in Text::ALL {
            let romanian = text.get(Lang::Ro);
            assert!(!romanian.contains(['ş', 'ţ', 'Ş', 'Ţ']), "{text:?} uses a cedilla: {romanian}");
        }
    }

    #[test]
    fn fill_replaces_named_values() {
        let filled = Text::LeadCreated.fill(Lang::Ro, &[("id", &"abc")]);
        assert_eq!(filled, "Lead-ul abc a fost creat.");
    }
}
