//! The node's HTTP API (`/api/v1`) and its OpenAPI document (`/openapi.json`).
//!
//! Every answer is JSON but the relays' (the chain's JSON-RPC, the enclave's binary
//! ecalls). Failures are [`ErrorBody`]s with a stable `code` and a message that says what
//! was wrong: `invalid_record_id`, `invalid_address`, `invalid_query`, `invalid_json`,
//! `invalid_transaction`, `invalid_body`, `invalid_ecall` (400), `operator_only` (403: an
//! ecall only the enclave's own host makes, key provisioning), `unknown_record` and
//! `not_found` (404), `payload_too_large` (413), `rejected` (422: the chain refused a
//! relayed transaction), `rate_limited` (429, with `Retry-After`: see [`crate::limits`]),
//! `unavailable` (503: the chain, store or enclave did not answer).
//! Request bodies are limited to [`MAX_BODY`] bytes (the relays have their own limits).
//!
//! Writes are relayed, never made: `POST /api/v1/transactions` takes a transaction the
//! client signed and hands it to the chain as is, so the node holds no user's key;
//! `POST /rpc` and `POST /api/v1/enclave` ([`crate::relay`]) carry the chain's JSON-RPC and
//! attested-session traffic for clients on the node's environment.

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, hex};
use alloy_provider::Provider;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use healthchain_core::environment::Environment;
use healthchain_core::records::RecordError;
use healthchain_core::share::{self, AccessOutcome};
use healthchain_update::history::VerifyError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Largest request body accepted, in bytes: a signed transaction deploying one of our
/// contracts is ~30 KB as hex.
pub const MAX_BODY: usize = 256 * 1024;

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "healthchain node API",
        description = "Read access to a healthchain node (records and the verification of every version, accesses, the catalog) and relays for client-signed transactions, the chain's JSON-RPC and attested-session traffic to the enclave. Never needs a user's secret."
    ),
    paths(
        health,
        catalog,
        record,
        accesses,
        consortium,
        jobs,
        ehrs,
        relay_transaction,
        crate::relay::enclave_call,
        crate::relay::chain_rpc
    ),
    components(schemas(
        Health,
        CatalogItem,
        PolicyView,
        RecordView,
        VersionView,
        AccessView,
        JobView,
        EhrEntryView,
        Consortium,
        ContractView,
        EnclaveView,
        BlockView,
        RawTransaction,
        TransactionOutcome,
        ErrorBody,
        ErrorDetail
    ))
)]
pub struct ApiDoc;

/// The API over `env`, with `/openapi.json`, the portal's pages and a JSON 404 for unknown
/// paths.
pub fn router(env: Arc<Environment>) -> Router {
    let rpc_limit = env.chain.as_ref().map_or(MAX_BODY, |chain| chain.config().max_request_body_bytes);
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/catalog", get(catalog))
        .route("/api/v1/records/{record_id}", get(record))
        .route("/api/v1/records/{record_id}/accesses", get(accesses))
        .route("/api/v1/consortium", get(consortium))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/ehrs", get(ehrs))
        .route("/api/v1/transactions", post(relay_transaction))
        .route(
            "/api/v1/enclave",
            post(crate::relay::enclave_call).layer(DefaultBodyLimit::max(crate::relay::MAX_ECALL_BODY)),
        )
        .route("/rpc", post(crate::relay::chain_rpc).layer(DefaultBodyLimit::max(rpc_limit)))
        .route("/openapi.json", get(openapi))
        .route("/", get(crate::portal::home))
        .route("/records/{record_id}", get(crate::portal::record))
        .route("/patients/{address}", get(crate::portal::patient))
        .route("/jobs", get(crate::portal::jobs))
        .route("/consortium", get(crate::portal::consortium))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(env)
}

/// A failure, as every endpoint reports it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and message of a failure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_record_id`, `invalid_address`, `invalid_query`,
    /// `invalid_json`, `invalid_transaction`, `invalid_body`, `invalid_ecall`, `operator_only`,
    /// `unknown_record`, `not_found`, `payload_too_large`, `rejected`, `rate_limited`,
    /// `unavailable`.
    pub code: String,
    /// For people: what was wrong and, where it helps, what to do.
    pub message: String,
}

/// A failed request: its status and body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    fn unavailable(what: &str, why: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("{what}: {why}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.into(), message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is over the limit of {MAX_BODY} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", rejection.body_text())
    }
}

fn record_id(text: &str) -> Result<B256, ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 64 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_record_id",
            format!(
                "'{text}' is not a record id: expected 32 bytes as 64 hex digits (0x optional), got {} characters",
                digits.len()
            ),
        ));
    }
    digits.parse::<B256>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_record_id",
            format!("'{text}' is not a record id: not hexadecimal"),
        )
    })
}

/// The node's chain and enclave.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the chain answered.
    pub status: String,
    /// The chain id of the ledger.
    pub chain_id: u64,
    /// Its latest block.
    pub block_number: u64,
    /// The address the node's enclave signs reports with (approved on the Directory).
    pub enclave: String,
}

/// The node's chain and enclave.
#[utoipa::path(get, path = "/api/v1/health", responses(
    (status = 200, description = "The chain answered", body = Health),
    (status = 503, description = "The chain did not answer", body = ErrorBody)
))]
async fn health(State(env): State<Arc<Environment>>) -> Result<Json<Health>, ApiError> {
    load_health(&env).await.map(Json)
}

pub(crate) async fn load_health(env: &Environment) -> Result<Health, ApiError> {
    let block_number = env.connection.block_number().await.map_err(|e| ApiError::unavailable("the chain", e))?;
    Ok(Health {
        status: "ok".into(),
        chain_id: env.connection.chain_id(),
        block_number,
        enclave: env.verified.report_signer.to_string(),
    })
}

/// A record's sharing policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// Charge per access, in gwei.
    pub charge_gwei: u32,
    /// First second access is allowed (unix, inclusive).
    pub start: u32,
    /// Last second access is allowed (unix, inclusive).
    pub end: u32,
}

/// One record in the catalog.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CatalogItem {
    /// The record id (32 bytes, hex).
    pub record_id: String,
    /// Its owner's address.
    pub owner: String,
    /// Its data type (from its manifest).
    pub data_type: String,
    /// The policy in force; absent when none was set or it was revoked.
    pub policy: Option<PolicyView>,
}

/// Filters of the catalog.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CatalogQuery {
    /// Only records of this data type (e.g. `fhir-r4`).
    pub data_type: Option<String>,
}

/// Every record (of a data type) with its current policy.
#[utoipa::path(get, path = "/api/v1/catalog", params(CatalogQuery), responses(
    (status = 200, description = "The records, in registration order", body = [CatalogItem]),
    (status = 503, description = "The chain or the store did not answer", body = ErrorBody)
))]
async fn catalog(
    State(env): State<Arc<Environment>>,
    query: Result<Query<CatalogQuery>, QueryRejection>,
) -> Result<Json<Vec<CatalogItem>>, ApiError> {
    let Query(query) = query?;
    load_catalog(&env, query.data_type.as_deref()).await.map(Json)
}

pub(crate) async fn load_catalog(env: &Environment, data_type: Option<&str>) -> Result<Vec<CatalogItem>, ApiError> {
    let entries = share::catalog(env, data_type).await.map_err(|e| ApiError::unavailable("the catalog", e))?;
    Ok(entries
        .into_iter()
        .map(|e| CatalogItem {
            record_id: e.record_id.to_string(),
            owner: e.owner.to_string(),
            data_type: e.data_type,
            policy: e.policy.map(|p| PolicyView { charge_gwei: p.charge_gwei, start: p.start, end: p.end }),
        })
        .collect())
}

/// One version of a record and whether it qualifies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    /// The version number (1-based).
    pub version: u64,
    /// Its entry's store address (SHA-256 of the ciphertext, hex), if known.
    pub entry: Option<String>,
    /// The digest logged for it on `UpdateLog` (absent for a version that is not logged).
    pub digest: Option<String>,
    /// The enclave that attested it.
    pub enclave: Option<String>,
    /// The block it was logged in.
    pub block: Option<u64>,
    /// Whether it is qualified: logged, entry intact, digest chain and check string valid.
    pub qualified: bool,
    /// Why not, when it is not.
    pub problem: Option<String>,
}

/// A record and the verification of every version, as anyone can check it (no keys).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordView {
    /// The record id (hex).
    pub record_id: String,
    /// Its owner's address.
    pub owner: String,
    /// The chameleon anchor registered for it (hex); never changes.
    pub anchor: String,
    /// Its data type (from its manifest).
    pub data_type: String,
    /// The block it was registered in.
    pub registered_at_block: u64,
    /// Whether the served log events reproduce the contract's hash-chain head.
    pub log_consistent: bool,
    /// How many versions qualify.
    pub qualified: usize,
    /// Every logged version, then every claimed but unlogged one, in order.
    pub versions: Vec<VersionView>,
}

/// A record with the verification of every version.
#[utoipa::path(get, path = "/api/v1/records/{record_id}",
    params(("record_id" = String, Path, description = "The record id: 32 bytes as 64 hex digits, 0x optional")),
    responses(
        (status = 200, description = "The record and its versions", body = RecordView),
        (status = 400, description = "Not a record id", body = ErrorBody),
        (status = 404, description = "No such record is registered", body = ErrorBody),
        (status = 503, description = "The chain or the store did not answer", body = ErrorBody)
    )
)]
async fn record(State(env): State<Arc<Environment>>, Path(text): Path<String>) -> Result<Json<RecordView>, ApiError> {
    load_record(&env, &text).await.map(Json)
}

pub(crate) async fn load_record(env: &Environment, text: &str) -> Result<RecordView, ApiError> {
    let id = record_id(text)?;
    let report = healthchain_core::records::verify(env, id).await.map_err(|e| match e {
        RecordError::Verify(VerifyError::UnknownRecord(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_record", format!("no record {id} is registered"))
        }
        other => ApiError::unavailable("verifying the record", other),
    })?;
    let registration = report.registration;
    Ok(RecordView {
        record_id: registration.record_id.to_string(),
        owner: registration.owner.to_string(),
        anchor: registration.anchor.to_string(),
        data_type: report.data_type.clone(),
        registered_at_block: registration.block,
        log_consistent: report.log_consistent,
        qualified: report.qualified(),
        versions: report
            .versions
            .iter()
            .map(|v| VersionView {
                version: v.version,
                entry: v.entry.map(hex::encode_prefixed),
                digest: v.digest.map(|d| d.to_string()),
                enclave: v.enclave.map(|a| a.to_string()),
                block: v.block,
                qualified: v.qualified(),
                problem: v.problem.as_ref().map(ToString::to_string),
            })
            .collect(),
    })
}

/// One access to a record: who paid for which job, and how it ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessView {
    /// The access request.
    pub request_id: u64,
    /// Who asked and paid.
    pub requester: String,
    /// The enclave asked to run the job.
    pub enclave: String,
    /// SHA-256 of the job's canonical spec (hex).
    pub job_hash: String,
    /// Block of the request.
    pub block: u64,
    /// Unix time of that block.
    pub requested_at: u64,
    /// The record's charge under the granted policy, in wei (decimal).
    pub charge_wei: String,
    /// `pending`, `completed` or `refunded`.
    pub outcome: String,
    /// SHA-256 of the encrypted result, once completed.
    pub result_hash: Option<String>,
}

/// Every access request that included a record, in order.
#[utoipa::path(get, path = "/api/v1/records/{record_id}/accesses",
    params(("record_id" = String, Path, description = "The record id: 32 bytes as 64 hex digits, 0x optional")),
    responses(
        (status = 200, description = "The accesses, oldest first (empty for a record nobody asked for)", body = [AccessView]),
        (status = 400, description = "Not a record id", body = ErrorBody),
        (status = 503, description = "The chain did not answer", body = ErrorBody)
    )
)]
async fn accesses(
    State(env): State<Arc<Environment>>,
    Path(text): Path<String>,
) -> Result<Json<Vec<AccessView>>, ApiError> {
    load_accesses(&env, &text).await.map(Json)
}

pub(crate) async fn load_accesses(env: &Environment, text: &str) -> Result<Vec<AccessView>, ApiError> {
    let id = record_id(text)?;
    let accesses = share::accesses(env, id).await.map_err(|e| ApiError::unavailable("the accesses", e))?;
    Ok(accesses
        .into_iter()
        .map(|a| {
            let (outcome, result_hash) = outcome_view(a.outcome);
            AccessView {
                request_id: a.request_id,
                requester: a.requester.to_string(),
                enclave: a.enclave.to_string(),
                job_hash: a.job_hash.to_string(),
                block: a.block,
                requested_at: a.requested_at,
                charge_wei: a.charge_wei.to_string(),
                outcome,
                result_hash,
            }
        })
        .collect())
}

/// An outcome as the API names it, and the result hash once completed.
fn outcome_view(outcome: AccessOutcome) -> (String, Option<String>) {
    match outcome {
        AccessOutcome::Pending => ("pending".into(), None),
        AccessOutcome::Completed { result_hash } => ("completed".into(), Some(result_hash.to_string())),
        AccessOutcome::Refunded => ("refunded".into(), None),
    }
}

/// A data user's paid request: a job over records.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// The request id.
    pub request_id: u64,
    /// Who asked and paid.
    pub requester: String,
    /// The enclave asked to run the job.
    pub enclave: String,
    /// SHA-256 of the job's canonical spec (hex).
    pub job_hash: String,
    /// The records it covers.
    pub records: Vec<String>,
    /// What the data user paid, in wei (decimal).
    pub price_wei: String,
    /// Block of the request.
    pub block: u64,
    /// Unix time of that block.
    pub requested_at: u64,
    /// `pending`, `completed` or `refunded`.
    pub outcome: String,
    /// SHA-256 of the encrypted result (only the requester can open it), once completed.
    pub result_hash: Option<String>,
}

/// Filters of the jobs.
#[derive(Debug, Deserialize, IntoParams)]
pub struct JobsQuery {
    /// Only this data user's requests (an address).
    pub requester: Option<String>,
}

/// Every paid request (job) with its outcome, oldest first.
#[utoipa::path(get, path = "/api/v1/jobs", params(JobsQuery), responses(
    (status = 200, description = "The jobs, oldest first", body = [JobView]),
    (status = 400, description = "Not an address", body = ErrorBody),
    (status = 503, description = "The chain did not answer", body = ErrorBody)
))]
async fn jobs(
    State(env): State<Arc<Environment>>,
    query: Result<Query<JobsQuery>, QueryRejection>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let Query(query) = query?;
    let requester = query.requester.as_deref().map(|text| parse_address(text, "requester")).transpose()?;
    load_jobs(&env, requester).await.map(Json)
}

pub(crate) async fn load_jobs(env: &Environment, requester: Option<Address>) -> Result<Vec<JobView>, ApiError> {
    let jobs = share::jobs(env).await.map_err(|e| ApiError::unavailable("the jobs", e))?;
    Ok(jobs
        .into_iter()
        .filter(|job| requester.is_none_or(|r| r == job.requester))
        .map(|job| {
            let (outcome, result_hash) = outcome_view(job.outcome);
            JobView {
                request_id: job.request_id,
                requester: job.requester.to_string(),
                enclave: job.enclave.to_string(),
                job_hash: job.job_hash.to_string(),
                price_wei: job.price_wei().to_string(),
                records: job.records.iter().map(|(id, _)| id.to_string()).collect(),
                block: job.block,
                requested_at: job.requested_at,
                outcome,
                result_hash,
            }
        })
        .collect())
}

/// One EHR hash a doctor wrote on `EhrRegistry` (seed 001's `HashUpdated`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EhrEntryView {
    /// The patient.
    pub patient: String,
    /// The doctor who wrote it, under the patient's warrant.
    pub doctor: String,
    /// The warrant's id.
    pub warrant_id: String,
    /// SHA-256 of the EHR (hex); the EHR itself stays in the enclave's SQLCipher store.
    pub ehr_hash: String,
    /// Whether this created the EHR (else it revised one).
    pub created: bool,
    /// Hospitals the EHR names (they may fetch it).
    pub hospitals: Vec<String>,
    /// The block it was written in.
    pub block: u64,
}

/// Filters of the EHR registry.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EhrQuery {
    /// Only this patient's EHRs (an address).
    pub patient: Option<String>,
}

/// The EHR hashes doctors wrote on the registry, oldest first.
#[utoipa::path(get, path = "/api/v1/ehrs", params(EhrQuery), responses(
    (status = 200, description = "The entries, oldest first", body = [EhrEntryView]),
    (status = 400, description = "Not an address", body = ErrorBody),
    (status = 503, description = "The chain did not answer", body = ErrorBody)
))]
async fn ehrs(
    State(env): State<Arc<Environment>>,
    query: Result<Query<EhrQuery>, QueryRejection>,
) -> Result<Json<Vec<EhrEntryView>>, ApiError> {
    let Query(query) = query?;
    let patient = query.patient.as_deref().map(|text| parse_address(text, "patient")).transpose()?;
    load_ehrs(&env, patient).await.map(Json)
}

pub(crate) async fn load_ehrs(env: &Environment, patient: Option<Address>) -> Result<Vec<EhrEntryView>, ApiError> {
    let ledger = env.ledger(&env.admin).await.map_err(|e| ApiError::unavailable("the chain", e))?;
    let events =
        ledger.events().hash_updated(patient).await.map_err(|e| ApiError::unavailable("the EHR registry", e))?;
    Ok(events
        .into_iter()
        .map(|log| {
            let e = log.event;
            EhrEntryView {
                patient: e.patient.to_string(),
                doctor: e.doctor.to_string(),
                warrant_id: e.warrantId.to_string(),
                ehr_hash: e.ehrHash.to_string(),
                created: e.created,
                hospitals: e.hospitals.iter().map(ToString::to_string).collect(),
                block: log.block_number,
            }
        })
        .collect())
}

pub(crate) fn parse_address(text: &str, what: &str) -> Result<Address, ApiError> {
    text.parse::<Address>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_address",
            format!("{what} '{text}' is not an address: expected 20 bytes as 0x and 40 hex digits"),
        )
    })
}

/// A contract of the deployment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    /// Its name (`RecordRegistry`, `UpdateLog`, …).
    pub name: String,
    /// Its address.
    pub address: String,
    /// The logical ledger it lives on: `shared` or `consortium`.
    pub ledger: String,
}

/// The node's enclave, as its verified evidence says.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnclaveView {
    /// SHA-256 of the enclave program (on the Directory's allow-list).
    pub measurement: String,
    /// The address its reports are signed with (approved on the Directory).
    pub report_signer: String,
    /// Its Ristretto255 encryption key (inner key-wrapping layer), hex.
    pub encryption_key: String,
}

/// One block.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: String,
    /// Its unix time.
    pub timestamp: u64,
    /// How many transactions it holds.
    pub transactions: usize,
}

/// The consortium as this node sees it: contracts, enclave, committee key, latest blocks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Consortium {
    /// The chain id.
    pub chain_id: u64,
    /// Every contract of the deployment.
    pub contracts: Vec<ContractView>,
    /// The node's approved enclave.
    pub enclave: EnclaveView,
    /// The key-authorization committee's public key `PK_KA` (outer key-wrapping layer), hex.
    pub committee_key: String,
    /// The latest blocks, newest first (at most [`LATEST_BLOCKS`]).
    pub blocks: Vec<BlockView>,
}

/// How many of the latest blocks [`Consortium`] lists.
pub const LATEST_BLOCKS: u64 = 10;

/// The consortium: contracts, the enclave, the committee key and the latest blocks.
#[utoipa::path(get, path = "/api/v1/consortium", responses(
    (status = 200, description = "The consortium as this node sees it", body = Consortium),
    (status = 503, description = "The chain did not answer", body = ErrorBody)
))]
async fn consortium(State(env): State<Arc<Environment>>) -> Result<Json<Consortium>, ApiError> {
    load_consortium(&env).await.map(Json)
}

pub(crate) async fn load_consortium(env: &Environment) -> Result<Consortium, ApiError> {
    let latest = env.connection.block_number().await.map_err(|e| ApiError::unavailable("the chain", e))?;
    let mut blocks = Vec::new();
    for number in (latest.saturating_sub(LATEST_BLOCKS - 1)..=latest).rev() {
        let block = env
            .connection
            .provider()
            .get_block_by_number(number.into())
            .await
            .map_err(|e| ApiError::unavailable("the chain", e))?;
        if let Some(block) = block {
            blocks.push(BlockView {
                number: block.header.number,
                hash: block.header.hash.to_string(),
                timestamp: block.header.timestamp,
                transactions: block.transactions.len(),
            });
        }
    }
    let (shared, consortium) = (env.deployment.shared, env.deployment.consortium);
    let contract = |name: &str, address: alloy_primitives::Address, ledger: &str| ContractView {
        name: name.into(),
        address: address.to_string(),
        ledger: ledger.into(),
    };
    Ok(Consortium {
        chain_id: env.connection.chain_id(),
        contracts: vec![
            contract("Directory", shared.directory, "shared"),
            contract("RecordRegistry", shared.record_registry, "shared"),
            contract("AccessControl", shared.access_control, "shared"),
            contract("KeyAuthorization", shared.key_authorization, "shared"),
            contract("Directory", consortium.directory, "consortium"),
            contract("UpdateLog", consortium.update_log, "consortium"),
            contract("EhrRegistry", consortium.ehr_registry, "consortium"),
        ],
        enclave: EnclaveView {
            measurement: env.verified.measurement.to_string(),
            report_signer: env.verified.report_signer.to_string(),
            encryption_key: hex::encode_prefixed(env.verified.encryption_key.to_bytes()),
        },
        committee_key: hex::encode_prefixed(env.committee_key.to_bytes()),
        blocks,
    })
}

/// A transaction the client signed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RawTransaction {
    /// The signed transaction, EIP-2718 encoded, as 0x-prefixed hex.
    pub raw: String,
}

/// What became of a relayed transaction.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionOutcome {
    /// Its hash.
    pub tx_hash: String,
    /// The block it was included in.
    pub block_number: Option<u64>,
    /// Whether it succeeded (a reverted transaction is included, and pays gas, but fails).
    pub success: bool,
    /// Gas it used.
    pub gas_used: u64,
}

/// Relays a client-signed transaction to the chain and waits for its receipt.
#[utoipa::path(post, path = "/api/v1/transactions", request_body = RawTransaction, responses(
    (status = 200, description = "Included in a block (see `success` for a revert)", body = TransactionOutcome),
    (status = 400, description = "Not JSON of this shape, or not a hex transaction", body = ErrorBody),
    (status = 413, description = "The body is over the limit", body = ErrorBody),
    (status = 422, description = "The chain refused it (signature, nonce, funds, fees)", body = ErrorBody),
    (status = 503, description = "The chain did not answer", body = ErrorBody)
))]
async fn relay_transaction(
    State(env): State<Arc<Environment>>,
    body: Result<Json<RawTransaction>, JsonRejection>,
) -> Result<Json<TransactionOutcome>, ApiError> {
    let Json(body) = body?;
    let raw: Bytes = hex::decode(&body.raw)
        .map(Bytes::from)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_transaction", format!("`raw` is not hex: {e}")))?;
    if raw.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_transaction", "`raw` is empty"));
    }
    let tx_hash = env.connection.send_raw_transaction(raw).await.map_err(|e| match e.as_error_resp() {
        Some(refusal) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            format!("the chain refused the transaction: {}", refusal.message),
        ),
        None => ApiError::unavailable("the chain", e),
    })?;
    let receipt = env.connection.receipt(tx_hash).await.map_err(|e| ApiError::unavailable("the receipt", e))?;
    Ok(Json(TransactionOutcome {
        tx_hash: tx_hash.to_string(),
        block_number: receipt.block_number,
        success: receipt.status(),
        gas_used: receipt.gas_used,
    }))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint at {}; the API is described at /openapi.json", uri.path()),
    )
}
