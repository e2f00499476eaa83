//! The audit engine, apart from HTTP: the journal, the rule set and its
//! matcher, the dispatch lanes and plugins, outcomes, recovery, retention,
//! replay, checkpoints and the event index, opened from the configuration by
//! one constructor ([`Engine::open`]) and closed by one call
//! ([`Engine::shutdown`]). `server` puts HTTP in front of it.
//!
//! An event's path: [`pipeline`] matches and journals it (group-committed)
//! and queues its deliveries; `crate::dispatch` lanes call the plugins
//! ([`plugins`]) and report to [`outcomes`], which journals what became of
//! each; [`recovery`] finds what is still owed after a restart.

pub mod backends;
pub mod checkpoints;
pub mod correlator;
pub mod deliveries;
pub mod encryption;
pub mod envelope;
pub mod event_index;
pub mod options;
pub mod outcomes;
pub mod pipeline;
pub mod plugins;
pub mod records;
pub mod recovery;
pub mod reload;
pub mod replay;
pub(crate) mod retention;
mod watch;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};
use trailmark_backends::{ArchiveStore, MetadataStore};
use trailmark_journal::Journal;
use trailmark_runtime::{Runtime, RuntimeConfig};

use crate::at_rest::{
    ARCHIVE_KEYS, CORRELATION_KEYS, DEAD_LETTER_KEYS, LAKE_KEYS, SUBJECT_KEYS, SealedArchive,
    Sealer,
};
use crate::config::Config;
use crate::dispatch::{DeadLetters, Dispatcher};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::store_retention::holds::Holds;
use crate::store_retention::pass::{StoreRetention, Unsupported};
use crate::store_retention::settings::Store;
use crate::targets::Targets;
use checkpoints::Checkpointer;
use event_index::EventIndex;
use outcomes::JournalOutcomes;
use pipeline::{ActiveRules, OpenDeliveries, Pipeline};
use plugins::PluginHost;
use reload::{ReloadStatus, Reloader};
use trailmark_backend_api::when::now_ms;

/// How long shutdown waits for running deliveries; the rest stay owed in the
/// journal and run after the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The stores the query API and the viewer read.
#[derive(Clone)]
pub struct Stores {
    /// Change records.
    pub metadata: Arc<dyn MetadataStore>,
    /// Entity bodies.
    pub archive: Arc<dyn ArchiveStore>,
}

/// The running engine.
pub struct Engine {
    /// Ingest → journal → dispatch.
    pub pipeline: Arc<Pipeline>,
    /// Rule and plugin reloads (the watcher, SIGHUP, the admin API).
    pub reloader: Arc<Reloader>,
    /// The last reload's outcome.
    pub reload_status: Arc<Mutex<ReloadStatus>>,
    /// Signed checkpoints of the journal head.
    pub checkpointer: Arc<Checkpointer>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// What the query API and viewer read.
    pub stores: Stores,
    /// How many rules were loaded at start.
    pub rule_count: usize,
    /// The lake exporter (`[lake] enabled`, the default).
    pub lake: Option<Arc<crate::lake::LakeExport>>,
    /// Seals the subject keys (`[subjects]`) with the key-encryption key when
    /// `[encryption]` is on; reads plaintext ones either way.
    pub subject_keys: Arc<Sealer>,
    /// Legal holds (`/v1/admin/holds`), which suspend store retention.
    pub holds: Arc<Holds>,
    /// Seals the correlation snapshot when `[encryption]` is on, and how
    /// often it is saved.
    correlation_snapshots: (Arc<Sealer>, Duration),
    /// Retention of the metadata store and the archive, when `[retention]`
    /// removes anything, and how often it runs.
    store_retention: Option<(Arc<StoreRetention>, Duration)>,
    data: PathBuf,
    journal: Arc<Journal>,
    dispatcher: Arc<Dispatcher>,
    outcomes: Arc<JournalOutcomes>,
    retention: Duration,
    checkpoint_interval: Duration,
    background: Vec<JoinHandle<()>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Engine {
    /// Open everything `config` names: the data directory, rules, backends
    /// (checked first), plugins, journal, dead letters, event index; recover
    /// what the journal says is still owed; watch the rules and plugins.
    pub async fn open(config: &Config) -> Result<Engine> {
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

        let catalog = crate::targets::load(&config.rules).map_err(|errors| {
            anyhow::anyhow!(
                "the http destinations and connections in {} are not valid:\n{}",
                config.rules.display(),
                errors.join("\n")
            )
        })?;
        let undefined =
            crate::targets::undefined_grants(&set, &|n| catalog.destinations.contains_key(n));
        if !undefined.is_empty() {
            anyhow::bail!(
                "the rules in {} are not valid:\n{}",
                config.rules.display(),
                undefined
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        let metrics = Arc::new(Metrics::default());
        let targets = Arc::new(Targets::new(catalog, metrics.clone()));

        let keyring = tokio::task::spawn_blocking({
            let encryption = config.encryption.clone();
            let data = config.data.clone();
            move || encryption.keyring(&data, true)
        })
        .await?
        .context("loading the key-encryption key ([encryption] key-file)")?;
        if config.encryption.enabled && config.lake.enabled {
            info!(
                "[encryption] seals the lake's bodies too (the entity's data, or a non-change \
                 event's detail); its other columns stay plaintext for query engines, and \
                 `author` is a token only when it is a [subjects] path"
            );
        }
        let sealer = |store: &str| {
            Arc::new(Sealer::new(
                &config.data,
                store,
                keyring.clone(),
                config.encryption.key_file(&config.data),
            ))
        };

        // A store with retention on a remote backend (AWS: no local path)
        // is refused before the backends are reached: TTL and lifecycle
        // rules do this there.
        for (store, type_name, local) in [
            (
                Store::Metadata,
                config.metadata.type_name(),
                config.metadata.local_path(&config.data),
            ),
            (
                Store::Archive,
                config.archive.type_name(),
                config.archive.local_path(&config.data),
            ),
        ] {
            if config.retention.applies_to(store) && local.is_none() {
                return Err(Unsupported::new(store, type_name).into());
            }
        }
        backends::check(config).await?;
        let mut capabilities = backends::build(config).context("setting up the backends")?;
        capabilities.http = Some(targets.clone());
        // Bodies are sealed before any backend sees them, and opened for every reader
        // (plugins with a read grant, history, the viewer, export).
        capabilities.archive = capabilities.archive.map(|inner| {
            Arc::new(SealedArchive::new(inner, sealer(ARCHIVE_KEYS))) as Arc<dyn ArchiveStore>
        });
        let stores = Stores {
            metadata: capabilities
                .metadata
                .clone()
                .context("no metadata backend configured")?,
            archive: capabilities
                .archive
                .clone()
                .context("no archive backend configured")?,
        };

        // Refused here, before anything runs, when a store with retention
        // cannot apply it (AWS backends, the `files` archive layout).
        let holds = Arc::new(
            Holds::open(&config.data).context("opening the legal holds (data/holds.sqlite)")?,
        );
        let store_retention = StoreRetention::new(
            &config.retention,
            holds.clone(),
            &config.data,
            (&stores.metadata, config.metadata.type_name()),
            (&stores.archive, config.archive.type_name()),
        )?
        .map(|r| (Arc::new(r), config.retention.every));

        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(config.runtime.cache_dir(&config.data)),
            max_memory_bytes: config.runtime.memory.max(256 << 20),
            ..RuntimeConfig::default()
        })
        .context("starting the plugin runtime")?;
        let plugin_host = Arc::new(PluginHost {
            runtime,
            dir: config.plugins.clone(),
            capabilities,
            default_limits: config.runtime.limits(),
            loaded: Mutex::default(),
        });
        // A rule whose plugin cannot be bound does not keep the service
        // down: it is held (its events are journaled and retried) until a
        // reload fixes it, and said loudly here, in status and in /readyz.
        let (lanes, held) = plugin_host.lanes_or_held(&set);
        for problem in &held {
            error!(
                rule = %problem.rule,
                file = %problem.file.display(),
                problem = %problem.message,
                "rule held: its plugin cannot be bound; its events are journaled and retried \
                 until a reload (a fixed plugin or rule file) binds it"
            );
        }

        let journal_dir = config.data.join("journal");
        let journal = Arc::new(
            tokio::task::spawn_blocking({
                let dir = journal_dir.clone();
                let mut options = config.journal.journal_options();
                options.encryption = keyring.clone();
                move || -> Result<Journal> { Ok(Journal::open(&dir, options)?) }
            })
            .await?
            .with_context(|| format!("opening the journal in {}", journal_dir.display()))?,
        );
        let dead_letters = Arc::new(
            DeadLetters::open(&config.data.join("dead-letters.sqlite"))
                .context("opening the dead-letter store")?
                .sealed_by(sealer(DEAD_LETTER_KEYS)),
        );
        let open = Arc::new(OpenDeliveries::default());
        let outcomes = Arc::new(JournalOutcomes::new(
            journal.clone(),
            open.clone(),
            plugin_host.capabilities.clone(),
        ));
        let dispatcher = Arc::new(Dispatcher::new(
            config.dispatch,
            outcomes.clone(),
            Arc::new(recovery::JournalReadBack {
                journal: journal.clone(),
            }),
            dead_letters,
            metrics.clone(),
        ));
        dispatcher.set_lanes(lanes);
        let rule_count = set.len();
        let event_index = Arc::new(
            EventIndex::open(
                &config.data.join("event-index"),
                journal.first_seq()..=journal.head().seq,
            )
            .context("opening the event index")?,
        );
        let pipeline = Arc::new(
            Pipeline::new(
                journal.clone(),
                ActiveRules { version: 1, set },
                dispatcher.clone(),
                open,
                outcomes.clone(),
                event_index,
                metrics.clone(),
            )
            .with_correlation(
                crate::correlation::FireOrigin {
                    account: config.account.clone(),
                    region: config.region.clone(),
                },
                config.correlation.clone(),
            ),
        );

        tokio::task::spawn_blocking({
            let pipeline = pipeline.clone();
            move || {
                let owed = recovery::scan(pipeline.journal(), &pipeline)?;
                recovery::requeue(owed, &pipeline)
            }
        })
        .await?
        .context("reading the journal for recovery")?;
        // Correlation windows, restored from their last snapshot and caught
        // up from the journal (or rebuilt from it); fires a crash kept from
        // being journaled are journaled now, the others skipped.
        let correlation_sealer = sealer(CORRELATION_KEYS);
        let fires = tokio::task::spawn_blocking({
            let pipeline = pipeline.clone();
            let sealer = correlation_sealer.clone();
            let path = crate::correlation::snapshot_path(&config.data);
            move || {
                let active = pipeline.rules();
                let correlator = pipeline.correlator();
                let saved = if correlator.is_empty() {
                    None
                } else {
                    crate::correlation::load_snapshot(&path, &sealer).unwrap_or_else(|e| {
                        warn!(error = %e, "correlation snapshot unreadable; the windows are rebuilt from the journal");
                        None
                    })
                };
                correlator.catch_up(pipeline.journal(), &active.set, now_ms(), saved)
            }
        })
        .await?;
        pipeline.journal_fires(fires);

        let reload_status = Arc::new(Mutex::new(reload::ReloadStatus {
            at: now_ms(),
            ok: held.is_empty(),
            errors: held.iter().map(|p| format!("{p} (rule held)")).collect(),
        }));
        let reloader = Arc::new(reload::Reloader {
            rules_dir: config.rules.clone(),
            plugins: plugin_host.clone(),
            targets,
            pipeline: pipeline.clone(),
            metrics: metrics.clone(),
            status: reload_status.clone(),
            lock: tokio::sync::Mutex::new(()),
        });
        watch::on_sighup(reloader.clone());
        let _watcher = if config.watch {
            Some(
            watch::start(vec![(config.rules.clone(), true), (config.plugins.clone(), false)], reloader.clone())
                .context("watching the rules and plugins directories (set server.watch = false to turn this off)")?,
        )
        } else {
            None
        };
        let lake = if config.lake.enabled {
            // Blocking: it reads the marker, sweeps temp files, and an S3
            // lake builds its own client runtime.
            let (pipeline, settings, data) =
                (pipeline.clone(), config.lake.clone(), config.data.clone());
            let bodies = keyring.is_some().then(|| sealer(LAKE_KEYS));
            let export = tokio::task::spawn_blocking(move || {
                crate::lake::LakeExport::start(pipeline, &settings, &data, bodies)
            })
            .await?
            .context("starting the lake export ([lake] in trailmark.toml)")?;
            Some(Arc::new(export))
        } else {
            None
        };
        Ok(Engine {
            lake,
            subject_keys: sealer(SUBJECT_KEYS),
            correlation_snapshots: (correlation_sealer, config.correlation.snapshot_every),
            holds,
            store_retention,
            pipeline,
            reloader,
            reload_status,
            checkpointer: Arc::new(
                Checkpointer::open(&config.data, journal.clone())
                    .context("setting up journal checkpoints")?,
            ),
            metrics,
            stores,
            rule_count,
            data: config.data.clone(),
            journal,
            dispatcher,
            outcomes,
            retention: config.journal.retention,
            checkpoint_interval: config.journal.checkpoint_interval,
            background: Vec::new(),
            _watcher,
        })
    }

    /// The data directory.
    pub fn data(&self) -> &PathBuf {
        &self.data
    }

    /// Start the background work: retention and checkpoints at intervals.
    pub fn start(&mut self) {
        self.background.push(tokio::spawn(retention::retention_loop(
            self.pipeline.clone(),
            self.retention,
            self.lake.as_ref().map(|lake| lake.retain_from()),
        )));
        self.background.push(tokio::spawn(
            self.checkpointer.clone().run(self.checkpoint_interval),
        ));
        self.background
            .push(tokio::spawn(correlation_clock(self.pipeline.clone())));
        let (sealer, every) = self.correlation_snapshots.clone();
        self.background.push(tokio::spawn(correlation_snapshots(
            self.pipeline.clone(),
            crate::correlation::snapshot_path(&self.data),
            sealer,
            every,
        )));
        if let Some((retention, every)) = &self.store_retention {
            self.background
                .push(tokio::spawn(crate::store_retention::retention_loop(
                    retention.clone(),
                    self.pipeline.clone(),
                    *every,
                )));
        }
    }

    /// Finish: let running deliveries end (for a while; what is left stays
    /// owed in the journal), journal the outcomes, sign a last checkpoint and
    /// close the journal. Call once producers have stopped.
    pub async fn shutdown(self) -> Result<()> {
        info!("finishing running deliveries");
        let left = self.dispatcher.drain(DRAIN_TIMEOUT).await;
        if left > 0 {
            warn!(
                left,
                "deliveries still pending at shutdown stay in the journal and run after the next start"
            );
        }
        self.outcomes.close();
        for task in &self.background {
            task.abort();
        }
        // The windows as they stand, so the next start replays nothing.
        let (sealer, _) = self.correlation_snapshots.clone();
        save_correlation_snapshot(
            &self.pipeline,
            crate::correlation::snapshot_path(&self.data),
            sealer,
        )
        .await;
        if let Some(lake) = self.lake.clone() {
            // Its open files closed, so a stop loses no time to the lake.
            let _ = tokio::task::spawn_blocking(move || lake.stop()).await;
        }
        let checkpointer = self.checkpointer.clone();
        match tokio::task::spawn_blocking(move || checkpointer.checkpoint()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(
                error = format!("{e:#}"),
                "cannot checkpoint the journal head at shutdown"
            ),
            Err(e) => warn!(error = %e, "checkpoint task failed at shutdown"),
        }
        let Engine {
            pipeline,
            reloader,
            checkpointer,
            journal,
            ..
        } = self;
        drop((pipeline, reloader, checkpointer));
        match Arc::try_unwrap(journal) {
            Ok(j) => j.close().context("closing the journal")?,
            // Handlers of connections still closing, or the SIGHUP task, hold
            // it: make everything written durable now; the process exit
            // releases the rest.
            Err(shared) => {
                shared.sync().context("syncing the journal")?;
                tracing::debug!("journal synced at shutdown; still referenced, closed at exit");
            }
        }
        Ok(())
    }
}

/// How long a snapshot waits for the fires made before it to be journaled.
const SNAPSHOT_FIRES_WAIT: Duration = Duration::from_secs(10);

/// Every `every`, save the correlation windows (when there are correlation
/// rules) for the next start.
async fn correlation_snapshots(
    pipeline: Arc<Pipeline>,
    path: PathBuf,
    sealer: Arc<Sealer>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        save_correlation_snapshot(&pipeline, path.clone(), sealer.clone()).await;
    }
}

/// Take the correlation windows ([`Pipeline::correlation_snapshot`]) and
/// write them to `path` off the async threads; a failure is logged, and the
/// previous snapshot stays.
async fn save_correlation_snapshot(pipeline: &Arc<Pipeline>, path: PathBuf, sealer: Arc<Sealer>) {
    let Some(saved) = pipeline.correlation_snapshot(SNAPSHOT_FIRES_WAIT).await else {
        return;
    };
    let through = saved.through;
    let written = tokio::task::spawn_blocking(move || {
        crate::correlation::save_snapshot(&path, &saved, &sealer)
    })
    .await;
    match written {
        Ok(Ok(())) => {
            pipeline.snapshot_saved(through);
            tracing::debug!(through, "correlation snapshot saved");
        }
        Ok(Err(e)) => warn!(error = %e, "correlation snapshot not saved"),
        Err(e) => warn!(error = %e, "correlation snapshot task failed"),
    }
}

/// Once a second, move correlation time to now: windows that closed with
/// no event after them (absence, tumbling, session) are decided.
async fn correlation_clock(pipeline: Arc<Pipeline>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let fires = pipeline
            .correlator()
            .advance(trailmark_backend_api::when::now_ms());
        pipeline.journal_fires(fires);
    }
}
