//! `trailmark serve`: the service, assembled from the library's parts.
//!
//! ingest → journal (durable, group-committed) → matcher → dispatch lanes →
//! plugin runtime → backends; query and admin APIs beside them.

pub mod admin;
pub mod auth;
mod backends;
pub mod checkpoints;
pub mod envelope;
pub mod listener;
pub mod outcomes;
pub mod pipeline;
pub mod plugins;
pub mod records;
pub mod recovery;
pub mod refusals;
pub mod reload;
#[cfg(feature = "aws")]
mod sqs;
pub mod viewer;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tracing::{info, warn};
use trailmark_journal::{Journal, JournalOptions};
use trailmark_runtime::{Limits, Runtime, RuntimeConfig};

use crate::config::Config;
use crate::dispatch::{DeadLetters, DispatchOptions, Dispatcher};
use crate::ingest::{IngestState, Limits as IngestLimits};
use crate::metrics::Metrics;
use crate::query::QueryState;
use crate::rules::RuleSet;
use crate::timespec::now_ms;
use outcomes::JournalOutcomes;
use pipeline::{ActiveRules, OpenDeliveries, Pipeline, PipelineIntake};
use plugins::PluginHost;

/// How long shutdown waits for running deliveries; the rest stay owed in the
/// journal and run after the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Run the server until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("creating the data directory {}", config.data.display()))?;

    let set = RuleSet::load(std::slice::from_ref(&config.rules)).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the rules in {} are not valid:\n{}\n(`trailmark rules validate {}` checks them without starting)",
            config.rules.display(),
            list.join("\n"),
            config.rules.display()
        )
    })?;

    backends::check(&config).await?;
    let capabilities = backends::build(&config).context("setting up the backends")?;
    let query_state = QueryState {
        metadata: capabilities
            .metadata
            .clone()
            .context("no metadata backend configured")?,
        archive: capabilities
            .archive
            .clone()
            .context("no archive backend configured")?,
    };

    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.cache.clone()),
        max_memory_bytes: config.memory_bytes.max(256 << 20),
        ..RuntimeConfig::default()
    })
    .context("starting the plugin runtime")?;
    let plugin_host = Arc::new(PluginHost {
        runtime,
        dir: config.plugins.clone(),
        capabilities,
        default_limits: Limits {
            timeout: config.timeout,
            memory_bytes: config.memory_bytes,
        },
        loaded: Mutex::default(),
    });
    let lanes = plugin_host.lanes(&set).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("cannot bind rules to plugins:\n{}", list.join("\n"))
    })?;

    let journal_dir = config.data.join("journal");
    let journal = Arc::new(
        tokio::task::spawn_blocking({
            let dir = journal_dir.clone();
            let segment_bytes = config.segment_bytes;
            move || {
                Journal::open(
                    &dir,
                    JournalOptions {
                        segment_bytes,
                        ..JournalOptions::default()
                    },
                )
            }
        })
        .await?
        .with_context(|| format!("opening the journal in {}", journal_dir.display()))?,
    );
    let metrics = Arc::new(Metrics::default());
    let dead_letters = Arc::new(
        DeadLetters::open(&config.data.join("dead-letters.sqlite"))
            .context("opening the dead-letter store")?,
    );
    let open = Arc::new(OpenDeliveries::default());
    let outcomes = Arc::new(JournalOutcomes::new(
        journal.clone(),
        open.clone(),
        plugin_host.capabilities.clone(),
    ));
    let dispatcher = Arc::new(Dispatcher::new(
        DispatchOptions {
            concurrency: config.concurrency,
            batch: config.batch,
            backoff: config.backoff,
            lane_capacity: config.lane_capacity,
            max_pending: config.max_pending,
        },
        outcomes.clone(),
        Arc::new(recovery::JournalReadBack {
            journal: journal.clone(),
        }),
        dead_letters,
        metrics.clone(),
    ));
    dispatcher.set_lanes(lanes);
    let rule_count = set.len();
    let pipeline = Arc::new(Pipeline::new(
        journal.clone(),
        ActiveRules { version: 1, set },
        dispatcher.clone(),
        open,
        outcomes.clone(),
        metrics.clone(),
    ));

    tokio::task::spawn_blocking({
        let pipeline = pipeline.clone();
        move || {
            let owed = recovery::scan(pipeline.journal(), &pipeline)?;
            recovery::requeue(owed, &pipeline)
        }
    })
    .await?
    .context("reading the journal for recovery")?;

    let reload_status = Arc::new(Mutex::new(admin::ReloadStatus {
        at: now_ms(),
        ok: true,
        errors: Vec::new(),
    }));
    let reloader = Arc::new(reload::Reloader {
        rules_dir: config.rules.clone(),
        plugins: plugin_host.clone(),
        pipeline: pipeline.clone(),
        metrics: metrics.clone(),
        status: reload_status.clone(),
        lock: tokio::sync::Mutex::new(()),
    });
    watch::on_sighup(reloader.clone());
    let _watcher = if config.watch {
        Some(
            watch::start(vec![config.rules.clone(), config.plugins.clone()], reloader.clone())
                .context("watching the rules and plugins directories (set server.watch = false to turn this off)")?,
        )
    } else {
        None
    };
    let intake: Arc<dyn crate::ingest::Intake> = Arc::new(PipelineIntake(pipeline.clone()));
    #[cfg(feature = "aws")]
    let sqs_source = config
        .sqs
        .clone()
        .map(|c| tokio::spawn(sqs::run(c, intake.clone())));
    #[cfg(not(feature = "aws"))]
    let sqs_source: Option<tokio::task::JoinHandle<()>> = None;
    let ingest_state = IngestState {
        intake,
        limits: IngestLimits {
            max_body_bytes: usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX),
            max_depth: config.max_depth,
            max_in_flight_per_principal: config.max_in_flight_per_principal,
            ..IngestLimits::default()
        },
        account: config.account.clone(),
        region: config.region.clone(),
    };
    let credentials = Arc::new(authenticator(&config)?);
    let auth_state = Arc::new(auth::AuthState {
        authenticator: credentials.clone(),
        intake: ingest_state.intake.clone(),
        metrics: metrics.clone(),
        max_body_bytes: ingest_state.limits.max_body_bytes,
        body_budget: Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(config.auth_body_budget).unwrap_or(usize::MAX),
        )),
        refusals: refusals::RefusalLog::new(config.refusal_interval, refusals::DEFAULT_MAX_KEYS),
        account: config.account.clone(),
        region: config.region.clone(),
    });
    let refusal_flusher = tokio::spawn({
        let auth_state = auth_state.clone();
        let every =
            (config.refusal_interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                auth_state.flush_refusals().await;
            }
        }
    });
    let checkpointer = Arc::new(
        checkpoints::Checkpointer::open(&config.data, journal.clone())
            .context("setting up journal checkpoints")?,
    );
    let viewer = config.viewer.then(|| {
        trailmark_viewer::router(Arc::new(
            trailmark_viewer::ViewerState::new(
                query_state.metadata.clone(),
                query_state.archive.clone(),
                Arc::new(viewer::HostTrail {
                    pipeline: pipeline.clone(),
                    auth: auth_state.clone(),
                    checkpoints: checkpointer.clone(),
                    data: config.data.clone(),
                    metrics: metrics.clone(),
                    reload: reload_status.clone(),
                }),
                credentials,
            )
            .with_secure_cookies(config.viewer_secure_cookies),
        ))
    });
    let export_api = viewer::export_router(viewer::ExportApi {
        metadata: query_state.metadata.clone(),
        archive: query_state.archive.clone(),
        auth: auth_state.clone(),
    });
    let app = crate::ingest::router(ingest_state)
        .merge(crate::query::router(query_state))
        .merge(export_api)
        .merge(admin::router(admin::AdminState {
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            started,
            data_dir: config.data.clone(),
            reload: reload_status,
            reloader,
        }))
        .layer(axum::middleware::from_fn_with_state(
            auth_state.clone(),
            auth::guard,
        ));
    // Merged after the guard: the viewer's pages (`GET /`, `/ui/...`) sign
    // in with a session cookie instead of a bearer token. `POST /` stays
    // the guarded PutEvents endpoint.
    let app = match viewer {
        Some(viewer) => app.merge(viewer),
        None => app,
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // One line on stdout that people and tests can read.
    println!(
        "trailmark listening on http://{addr} (data in {}, {} rule(s) from {}, plugins from {})",
        config.data.display(),
        rule_count,
        config.rules.display(),
        config.plugins.display()
    );
    if config.viewer {
        println!(
            "trailmark viewer at http://{addr}/ (sign in with a token holding the view, query or admin scope)"
        );
    }
    info!(%addr, data = %config.data.display(), rules = rule_count, "serving");

    let retention = tokio::spawn(retention_loop(pipeline.clone(), config.retention));
    let checkpointing = tokio::spawn(checkpointer.clone().run(config.checkpoint_interval));
    info!(
        max_connections = config.listener.max_connections,
        header_timeout_ms = config.listener.header_timeout.as_millis() as u64,
        body_timeout_ms = config.listener.body_timeout.as_millis() as u64,
        idle_timeout_ms = config.listener.idle_timeout.as_millis() as u64,
        "HTTP limits"
    );
    listener::serve(
        listener,
        app,
        config.listener.clone(),
        metrics.clone(),
        shutdown_signal(),
    )
    .await;
    retention.abort();
    refusal_flusher.abort();
    // Refusals still being counted go into the journal before it closes.
    auth_state.flush_refusals_now().await;
    if let Some(task) = sqs_source {
        task.abort();
    }

    info!("stopped accepting; finishing running deliveries");
    let left = dispatcher.drain(DRAIN_TIMEOUT).await;
    if left > 0 {
        warn!(
            left,
            "deliveries still pending at shutdown stay in the journal and run after the next start"
        );
    }
    outcomes.close();
    checkpointing.abort();
    match tokio::task::spawn_blocking(move || checkpointer.checkpoint()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!(
            error = format!("{e:#}"),
            "cannot checkpoint the journal head at shutdown"
        ),
        Err(e) => warn!(error = %e, "checkpoint task failed at shutdown"),
    }
    drop(pipeline);
    match Arc::try_unwrap(journal) {
        Ok(j) => j.close().context("closing the journal")?,
        Err(_) => info!("journal still shared at shutdown; it flushes on drop"),
    }
    Ok(())
}

/// The credentials the server accepts: those configured in `[auth]`, or
/// (none configured) the admin token and access key in the data directory,
/// created on first start.
fn authenticator(config: &Config) -> Result<trailmark_auth::Authenticator> {
    use trailmark_auth::{AuthOptions, Authenticator, LocalCredentials};
    let configured = !config.auth.tokens.is_empty() || !config.auth.access_keys.is_empty();
    let authenticator = if configured {
        Authenticator::from_config(&config.auth).map_err(|e| anyhow::anyhow!("[auth] {e}"))?
    } else {
        let (local, created) = LocalCredentials::load_or_create(&config.data)
            .context("setting up the local admin credentials")?;
        if created {
            println!(
                "trailmark created an admin token in {} and an access key pair in {} (mode 0600); \
                 the CLI finds them there, and `AWS_SHARED_CREDENTIALS_FILE={}` lets the AWS CLI sign with the key",
                local.admin_token_path.display(),
                local.access_key_path.display(),
                local.access_key_path.display()
            );
        }
        for (path, mode) in local.insecure_files() {
            warn!(path = %path.display(), mode = format!("{mode:o}"), "credentials file is readable by others; chmod 600 it");
        }
        Authenticator::new(
            &[local.token_spec()],
            &[local.access_key_spec()],
            AuthOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("local credentials: {e}"))?
    };
    for warning in authenticator.warnings() {
        warn!(%warning, "auth configuration");
    }
    Ok(authenticator)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    info!("shutdown requested");
}

/// Drop journal segments whose events are all delivered (none in memory or
/// still to be read back by a lane) and older than the retention period.
async fn retention_loop(pipeline: Arc<Pipeline>, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let p = pipeline.clone();
        let result = tokio::task::spawn_blocking(move || apply_retention(&p, retention)).await;
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => info!(segments = n, "journal retention removed old segments"),
            Ok(Err(e)) => warn!(error = %e, "journal retention failed"),
            Err(e) => warn!(error = %e, "journal retention task failed"),
        }
    }
}

fn apply_retention(pipeline: &Pipeline, retention: Duration) -> Result<usize> {
    let journal = pipeline.journal();
    let cutoff = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    // The first record young enough to keep, or the head if all are old.
    let mut keep_from = journal.head().seq + 1;
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        if record.timestamp_ms >= cutoff {
            keep_from = record.seq;
            break;
        }
    }
    // What lanes still have to read back, then what is in memory: in this
    // order, a delivery moving from one to the other is seen in at least one.
    if let Some(lowest) = pipeline.dispatcher().lowest_behind() {
        keep_from = keep_from.min(lowest);
    }
    if let Some(lowest) = pipeline.open().lowest() {
        keep_from = keep_from.min(lowest);
    }
    if keep_from <= journal.first_seq() {
        return Ok(0);
    }
    if keep_from > journal.head().seq + 1 {
        bail!("retention computed a cut past the journal head");
    }
    Ok(journal.remove_segments_before(keep_from)?)
}
