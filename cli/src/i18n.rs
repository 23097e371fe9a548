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
    InvalidJson => "invalid JSON in {path}: {error}", "JSON invalid în {path}: {error}";
    InvalidDuration => "invalid duration {value} in {field}: write a whole number with the unit d, h, m or s, for example 30d, 12h or 1h30m",
        "durată invalidă {value} în {field}: scrieți un număr întreg cu unitatea d, h, m sau s, de exemplu 30d, 12h sau 1h30m";
    InvalidLimit => "invalid limit {value} in {field}: use every, once_per_lead, once_per_asset or a table with max and per, such as max = 1, per = \"1d\"",
        "limită invalidă {value} în {field}: folosiți every, once_per_lead, once_per_asset sau un tabel cu max și per, de exemplu max = 1, per = \"1d\"";
    InvalidDecay => "invalid decay {value} in {field}: set exactly one of half_life, expire_after or none = true, or write \"none\"",
        "scădere în timp invalidă {value} în {field}: setați exact una dintre half_life, expire_after sau none = true, ori scrieți \"none\"";
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
    LabelMql => "Marketing qualified (MQL) now", "Calificat de marketing (MQL) acum";
    LabelQualification => "Qualification state", "Stare de calificare";
    LabelMqlSince => "MQL since", "MQL din";
    Yes => "yes", "da";
    No => "no", "nu";
    NoScoreYet => "no score yet", "încă fără scor";
    NotMql => "not an MQL", "nu este MQL";
    NoneValue => "none", "niciunul";
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
    QueueMore => "More entries exist beyond the first {limit}; raise --limit to see them.",
        "Mai sunt intrări după primele {limit}; măriți --limit ca să le vedeți.";

    Accepted => "Lead {id} accepted: it is now an SQL.", "Lead-ul {id} a fost acceptat: acum este SQL.";
    Rejected => "Lead {id} rejected and recycled to nurturing.",
        "Lead-ul {id} a fost respins și trimis înapoi în nurturing.";
    ClosedWon => "Lead {id} closed as won.", "Lead-ul {id} a fost închis: câștigat.";
    ClosedLost => "Lead {id} closed as lost.", "Lead-ul {id} a fost închis: pierdut.";
    Working => "Lead {id} is now being worked.", "Lead-ul {id} este acum în lucru.";

    FunnelTitle => "Funnel (time zone {zone})", "Pâlnia (fus orar {zone})";
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
    FunnelUniqueView => "Unique-lead view: each lead counts once per stage it reached.",
        "Vederea pe lead-uri unice: fiecare lead contează o dată în fiecare etapă atinsă.";
    FunnelEventView => "Event view: every entry into a stage counts, so a recycled lead that qualifies again counts twice.",
        "Vederea pe evenimente: contează fiecare intrare într-o etapă, deci un lead reciclat care se califică din nou contează de două ori.";
    HeaderEntries => "Entries", "Intrări";
    FunnelStageTimes => "Time between stages", "Timpul dintre etape";
    HeaderPassage => "Passage", "Trecere";
    HeaderMedian => "Median", "Mediană";
    HeaderP90 => "90th percentile", "Percentila 90";
    FunnelSla => "First-touch SLA: {met} met, {missed} missed, hit rate {rate}.",
        "SLA pentru primul contact: {met} respectate, {missed} ratate, rată de respectare {rate}.";
    FunnelOverrides => "Acceptances by override despite missing fields: {count}.",
        "Acceptări prin excepție, cu câmpuri lipsă: {count}.";
    FunnelBySource => "By source (unique leads)", "După sursă (lead-uri unice)";
    FunnelByCampaign => "By campaign (unique leads)", "După campanie (lead-uri unice)";
    HeaderKey => "Name", "Nume";
    HeaderMqlRate => "% MQL of leads", "% MQL din lead-uri";
    HeaderSqlRate => "% SQL of MQLs", "% SQL din MQL-uri";
    HeaderWonRate => "% won of leads", "% câștigate din lead-uri";
    FunnelSvgTitle => "Funnel (time zone {zone})", "Pâlnia (fus orar {zone})";
    FunnelSvgUniqueLegend => "unique leads", "lead-uri unice";
    FunnelSvgEventLegend => "events", "evenimente";
    FunnelSvgEvents => "events: {count}", "evenimente: {count}";
    SvgWritten => "Funnel chart written to {path}.", "Graficul pâlniei a fost scris în {path}.";

    OverdueEmpty => "No MQL is past its first-touch deadline.", "Niciun MQL nu a depășit termenul pentru primul contact.";
    Unassigned => "unassigned", "nealocat";
    HeaderRep => "Rep", "Agent";
    HeaderFirstTouchDue => "First touch due", "Termen primul contact";
    Recycled => "Lead {id} recycled to nurturing.", "Lead-ul {id} a fost reciclat înapoi în nurturing.";
    RepsEmpty => "No sales reps yet. Add one with `leadflow reps add`.",
        "Nu există încă agenți de vânzări. Adăugați unul cu `leadflow reps add`.";
    RepCoversAll => "all", "toate";
    HeaderName => "Name", "Nume";
    HeaderActive => "Active", "Activ";
    HeaderOpenOfCapacity => "Open/capacity", "Deschise/capacitate";
    HeaderCountries => "Countries", "Țări";
    HeaderSegments => "Segments", "Segmente";
    HeaderTimeZone => "Time zone", "Fus orar";
    RepAdded => "Rep {id} added with capacity {capacity}.", "Agentul {id} a fost adăugat cu capacitatea {capacity}.";
    RepUpdated => "Rep {id} updated; capacity {capacity}.", "Agentul {id} a fost actualizat; capacitate {capacity}.";
    RepNothingToUpdate => "nothing to update: give at least one of --name, --capacity, --active, --country, --segment, --time-zone or a --clear option",
        "nimic de actualizat: dați cel puțin una dintre --name, --capacity, --active, --country, --segment, --time-zone sau o opțiune --clear";
    Assigned => "Lead {id} assigned to rep {rep}.", "Lead-ul {id} a fost alocat agentului {rep}.";
    SettingsSla => "First-touch SLA: {hours} hours after an MQL enters the queue.",
        "SLA pentru primul contact: {hours} ore după intrarea unui MQL în coadă.";
    SettingsTimeZone => "Team time zone: {zone}", "Fusul orar al echipei: {zone}";
    SettingsAssignment => "Assignment of new MQLs: {mode}", "Alocarea MQL-urilor noi: {mode}";
    SettingsReasons => "Rejection reasons: {reasons}", "Motive de respingere: {reasons}";
    SettingsFramework => "Qualification framework {name}: {fields} (* required); {rule}.",
        "Cadrul de calificare {name}: {fields} (* obligatoriu); {rule}.";
    SettingsRuleAllRequired => "every required field must be answered", "toate câmpurile obligatorii trebuie completate";
    SettingsRuleAtLeast => "at least {count} fields must be answered", "cel puțin {count} câmpuri trebuie completate";
    SettingsNothingToUpdate => "nothing to update: give at least one of --sla-hours, --time-zone, --assignment or --rejection-reason",
        "nimic de actualizat: dați cel puțin una dintre --sla-hours, --time-zone, --assignment sau --rejection-reason";

    ModelUnlisted => "Activity types not listed score 0 points.", "Tipurile de activitate nelistate primesc 0 puncte.";
    ModelPublished => "Published version {version} of model {id}.", "A fost publicată versiunea {version} a modelului {id}.";
    ModelVersionLine => "Model {id}, version {version} ({state})", "Modelul {id}, versiunea {version} ({state})";
    ModelStateDraft => "draft", "ciornă";
    ModelStateActive => "active", "activă";
    ModelStateRetired => "retired", "retrasă";
    LabelDescription => "Description", "Descriere";
    LabelPublished => "Published", "Publicată";
    LabelThreshold => "MQL threshold", "Prag MQL";
    LabelMinFit => "Minimum fit score", "Scor minim de potrivire";
    LabelFloor => "Score floor", "Limita inferioară a scorului";
    LabelDecay => "Decay", "Scădere în timp";
    LabelRescore => "Rescoring", "Recalcularea scorurilor";
    NoFloor => "none: scores may go negative", "niciuna: scorurile pot fi negative";
    RescoreFinished => "finished, {done} of {total} leads", "terminată, {done} din {total} lead-uri";
    RescoreRunning => "running, {done} of {total} leads", "în curs, {done} din {total} lead-uri";
    RescoreNone => "not started", "nepornită";
    DecayNone => "none", "fără";
    DecayHalfLife => "half-life {duration}", "timp de înjumătățire {duration}";
    DecayExpire => "expires after {duration}", "expiră după {duration}";
    DecayOfModel => "model default", "implicită a modelului";
    LimitEvery => "every activity", "fiecare activitate";
    LimitOncePerLead => "once per lead", "o dată per lead";
    LimitOncePerAsset => "once per asset", "o dată per resursă";
    LimitPerWindow => "at most {max} per {window}", "cel mult {max} în {window}";
    ConditionOneOf => "one of {values}", "unul dintre {values}";
    SectionRules => "Behavioural rules", "Reguli comportamentale";
    SectionFitRules => "Fit rules", "Reguli de potrivire";
    NoRules => "No rules.", "Nicio regulă.";
    HeaderRule => "Rule", "Regulă";
    HeaderFilter => "Filter", "Filtru";
    HeaderLimit => "Limit", "Limită";
    HeaderDecay => "Decay", "Scădere";
    HeaderAttribute => "Attribute", "Atribut";
    HeaderCondition => "Condition", "Condiție";
    HeaderVersion => "Version", "Versiune";
    HeaderPublished => "Published", "Publicată";
    HeaderThreshold => "Threshold", "Prag";
    HeaderRules => "Rules", "Reguli";
    HeaderDescription => "Description", "Descriere";
    VersionsMore => "Older versions exist; only the newest {count} are shown.",
        "Există versiuni mai vechi; sunt afișate doar cele mai noi {count}.";
    VersionNotFound => "version {version} of model {id} does not exist; list the versions with `leadflow model show --versions`",
        "versiunea {version} a modelului {id} nu există; listați versiunile cu `leadflow model show --versions`";
    ModelValid => "{path} is a valid scoring model.", "{path} este un model de scoring valid.";
    ModelInvalid => "{path} is not a valid scoring model; problems found: {count}",
        "{path} nu este un model de scoring valid; probleme găsite: {count}";
    ModelProblems => "Problems:", "Probleme:";
    DraftStored => "Stored version {version} of model {id} as a draft.",
        "Versiunea {version} a modelului {id} a fost salvată ca ciornă.";
    DraftValid => "No problems: publish it with `leadflow model publish --draft {version}`.",
        "Nicio problemă: publicați-o cu `leadflow model publish --draft {version}`.";
    DraftProblems => "Problems that block publication:", "Probleme care împiedică publicarea:";
    PreviewTitle => "If this model were published now:", "Dacă acest model ar fi publicat acum:";
    PreviewEvaluated => "Leads evaluated", "Lead-uri evaluate";
    PreviewCurrentMql => "MQLs now", "MQL-uri acum";
    PreviewQualified => "Would qualify", "Ar fi calificate";
    PreviewBecome => "Would become MQL", "Ar deveni MQL";
    PreviewNoLonger => "Would no longer qualify", "Nu s-ar mai califica";
    PreviewSampleBecome => "Leads that would become MQL (sample):", "Lead-uri care ar deveni MQL (exemple):";
    PreviewSampleNoLonger => "Leads that would no longer qualify; they keep their MQL (sample):",
        "Lead-uri care nu s-ar mai califica; își păstrează statutul de MQL (exemple):";

    LabelAsOf => "As of", "La momentul";
    LabelModelVersion => "Model version", "Versiunea modelului";
    LabelNextDecay => "Next decay", "Următoarea scădere";
    NoDecay => "nothing decays", "nimic nu scade în timp";
    ScoreBreakdown => "{total} = engagement {engagement} + fit {fit}", "{total} = implicare {engagement} + potrivire {fit}";
    ScoreBreakdownFloor => "{total} = engagement {engagement} + fit {fit} + floor {floor}",
        "{total} = implicare {engagement} + potrivire {fit} + limită inferioară {floor}";
    SectionContributions => "Activity contributions", "Contribuția activităților";
    SectionFitContributions => "Fit contributions", "Contribuții de potrivire";
    NoFitMatched => "No fit rule matched.", "Nicio regulă de potrivire nu s-a aplicat.";
    HeaderBasePoints => "Base points", "Puncte de bază";
    HeaderPointsAfterDecay => "After decay", "După scădere";
    HeaderReason => "Reason", "Motiv";
    ReasonCounted => "counted", "numărată";
    ReasonNoRule => "no rule", "nicio regulă";
    ReasonFilterNotMatched => "filter not matched", "filtrul nu se potrivește";
    ReasonLimitReached => "limit reached", "limită atinsă";
    ReasonAnonymousNotScored => "recorded while anonymous; not scored by this model",
        "înregistrată cât timp lead-ul era anonim; modelul nu o punctează";
    HeaderKind => "Kind", "Tip";
    HeaderBeforeAfter => "Before → after", "Înainte → după";
    HeaderEffectiveTime => "Effective time", "Momentul efectiv";
    KindActivity => "activity", "activitate";
    KindCorrection => "correction", "corecție";
    KindDecay => "decay", "scădere în timp";
    KindFit => "fit", "potrivire";
    KindFloor => "floor", "limită inferioară";
    KindRescore => "rescore", "recalculare";
    KindMql => "became MQL", "a devenit MQL";
    KindFellBelow => "fell below threshold", "a scăzut sub prag";
    KindMerged => "merged into another lead", "unit cu alt lead";
    LabelVisitorIds => "Visitor ids", "Id-uri de vizitator";
    LabelAnonymous => "Anonymous visitor", "Vizitator anonim";
    LabelConsent => "Consent", "Consimțământ";
    ConsentLine => "do not track: {track}; do not contact: {contact}", "fără urmărire: {track}; fără contactare: {contact}";
    LabelDoNotContact => "Do not contact", "Nu contactați";
    DoNotContactMark => "DO NOT CONTACT", "NU CONTACTAȚI";
    HeaderContact => "Contact", "Contactare";
    TrackNotTracked => "Lead {lead} asked not to be tracked; the activity was not stored.",
        "Lead-ul {lead} a cerut să nu fie urmărit; activitatea nu a fost înregistrată.";
    MergeDone => "Lead {merged} was merged into lead {survivor}; {count} activities moved.",
        "Lead-ul {merged} a fost unit cu lead-ul {survivor}; {count} activități au fost mutate.";
    MergeRepeated => "Lead {merged} was already merged into lead {survivor} ({count} activities moved then); nothing changed.",
        "Lead-ul {merged} era deja unit cu lead-ul {survivor} ({count} activități mutate atunci); nu s-a schimbat nimic.";
    ConsentChanged => "Consent of lead {lead} changed.", "Consimțământul lead-ului {lead} a fost modificat.";
    ConsentUnchanged => "Consent of lead {lead} already had these values; nothing changed.",
        "Consimțământul lead-ului {lead} avea deja aceste valori; nu s-a schimbat nimic.";
    IdentifyAttached => "The visitor id now belongs to lead {lead}.", "Id-ul de vizitator aparține acum lead-ului {lead}.";
    IdentifyMerged => "The visitor's anonymous lead {merged} joined lead {lead}; {count} activities moved with their original times.",
        "Lead-ul anonim {merged} al vizitatorului a fost unit cu lead-ul {lead}; {count} activități au fost mutate cu momentele lor originale.";
    NoChanges => "No score changes.", "Nicio modificare de scor.";
    ChangesShown => "The last {count} of {total} changes, oldest first.",
        "Ultimele {count} din {total} modificări, de la cea mai veche.";

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
    DataDirUnusable => "cannot use the data folder {path}: {error}; pass a writable folder with --data-dir",
        "dosarul de date {path} nu poate fi folosit: {error}; indicați un dosar în care se poate scrie cu --data-dir";
    DataDirInUse => "the data folder {path} is in use by another leadflow up; stop it first or pass another --data-dir",
        "dosarul de date {path} este folosit de alt leadflow up; opriți-l întâi sau indicați alt --data-dir";
    SkipFieldCount => "the row has {found} fields but the header has {expected}",
        "rândul are {found} câmpuri, dar antetul are {expected}";
    SkipFieldCountSpanning => "the row has {found} fields but the header has {expected}; an unclosed quote made it run to line {last_line}, so those lines were skipped with it",
        "rândul are {found} câmpuri, dar antetul are {expected}; o ghilimea neînchisă l-a prelungit până la linia {last_line}, iar acele linii au fost sărite odată cu el";
    SkipEmptyKey => "the key column {column} is empty", "coloana cheie {column} este goală";
    SkipInvalidCount => "column {column} contains {value}, which is not a count of 0 or more",
        "coloana {column} conține {value}, care nu este un număr mai mare sau egal cu 0";
    SkipCountTooLarge => "column {column} contains {value}, above the limit of {max} activities per cell",
        "coloana {column} conține {value}, peste limita de {max} activități pe celulă";
    SkipInvalidUtf8 => "the row is not valid UTF-8", "rândul nu este UTF-8 valid";
    SkipCsv => "the CSV parser failed: {error}", "analiza CSV a eșuat: {error}";

    QualityTitle => "Model {id}, version {version}: leads with a known outcome ({split})",
        "Modelul {id}, versiunea {version}: lead-uri cu rezultat cunoscut ({split})";
    QualityVersionLabel => "version {version}", "versiunea {version}";
    QualityNoOutcomes => "No lead has a known outcome yet: import a file with an outcome column or close deals as won or lost.",
        "Niciun lead nu are încă un rezultat cunoscut: importați un fișier cu o coloană de rezultat sau închideți oportunități ca fiind câștigate ori pierdute.";
    QualityLeadsWithOutcome => "Leads with a known outcome", "Lead-uri cu rezultat cunoscut";
    QualityBaseRate => "Converted (base rate)", "Convertite (rata de bază)";
    QualityShareOf => "{share} ({part} of {whole})", "{share} ({part} din {whole})";
    QualityThresholdValue => "{threshold} points, minimum fit {fit}", "{threshold} puncte, potrivire minimă {fit}";
    QualityPrecision => "Precision of MQL (won among MQLs)", "Precizia MQL (câștigate dintre MQL-uri)";
    QualityRecall => "Recall of MQL (MQLs among won)", "Sensibilitatea MQL (MQL-uri dintre câștigate)";
    QualityDecilesTitle => "Conversion by score decile (1 = highest scores)", "Conversia pe decile de scor (1 = scorurile cele mai mari)";
    QualitySourcesTitle => "Conversion by source", "Conversia pe surse";
    QualitySvgWritten => "Chart written to {path}.", "Graficul a fost scris în {path}.";
    WriteFileFailed => "cannot write {path}: {error}", "nu se poate scrie {path}: {error}";
    SplitAll => "all", "toate";
    SplitTraining => "training", "antrenare";
    SplitHoldout => "held out", "rezervate pentru test";
    HeaderModel => "Model", "Model de scoring";
    HeaderLeads => "Leads", "Lead-uri";
    HeaderPrecision => "Precision", "Precizie";
    HeaderRecall => "Recall", "Sensibilitate";
    HeaderDecile => "Decile", "Decilă";
    HeaderScores => "Scores", "Scoruri";
    HeaderConverted => "Converted", "Convertite";
    HeaderConversion => "Conversion", "Conversie";
    HeaderLift => "Lift", "Câștig față de bază";
    HeaderFeature => "Feature", "Caracteristică";
    HeaderSupport => "Training leads with it", "Lead-uri de antrenare care o au";
    SvgTitle => "Scoring model quality on leads with a known outcome", "Calitatea modelului de scoring pe lead-urile cu rezultat cunoscut";
    SvgLiftTitle => "Lift by score decile", "Câștigul față de bază pe decile de scor";
    SvgDecileAxis => "Score decile (1 = highest scores)", "Decila de scor (1 = scorurile cele mai mari)";
    SvgLiftAxis => "Conversion rate ÷ base rate", "Rata de conversie ÷ rata de bază";
    SvgRocTitle => "ROC curve", "Curba ROC";
    SvgFprAxis => "False positive rate (lost leads scoring ≥ threshold)", "Rata fals pozitivelor (pierdute cu scor ≥ prag)";
    SvgTprAxis => "True positive rate (won leads scoring ≥ threshold)", "Rata adevărat pozitivelor (câștigate cu scor ≥ prag)";
    SvgLegend => "{model}: ROC AUC {auc}, {leads} leads ({split})", "{model}: ROC AUC {auc}, {leads} lead-uri ({split})";
    FitStored => "Fitted model stored as draft version {version} of model {id}.",
        "Modelul ajustat a fost salvat ca versiunea ciornă {version} a modelului {id}.";
    FitThreshold => "MQL threshold (best F1 on the training leads): {threshold} points",
        "Prag MQL (cel mai bun F1 pe lead-urile de antrenare): {threshold} puncte";
    FitUnrounded => "ROC AUC of the unrounded regression on the held-out leads: {auc}",
        "ROC AUC al regresiei nerotunjite pe lead-urile rezervate pentru test: {auc}";
    FitFeaturesTitle => "Largest points ({count} of {total} features):", "Cele mai mari punctaje ({count} din {total} caracteristici):";

    EraseStarted => "Personal data of lead {lead} erased in the activity service (erasure {id}).",
        "Datele personale ale lead-ului {lead} au fost șterse în serviciul de activități (ștergerea {id}).";
    EraseExisting => "Lead {lead} was already erased (erasure {id}); nothing changed.",
        "Lead-ul {lead} a fost deja șters (ștergerea {id}); nu s-a schimbat nimic.";
    EraseProgress => "Waiting for confirmations: scoring {scoring}, qualification {qualification} ({seconds} s)",
        "Se așteaptă confirmările: scoring {scoring}, calificare {qualification} ({seconds} s)";
    ErasureStillPending => "Not every service has confirmed yet; check again with `leadflow erasure show {id}`.",
        "Nu toate serviciile au confirmat încă; verificați din nou cu `leadflow erasure show {id}`.";
    ErasureConfirmedWord => "confirmed", "confirmat";
    ErasureWaitingWord => "waiting", "în așteptare";
    ErasureStatePending => "pending", "în curs";
    ErasureStateCompleted => "completed", "finalizată";
    LabelErasureId => "Erasure id", "Id ștergere";
    LabelErasureState => "State", "Stare";
    LabelActivityErased => "Erased in activity", "Ștearsă în activități";
    LabelScoringErased => "Erased in scoring", "Ștearsă în scoring";
    LabelQualificationErased => "Erased in qualification", "Ștearsă în calificare";
    LabelErasureCompleted => "Completed", "Finalizată";
    FitNext => "Compare it with `leadflow report --version {version}`; publish it with `leadflow model publish --draft {version}`.",
        "Comparați-l cu `leadflow report --version {version}`; publicați-l cu `leadflow model publish --draft {version}`.";

    BenchInvalidDuration => "invalid --duration {value}: give seconds above 0 and at most 3600",
        "--duration {value} este invalid: dați un număr de secunde peste 0 și cel mult 3600";
    BenchInvalidConcurrency => "invalid --concurrency {value}: use 1 to 10000",
        "--concurrency {value} este invalid: folosiți o valoare între 1 și 10000";
    BenchBinaryMissing => "service binary {path} not found; build it with `cargo build --release -p leadflow-activity -p leadflow-scoring -p leadflow-qualification` or pass --bin-dir",
        "binarul de serviciu {path} nu există; construiți-l cu `cargo build --release -p leadflow-activity -p leadflow-scoring -p leadflow-qualification` sau dați --bin-dir";
    BenchServiceFailed => "the {service} service did not start: {error}", "serviciul {service} nu a pornit: {error}";
    BenchToolFailed => "{tool} failed: {error}", "{tool} a eșuat: {error}";
    BenchPhaseDatabase => "Measuring the database's own insert rate…", "Se măsoară rata de inserare a bazei de date…";
    BenchPhaseGrpc => "Measuring the no-op gRPC servers…", "Se măsoară serverele gRPC fără prelucrare…";
    BenchPhaseStart => "Starting the three services…", "Se pornesc cele trei servicii…";
    BenchPhaseUnary => "Measuring unary TrackActivity…", "Se măsoară TrackActivity unar…";
    BenchPhaseImport => "Measuring bulk import…", "Se măsoară importul în bloc…";
    BenchPhasePropagation => "Measuring propagation to the MQL queue…", "Se măsoară propagarea până la coada MQL…";
    BenchMachine => "Machine: {cores} cores ({cpu}), {memory} MiB, Linux {kernel}; load average {before} before, {after} after",
        "Mașina: {cores} nuclee ({cpu}), {memory} MiB, Linux {kernel}; încărcare medie {before} înainte, {after} după";
    BenchSetup => "Database {database}, {concurrency} concurrent callers, {seconds} s per phase",
        "Baza de date {database}, {concurrency} apelanți simultani, {seconds} s pe etapă";
    BenchSectionThroughput => "Throughput", "Debit";
    BenchUnary => "TrackActivity, unary", "TrackActivity, unar";
    BenchImport => "ImportRecords, activities", "ImportRecords, activități";
    BenchNoopTrack => "no-op TrackActivity server", "server TrackActivity fără prelucrare";
    BenchHealthBare => "Health/Check, bare tonic", "Health/Check, tonic simplu";
    BenchHealthLayered => "Health/Check, our layers", "Health/Check, straturile noastre";
    BenchRate => "{rate}/s, p50 {p50} ms, p99 {p99} ms, p99.9 {p999} ms",
        "{rate}/s, p50 {p50} ms, p99 {p99} ms, p99,9 {p999} ms";
    BenchFailures => "failed: {failures}", "eșuate: {failures}";
    BenchDatabaseRates => "database ({tool}, {clients} clients): {single} rows/s one per transaction, {batch} rows/s in 100-row transactions",
        "baza de date ({tool}, {clients} clienți): {single} rânduri/s câte unul pe tranzacție, {batch} rânduri/s în tranzacții de 100";
    BenchDatabaseWriteSet => "database, the rows of TrackActivity calls (activity, outbox event, stored response), {per_transaction} calls per transaction, {clients} clients: {calls} calls/s",
        "baza de date, rândurile apelurilor TrackActivity (activitate, eveniment în outbox, răspuns păstrat), {per_transaction} apeluri pe tranzacție, {clients} clienți: {calls} apeluri/s";
    BenchSectionPropagation => "Propagation", "Propagare";
    BenchPropagationLoad => "offered {rate} calls/s, completed {done} calls/s; {arrived} of {probes} probes reached the queue",
        "{rate} apeluri/s oferite, {done} apeluri/s încheiate; {arrived} din {probes} probe au ajuns în coadă";
    BenchPropagationCalls => "TrackActivity, from the time each call was due", "TrackActivity, de la momentul programat al fiecărui apel";
    BenchToScore => "tracked → score updated", "urmărit → scor actualizat";
    BenchToQueue => "tracked → MQL in queue", "urmărit → MQL în coadă";
    BenchLatency => "p50 {p50} ms, p99 {p99} ms, max {max} ms", "p50 {p50} ms, p99 {p99} ms, maxim {max} ms";
    BenchSectionServices => "Services", "Servicii";
    BenchServiceLine => "{service}: SERVING after {startup} ms; memory {idle} MiB idle, {load} MiB under load",
        "{service}: SERVING după {startup} ms; memorie {idle} MiB în repaus, {load} MiB sub sarcină";
    BenchSectionRatios => "Ratios", "Rapoarte";
    BenchRatioUnaryDatabase => "unary ingest ÷ database single-row inserts", "ingestie unară ÷ inserări de câte un rând";
    BenchRatioImportDatabase => "import ÷ database 100-row inserts", "import ÷ inserări de câte 100 de rânduri";
    BenchRatioUnaryWriteSet => "unary ingest ÷ database storing the same calls' rows", "ingestie unară ÷ baza de date care stochează rândurile acelorași apeluri";
    BenchRatioUnaryNoop => "unary ingest ÷ no-op gRPC server", "ingestie unară ÷ server gRPC fără prelucrare";
    BenchRatioLayeredBare => "our layers ÷ bare tonic on Health/Check", "straturile noastre ÷ tonic simplu la Health/Check";
    BenchSectionTargets => "Targets", "Ținte";
    BenchMet => "met", "atinsă";
    BenchNotMet => "not met", "neatinsă";
    BenchFailedCalls => "Failed calls of the suite: {count}", "Apeluri eșuate ale suitei: {count}";
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
