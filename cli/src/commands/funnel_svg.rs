//! The funnel as a plain SVG bar chart: one horizontal bar per stage of the unique-lead view,
//! with its count and its share of the leads, and a thinner bar for the event view below it.
//! Labels follow the chosen language.

use std::fmt::Write;

use leadflow_proto::qualification::GetFunnelResponse;

use super::funnel::stage_name;
use crate::format::{count, percent};
use crate::i18n::{Lang, Text};

const WIDTH: f64 = 720.0;
const LABEL_WIDTH: f64 = 110.0;
const BAR_AREA: f64 = 420.0;
const ROW_HEIGHT: f64 = 64.0;
const TOP: f64 = 84.0;

/// Escapes the five XML special characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Renders the funnel as an SVG document.
pub fn render(funnel: &GetFunnelResponse, lang: Lang) -> String {
    let height = TOP + ROW_HEIGHT * funnel.stages.len() as f64 + 40.0;
    let largest = funnel
        .stages
        .iter()
        .chain(&funnel.event_stages)
        .map(|stage| stage.lead_count)
        .max()
        .unwrap_or(0)
        .max(1) as f64;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let title = Text::FunnelSvgTitle.fill(lang, &[("zone", &funnel.time_zone)]);
    let _ = writeln!(svg, r##"<text x="20" y="32" font-size="20" font-weight="bold" fill="#1f2937">{}</text>"##, escape(&title));
    let _ = writeln!(svg, r##"<rect x="20" y="48" width="14" height="12" fill="#2563eb"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="40" y="58" font-size="13" fill="#4b5563">{}</text>"##,
        escape(Text::FunnelSvgUniqueLegend.get(lang))
    );
    let _ = writeln!(svg, r##"<rect x="170" y="51" width="14" height="6" fill="#93c5fd"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="190" y="58" font-size="13" fill="#4b5563">{}</text>"##,
        escape(Text::FunnelSvgEventLegend.get(lang))
    );

    for (index, stage) in funnel.stages.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * index as f64;
        let width = BAR_AREA * stage.lead_count as f64 / largest;
        let x = LABEL_WIDTH + (BAR_AREA - width) / 2.0;
        let label = stage_name(&stage.stage, lang);
        let value = format!("{} ({})", count(stage.lead_count, lang), percent(stage.conversion_from_lead, lang));

        let _ = writeln!(svg, r##"<text x="20" y="{}" font-size="15" fill="#111827">{}</text>"##, y + 24.0, escape(&label));
        let _ = writeln!(svg, r##"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="34" rx="4" fill="#2563eb"/>"##);
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{}" font-size="14" fill="#111827">{}</text>"##,
            LABEL_WIDTH + BAR_AREA + 14.0,
            y + 22.0,
            escape(&value)
        );

        if let Some(events) = funnel.event_stages.get(index) {
            let event_width = BAR_AREA * events.lead_count as f64 / largest;
            let event_x = LABEL_WIDTH + (BAR_AREA - event_width) / 2.0;
            let event_text = Text::FunnelSvgEvents.fill(lang, &[("count", &count(events.lead_count, lang))]);
            let _ = writeln!(
                svg,
                r##"<rect x="{event_x:.1}" y="{:.1}" width="{event_width:.1}" height="8" rx="2" fill="#93c5fd"/>"##,
                y + 40.0
            );
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="12" fill="#4b5563">{}</text>"##,
                LABEL_WIDTH + BAR_AREA + 14.0,
                y + 48.0,
                escape(&event_text)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use leadflow_proto::qualification::FunnelStage;

    use super::*;

    fn stage(name: &str, count: i64, share: f64) -> FunnelStage {
        FunnelStage { stage: name.to_owned(), lead_count: count, conversion_from_previous: share, conversion_from_lead: share }
    }

    #[test]
    fn svg_has_one_bar_per_stage_in_romanian() {
        let funnel = GetFunnelResponse {
            stages: vec![stage("lead", 10, 1.0), stage("mql", 4, 0.4), stage("sql", 2, 0.2), stage("won", 1, 0.1)],
            event_stages: vec![stage("lead", 10, 1.0), stage("mql", 5, 0.5), stage("sql", 2, 0.2), stage("won", 1, 0.1)],
            time_zone: "Europe/Bucharest".to_owned(),
            ..GetFunnelResponse::default()
        };
        let svg = render(&funnel, Lang::Ro);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"height="34""#).count(), 4, "one bar per stage");
        assert!(svg.contains("Câștigat"), "{svg}");
        assert!(svg.contains("40,0%"), "{svg}");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("R&D <b>"), "R&amp;D &lt;b&gt;");
    }
}
