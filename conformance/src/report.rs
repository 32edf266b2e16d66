//! Reports: a readable table (default), JSON and JUnit XML.

use crate::Outcome;
use std::fmt::Write;

/// Counts of each verdict.
pub fn totals(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let count = |name| outcomes.iter().filter(|o| o.verdict.name() == name).count();
    (count("pass"), count("fail"), count("unimplemented"))
}

/// The table people read: one line per case, then the totals.
pub fn table(suite: &str, outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let width = outcomes.iter().map(|o| o.id.len()).max().unwrap_or(10);
    for o in outcomes {
        let _ = writeln!(
            out,
            "{:<13} {:<width$}  {}",
            o.verdict.name().to_uppercase(),
            o.id,
            o.description
        );
        match &o.verdict {
            crate::Verdict::Fail(why) | crate::Verdict::Unimplemented(why) => {
                let _ = writeln!(out, "{:13} {:width$}  -> {why}", "", "");
            }
            crate::Verdict::Pass => {}
        }
    }
    let (pass, fail, unimpl) = totals(outcomes);
    let _ = writeln!(
        out,
        "{suite}: {pass} passed, {fail} failed, {unimpl} unimplemented"
    );
    out
}

/// JSON: `{"suite", "passed", "failed", "unimplemented", "cases": [{"id", "description",
/// "verdict", "detail", "seconds"}]}`.
pub fn json(suite: &str, outcomes: &[Outcome]) -> String {
    let (pass, fail, unimpl) = totals(outcomes);
    let cases: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let detail = match &o.verdict {
                crate::Verdict::Fail(d) | crate::Verdict::Unimplemented(d) => Some(d.clone()),
                crate::Verdict::Pass => None,
            };
            serde_json::json!({
                "id": o.id, "description": o.description, "verdict": o.verdict.name(),
                "detail": detail, "seconds": o.duration.as_secs_f64(),
            })
        })
        .collect();
    let value = serde_json::json!({
        "suite": suite, "passed": pass, "failed": fail, "unimplemented": unimpl, "cases": cases,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            c if c.is_control() && c != '\n' && c != '\t' => format!("&#{};", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML, as CI systems read it: failures as `<failure>`, unimplemented as `<skipped>`.
pub fn junit(suite: &str, outcomes: &[Outcome]) -> String {
    let (_, fail, unimpl) = totals(outcomes);
    let total: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{fail}\" skipped=\"{unimpl}\" time=\"{total:.3}\">",
        xml_escape(suite),
        outcomes.len()
    );
    for o in outcomes {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            xml_escape(suite),
            xml_escape(&o.id),
            o.duration.as_secs_f64()
        );
        match &o.verdict {
            crate::Verdict::Pass => {}
            crate::Verdict::Fail(d) => {
                let _ = write!(out, "<failure message=\"{}\"/>", xml_escape(d));
            }
            crate::Verdict::Unimplemented(d) => {
                let _ = write!(out, "<skipped message=\"{}\"/>", xml_escape(d));
            }
        }
        let _ = writeln!(
            out,
            "<system-out>{}</system-out></testcase>",
            xml_escape(&o.description)
        );
    }
    out.push_str("</testsuite>\n");
    out
}
