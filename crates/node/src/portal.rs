//! The web portal: server-rendered HTML over the same data as the API, no scripts, no
//! external resources.
//!
//! - `/` — the consortium and researcher view: the node (chain, latest block, approved
//!   enclave) and the catalog of records with their policies;
//! - `/records/{id}` — the patient view of one record: its anchor, the version timeline
//!   with each version's verification status (and why a version does not qualify), and
//!   who accessed the record, for which job, and what they paid;
//! - `/patients/{address}` — the patient view: the patient's records with their
//!   verification, what their accesses earned, and the EHRs doctors wrote on the registry
//!   under the patient's warrants;
//! - `/jobs` — the researcher view: every paid job, what it cost, how it ended and the
//!   hash of its encrypted result;
//! - `/consortium` — the consortium view: the approved enclave, the committee key, the
//!   contracts and the latest blocks.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use healthchain_core::environment::Environment;
use healthchain_fhir::Date;

use crate::api::{self, ApiError};

/// `/`: the node and the catalog.
pub(crate) async fn home(State(env): State<Arc<Environment>>) -> Response {
    let page = async {
        let health = api::load_health(&env).await?;
        let catalog = api::load_catalog(&env, None).await?;
        let mut body = String::new();
        let _ = write!(
            body,
            "<section id=\"node\"><h2>Node</h2><dl>\
             <dt>Chain id</dt><dd>{}</dd><dt>Latest block</dt><dd id=\"block\">{}</dd>\
             <dt>Approved enclave (report signer)</dt><dd><code>{}</code></dd></dl></section>",
            health.chain_id,
            health.block_number,
            escape(&health.enclave)
        );
        let _ = write!(
            body,
            "<section id=\"catalog\"><h2>Catalog</h2><p>{}. Open one to see its versions, their \
             verification and who used it.</p><table><thead><tr><th>Record</th><th>Owner</th><th>Data type</th>\
             <th>Charge per access</th><th>Access window (UTC)</th></tr></thead><tbody>",
            counted(catalog.len(), "record")
        );
        for item in &catalog {
            let (charge, window) = match &item.policy {
                Some(p) => (format!("{} gwei", p.charge_gwei), format!("{} – {}", utc(p.start), utc(p.end))),
                None => ("not shared".into(), "—".into()),
            };
            let _ = write!(
                body,
                "<tr class=\"record\"><td><a href=\"/records/{id}\"><code>{short}</code></a></td>\
                 <td><a href=\"/patients/{owner}\"><code>{owner}</code></a></td>\
                 <td>{data_type}</td><td>{charge}</td><td>{window}</td></tr>",
                id = escape(&item.record_id),
                short = escape(&shorten(&item.record_id)),
                owner = escape(&item.owner),
                data_type = escape(&item.data_type),
                charge = escape(&charge),
                window = escape(&window),
            );
        }
        body.push_str("</tbody></table></section>");
        Ok::<_, ApiError>(layout("healthchain", &body))
    };
    respond(page.await)
}

/// `/records/{id}`: one record's versions and accesses.
pub(crate) async fn record(State(env): State<Arc<Environment>>, Path(text): Path<String>) -> Response {
    let page = async {
        let view = api::load_record(&env, &text).await?;
        let accesses = api::load_accesses(&env, &text).await?;
        let mut body = String::new();
        let verdict = if view.qualified == view.versions.len() && view.log_consistent {
            format!(
                "<p class=\"ok\" id=\"verdict\">All {} versions verified against the chain.</p>",
                view.versions.len()
            )
        } else {
            format!(
                "<p class=\"bad\" id=\"verdict\">{} of {} versions verified; see below why the others are not.</p>",
                view.qualified,
                view.versions.len()
            )
        };
        let _ = write!(
            body,
            "<p><a href=\"/\">← catalog</a></p><section id=\"record\"><dl>\
             <dt>Record</dt><dd><code>{}</code></dd><dt>Owner</dt><dd><code>{}</code></dd>\
             <dt>Data type</dt><dd>{}</dd><dt>Anchor (never changes)</dt><dd><code>{}</code></dd>\
             <dt>Registered in block</dt><dd>{}</dd></dl>{verdict}</section>",
            escape(&view.record_id),
            escape(&view.owner),
            escape(&view.data_type),
            escape(&view.anchor),
            view.registered_at_block,
        );
        body.push_str(
            "<section id=\"versions\"><h2>Versions</h2><table><thead><tr><th>Version</th><th>Block</th>\
             <th>Entry</th><th>Attested by</th><th>Status</th></tr></thead><tbody>",
        );
        for v in &view.versions {
            let status = match (&v.problem, v.qualified) {
                (None, true) => "<span class=\"ok\">verified</span>".to_string(),
                (Some(problem), _) => format!("<span class=\"bad\">not qualified: {}</span>", escape(problem)),
                (None, false) => "<span class=\"bad\">not qualified</span>".to_string(),
            };
            let _ = write!(
                body,
                "<tr class=\"version\"><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{status}</td></tr>",
                v.version,
                v.block.map_or("—".into(), |b| b.to_string()),
                escape(&v.entry.as_deref().map_or("unknown".into(), shorten)),
                escape(&v.enclave.as_deref().map_or("—".into(), shorten)),
            );
        }
        body.push_str("</tbody></table></section>");
        let _ = write!(
            body,
            "<section id=\"accesses\"><h2>Accesses</h2><p>{}</p><table><thead><tr><th>Request</th><th>By</th>\
             <th>Job (SHA-256)</th><th>When (UTC)</th><th>Charge</th><th>Outcome</th></tr></thead><tbody>",
            if accesses.is_empty() { "Nobody has asked to use this record." } else { "Every paid use, oldest first." }
        );
        for a in &accesses {
            let _ = write!(
                body,
                "<tr class=\"access\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>\
                 <td>{} wei</td><td>{}</td></tr>",
                a.request_id,
                escape(&a.requester),
                escape(&shorten(&a.job_hash)),
                utc(u32::try_from(a.requested_at).unwrap_or(u32::MAX)),
                escape(&a.charge_wei),
                escape(&a.outcome),
            );
        }
        body.push_str("</tbody></table></section>");
        Ok::<_, ApiError>(layout(&format!("Record {}", shorten(&view.record_id)), &body))
    };
    respond(page.await)
}

/// `/patients/{address}`: a patient's records, earnings and EHRs.
pub(crate) async fn patient(State(env): State<Arc<Environment>>, Path(text): Path<String>) -> Response {
    let page = async {
        let patient = api::parse_address(&text, "patient")?;
        let owned: Vec<_> =
            api::load_catalog(&env, None).await?.into_iter().filter(|item| item.owner == patient.to_string()).collect();
        let ehrs = api::load_ehrs(&env, Some(patient)).await?;
        let mut body = format!(
            "<p><a href=\"/\">← catalog</a></p><section id=\"patient\"><dl><dt>Patient</dt><dd><code>{}</code></dd>\
             </dl></section><section id=\"records\"><h2>Records</h2><p>{}.</p><table><thead><tr><th>Record</th>\
             <th>Versions verified</th><th>Paid accesses</th><th>Earned</th></tr></thead><tbody>",
            escape(&patient.to_string()),
            counted(owned.len(), "record")
        );
        for item in &owned {
            let view = api::load_record(&env, &item.record_id).await?;
            let accesses = api::load_accesses(&env, &item.record_id).await?;
            let paid: Vec<_> = accesses.iter().filter(|a| a.outcome == "completed").collect();
            let earned: u128 = paid.iter().filter_map(|a| a.charge_wei.parse::<u128>().ok()).sum();
            let class = if view.qualified == view.versions.len() { "ok" } else { "bad" };
            let _ = write!(
                body,
                "<tr class=\"owned\"><td><a href=\"/records/{id}\"><code>{short}</code></a></td>\
                 <td class=\"{class}\">{} of {}</td><td>{}</td><td>{earned} wei</td></tr>",
                view.qualified,
                view.versions.len(),
                paid.len(),
                id = escape(&item.record_id),
                short = escape(&shorten(&item.record_id)),
            );
        }
        let _ = write!(
            body,
            "</tbody></table></section><section id=\"ehrs\"><h2>EHRs written under warrants</h2><p>{}</p><table>\
             <thead><tr><th>Block</th><th>Doctor</th><th>Warrant</th><th>EHR hash (SHA-256)</th><th>Kind</th></tr></thead><tbody>",
            if ehrs.is_empty() {
                "No doctor has written an EHR for this patient."
            } else {
                "Each hash a doctor put on the EHR registry; the EHRs stay in the enclave's encrypted store."
            }
        );
        for e in &ehrs {
            let _ = write!(
                body,
                "<tr class=\"ehr\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                e.block,
                escape(&e.doctor),
                escape(&shorten(&e.warrant_id)),
                escape(&shorten(&e.ehr_hash)),
                if e.created { "created" } else { "revised" }
            );
        }
        body.push_str("</tbody></table></section>");
        Ok::<_, ApiError>(layout(&format!("Patient {}", shorten(&patient.to_string())), &body))
    };
    respond(page.await)
}

/// `/jobs`: every paid job and its outcome.
pub(crate) async fn jobs(State(env): State<Arc<Environment>>) -> Response {
    let page = async {
        let jobs = api::load_jobs(&env, None).await?;
        let mut body = format!(
            "<section id=\"jobs\"><p>{}. Each ran inside the enclave over the records it names; the \
             researcher reads the result, encrypted to its key; the owners were paid on completion.</p><table><thead><tr>\
             <th>Request</th><th>Researcher</th><th>Job (SHA-256)</th><th>Records</th><th>Paid</th><th>When (UTC)</th>\
             <th>Outcome</th><th>Result (SHA-256)</th></tr></thead><tbody>",
            counted(jobs.len(), "job")
        );
        for job in &jobs {
            let _ = write!(
                body,
                "<tr class=\"job\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{} wei</td>\
                 <td>{}</td><td class=\"{}\">{}</td><td><code>{}</code></td></tr>",
                job.request_id,
                escape(&job.requester),
                escape(&shorten(&job.job_hash)),
                job.records.len(),
                escape(&job.price_wei),
                utc(u32::try_from(job.requested_at).unwrap_or(u32::MAX)),
                if job.outcome == "completed" { "ok" } else { "bad" },
                escape(&job.outcome),
                escape(&job.result_hash.as_deref().map_or("—".into(), shorten)),
            );
        }
        body.push_str("</tbody></table></section>");
        Ok::<_, ApiError>(layout("Jobs", &body))
    };
    respond(page.await)
}

/// `/consortium`: contracts, the approved enclave, the committee key, the latest blocks.
pub(crate) async fn consortium(State(env): State<Arc<Environment>>) -> Response {
    let page = async {
        let view = api::load_consortium(&env).await?;
        let mut body = String::new();
        let _ = write!(
            body,
            "<section id=\"enclave\"><h2>Enclave</h2><dl><dt>Measurement</dt><dd><code>{}</code></dd>\
             <dt>Report signer (approved on the Directory)</dt><dd><code>{}</code></dd>\
             <dt>Encryption key</dt><dd><code>{}</code></dd></dl></section>\
             <section id=\"committee\"><h2>Key-authorization committee</h2><dl><dt>Committee key</dt>\
             <dd><code>{}</code></dd></dl></section>",
            escape(&view.enclave.measurement),
            escape(&view.enclave.report_signer),
            escape(&view.enclave.encryption_key),
            escape(&view.committee_key),
        );
        body.push_str(
            "<section id=\"contracts\"><h2>Contracts</h2><table><thead><tr><th>Contract</th><th>Ledger</th>\
             <th>Address</th></tr></thead><tbody>",
        );
        for c in &view.contracts {
            let _ = write!(
                body,
                "<tr class=\"contract\"><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&c.name),
                escape(&c.ledger),
                escape(&c.address)
            );
        }
        let _ = write!(
            body,
            "</tbody></table></section><section id=\"blocks\"><h2>Latest blocks</h2><p>Chain id {}.</p><table>\
             <thead><tr><th>Block</th><th>Hash</th><th>Time (UTC)</th><th>Transactions</th></tr></thead><tbody>",
            view.chain_id
        );
        for b in &view.blocks {
            let _ = write!(
                body,
                "<tr class=\"block\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                b.number,
                escape(&shorten(&b.hash)),
                utc(u32::try_from(b.timestamp).unwrap_or(u32::MAX)),
                b.transactions
            );
        }
        body.push_str("</tbody></table></section>");
        Ok::<_, ApiError>(layout("Consortium", &body))
    };
    respond(page.await)
}

fn respond(page: Result<Html<String>, ApiError>) -> Response {
    match page {
        Ok(html) => html.into_response(),
        Err(error) => {
            let body = format!(
                "<p class=\"bad\" id=\"error\">{}</p><p><a href=\"/\">← catalog</a></p>",
                escape(error.message())
            );
            (error.status(), layout("Not available", &body)).into_response()
        }
    }
}

fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · healthchain</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head>\
         <body><header><a href=\"/\">healthchain</a> <span>records anchored on chain, computed on in an enclave</span>\
         <nav><a href=\"/\">Catalog</a> <a href=\"/jobs\">Jobs</a> <a href=\"/consortium\">Consortium</a></nav></header><main><h1>{title}</h1>{body}</main><footer>API: <a href=\"/openapi.json\">/openapi.json</a></footer>\
         </body></html>",
        title = escape(title),
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330}\
header{background:#16324f;color:#fff;padding:.8em 1.5em}header a{color:#fff;font-weight:bold;text-decoration:none}\
header span{opacity:.75;margin-left:1em}nav{float:right}nav a{margin-left:1em;font-weight:normal}main{padding:1em 1.5em}table{border-collapse:collapse;margin:.5em 0}\
th,td{border-bottom:1px solid #d8dde6;padding:.35em .8em;text-align:left}th{background:#eef2f7}\
dl{display:grid;grid-template-columns:max-content auto;gap:.3em 1em}dt{font-weight:600}dd{margin:0}\
.ok{color:#17643a}.bad{color:#a0241b}code{font-size:.9em}footer{padding:1em 1.5em;color:#5b6475}";

/// Escapes text for HTML element content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1 record`, `3 records`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `0x1234…abcd` for long hex values.
fn shorten(hex: &str) -> String {
    if hex.len() > 14 { format!("{}…{}", &hex[..8], &hex[hex.len() - 4..]) } else { hex.to_string() }
}

/// A unix time as `YYYY-MM-DD HH:MM`.
fn utc(seconds: u32) -> String {
    let date = Date::from_unix_seconds(i64::from(seconds)).map_or("?".into(), |d| d.to_string());
    let rest = seconds % 86_400;
    format!("{date} {:02}:{:02}", rest / 3_600, rest % 3_600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_times_are_dates() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_796_083_199), "2026-11-30 23:59");
        assert_eq!(shorten("0x0123456789abcdef"), "0x012345…cdef");
        assert_eq!(shorten("0x12"), "0x12");
        assert_eq!(
            (counted(1, "job"), counted(0, "job"), counted(3, "job")),
            ("1 job".into(), "0 jobs".into(), "3 jobs".into())
        );
    }
}
