//! `trailmark serve`: the service, assembled from the library's parts.
//!
//! ingest → journal (durable, group-committed) → matcher → dispatch lanes →
//! plugin runtime → backends; query and admin APIs beside them.

pub mod access;
pub mod access_log;
pub mod admin;
pub mod api_error;
pub mod auth;
pub mod backup;
pub mod dead_letters;
pub mod lake;
pub mod listener;
pub mod openapi;
pub mod params;
pub mod refusals;
#[cfg(feature = "aws")]
mod sqs;
pub mod viewer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tracing::{info, warn};

use crate::config::Config;
use crate::engine::Engine;
use crate::engine::pipeline::PipelineIntake;
use crate::ingest::IngestState;
use crate::query::QueryState;
use trailmark_backends::{ArchiveStore, MetadataStore};

/// Run the server until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<()> {
    let started = Instant::now();
    let mut engine = Engine::open(&config).await?;
    let pipeline = engine.pipeline.clone();
    let metrics = engine.metrics.clone();
    let intake: Arc<dyn crate::ingest::Intake> = Arc::new(PipelineIntake(pipeline.clone()));
    // Crypto-shredding: producers' events are sealed per subject before the
    // pipeline sees them; the query API opens the tokens on the way out.
    let subjects = crate::subjects::Subjects::open(
        &config.subjects,
        &config.data,
        Some(engine.subject_keys.clone()),
    )
    .context("opening the subject key store")?;
    let intake: Arc<dyn crate::ingest::Intake> = match &subjects {
        Some(subjects) => Arc::new(crate::subjects::intake::SealingIntake {
            inner: intake,
            subjects: subjects.clone(),
        }),
        None => intake,
    };
    #[cfg(feature = "aws")]
    let sqs_source = config
        .ingest
        .sqs
        .clone()
        .map(|c| tokio::spawn(sqs::run(c, intake.clone())));
    #[cfg(not(feature = "aws"))]
    let sqs_source: Option<tokio::task::JoinHandle<()>> = None;
    let ingest_intake = intake.clone();
    let ingest_state = IngestState {
        intake,
        limits: config.ingest.limits(),
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
    let query_state = QueryState {
        metadata: engine.stores.metadata.clone(),
        archive: engine.stores.archive.clone(),
        retention: Arc::new(config.retention.clone()),
    };
    // The viewer reads opened values and finds a sealed author by its value.
    let (viewer_metadata, viewer_archive): (Arc<dyn MetadataStore>, Arc<dyn ArchiveStore>) =
        match &subjects {
            Some(s) => (
                Arc::new(crate::subjects::opened::OpenedMetadata {
                    inner: query_state.metadata.clone(),
                    subjects: s.clone(),
                }),
                Arc::new(crate::subjects::opened::OpenedArchive {
                    inner: query_state.archive.clone(),
                    subjects: s.clone(),
                }),
            ),
            None => (query_state.metadata.clone(), query_state.archive.clone()),
        };
    let viewer_state = config.viewer.enabled.then(|| {
        Arc::new(
            trailmark_viewer::ViewerState::new(
                viewer_metadata,
                viewer_archive,
                Arc::new(viewer::HostTrail {
                    pipeline: pipeline.clone(),
                    auth: auth_state.clone(),
                    checkpoints: engine.checkpointer.clone(),
                    data: config.data.clone(),
                    metrics: metrics.clone(),
                    reload: engine.reload_status.clone(),
                    checkpoint_interval: config.journal.checkpoint_interval,
                    subjects: subjects.clone(),
                }),
                credentials,
            )
            .with_secure_cookies(config.viewer.secure_cookies),
        )
    });
    let viewer = viewer_state.clone().map(trailmark_viewer::router);
    let viewer_for_audit = viewer_state.clone();
    let backup_source = Arc::new(crate::backup::Source {
        data: config.data.clone(),
        journal: pipeline.journal().clone(),
        checkpointer: engine.checkpointer.clone(),
        metadata: (
            config.metadata.type_name().to_owned(),
            config.metadata.local_path(&config.data),
        ),
        archive: (
            config.archive.type_name().to_owned(),
            config.archive.local_path(&config.data),
        ),
    });
    let backup_status = Arc::new(crate::backup::schedule::BackupStatus::new(
        config.backup.every,
    ));
    let export_api = viewer::export_router(viewer::ExportApi {
        metadata: query_state.metadata.clone(),
        archive: query_state.archive.clone(),
        auth: auth_state.clone(),
    });
    let ingest = crate::ingest::router(ingest_state);
    let ingest = match &subjects {
        // `GET /v1/events/{id}` shows the opened values, as the query API does.
        Some(s) => ingest.layer(axum::middleware::from_fn_with_state(
            s.clone(),
            crate::subjects::http::open_tokens,
        )),
        None => ingest,
    };
    let app = ingest
        .merge(match &subjects {
            Some(s) => crate::query::router(query_state).layer(
                axum::middleware::from_fn_with_state(s.clone(), crate::subjects::http::open_tokens),
            ),
            None => crate::query::router(query_state),
        })
        .merge(crate::subjects::http::router(subjects.clone()))
        .merge(crate::store_retention::http::router(engine.holds.clone()))
        .merge(export_api)
        .merge(admin::router(admin::AdminState {
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            started,
            data_dir: config.data.clone(),
            reload: engine.reload_status.clone(),
            reloader: engine.reloader.clone(),
            viewer: viewer_state,
            backup: backup_status.clone(),
            subjects: subjects.clone(),
        }))
        .merge(backup::router(backup::BackupApi {
            source: backup_source.clone(),
            status: backup_status.clone(),
            settings: Arc::new(config.backup.clone()),
        }))
        .merge(access_log::router(pipeline.clone()))
        .merge(lake::router(engine.lake.clone()))
        .merge(openapi::router());
    // Inside the guard: every authenticated read of the trail is journaled
    // before it is answered (`server.audit-reads`, on unless turned off).
    let access_audit = Arc::new(access::AccessAudit {
        intake: ingest_intake.clone(),
        account: config.account.clone(),
        region: config.region.clone(),
        metrics: metrics.clone(),
    });
    let app = if config.audit_reads {
        app.layer(axum::middleware::from_fn_with_state(
            access_audit.clone(),
            access::audit,
        ))
    } else {
        warn!("server.audit-reads is off: reads of the trail are not journaled");
        app
    };
    // Before the read is audited: the access record holds an author's token.
    let app = match &subjects {
        Some(s) => app.layer(axum::middleware::from_fn_with_state(
            s.clone(),
            crate::subjects::http::seal_author_param,
        )),
        None => app,
    };
    let app = app.layer(axum::middleware::from_fn_with_state(
        auth_state.clone(),
        auth::guard,
    ));
    // Merged after the guard: the viewer's pages (`GET /`, `/ui/...`) sign
    // in with a session cookie instead of a bearer token. `POST /` stays
    // the guarded PutEvents endpoint.
    // Its pages that show trail data are audited as API reads are.
    let app = match (viewer, viewer_for_audit) {
        (Some(viewer), Some(state)) if config.audit_reads => {
            app.merge(viewer.layer(axum::middleware::from_fn_with_state(
                Arc::new(access::ViewerAudit {
                    audit: access_audit,
                    viewer: state,
                }),
                access::audit_viewer,
            )))
        }
        (Some(viewer), _) => app.merge(viewer),
        (None, _) => app,
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // One line on stdout that people and tests can read.
    println!(
        "trailmark listening on http://{addr} (data in {}, {} rule(s) from {}, plugins from {})",
        config.data.display(),
        engine.rule_count,
        config.rules.display(),
        config.plugins.display()
    );
    if config.viewer.enabled {
        println!(
            "trailmark viewer at http://{addr}/ (sign in with a token holding the view, query or admin scope)"
        );
    }
    info!(%addr, data = %config.data.display(), rules = engine.rule_count, "serving");

    engine.start();
    match crate::backup::journal_pending_restore(
        &config.data,
        ingest_intake.as_ref(),
        &config.account,
        &config.region,
    )
    .await
    {
        Ok(Some(id)) => {
            info!(event_id = %id, "journaled the restore this data directory came from")
        }
        Ok(None) => {}
        Err(e) => {
            warn!(error = %e, "cannot journal the restore event yet; trying again at the next start")
        }
    }
    let scheduled_backups = config.backup.schedule().map(|(every, to)| {
        tokio::spawn(crate::backup::schedule::run_schedule(
            backup_source.clone(),
            backup_status.clone(),
            every,
            to,
            crate::backup::BackupOptions {
                keep: config.backup.keep,
                secrets: config.backup.include_secrets,
            },
        ))
    });
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
    refusal_flusher.abort();
    if let Some(task) = scheduled_backups {
        task.abort();
    }
    // Refusals still being counted go into the journal before it closes.
    auth_state.flush_refusals_now().await;
    if let Some(task) = sqs_source {
        task.abort();
    }

    info!("stopped accepting");
    drop(pipeline);
    engine.shutdown().await?;
    Ok(())
}

/// The credentials the server accepts: those configured in `[auth]`, or
/// (none configured) the admin token and access key in the data directory,
/// created on first start.
fn authenticator(config: &Config) -> Result<trailmark_auth::Authenticator> {
    use trailmark_auth::{AuthOptions, Authenticator, LocalCredentials};
    let configured = !config.auth.tokens.is_empty() || !config.auth.access_keys.is_empty();
    let authenticator = if configured {
        let local = config.data.join(trailmark_auth::ADMIN_TOKEN_FILE);
        if local.exists() {
            warn!(
                admin_token = %local.display(),
                "[auth] is configured, so only its tokens and access keys are accepted: the data \
                 directory's admin-token and access-key no longer work (give the CLI a token from \
                 [auth] with --token or TRAILMARK_TOKEN)"
            );
        }
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
