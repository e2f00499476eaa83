//! What the audit viewer (`trailmark-viewer`) reads from the running host
//! besides the stores: events by id from the journal, with their sequence
//! number and record hash, and the rules in force; and where it hands the
//! sign-ins it refuses, to be journaled as the API's refusals are.

use std::sync::Arc;

use trailmark_viewer::{JournaledEvent, LiveRule, Refusal, Trail};

use super::auth::AuthState;
use super::envelope;
use super::pipeline::Pipeline;

/// [`Trail`] over the pipeline's journal and active rule set.
pub struct HostTrail {
    /// Events and rules.
    pub pipeline: Arc<Pipeline>,
    /// Where refusals are recorded.
    pub auth: Arc<AuthState>,
}

impl Trail for HostTrail {
    fn find_event(&self, id: &str) -> Result<Option<JournaledEvent>, String> {
        let Some((seq, record)) = self.pipeline.find(id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let hash = self
            .pipeline
            .journal()
            .read(seq)
            .map_err(|e| format!("reading journal record {seq}: {e}"))?
            .map(|stored| hex::encode(stored.hash))
            .unwrap_or_default();
        Ok(Some(JournaledEvent {
            seq,
            hash,
            envelope: envelope::to_json(&record.event),
            matched: record.rules,
            ruleset: record.ruleset,
        }))
    }

    fn live_rules(&self) -> Vec<LiveRule> {
        self.pipeline
            .rules()
            .set
            .rules()
            .iter()
            .map(|loaded| LiveRule {
                name: loaded.rule.name.clone(),
                plugin: loaded.rule.plugin.clone(),
                enabled: loaded.rule.enabled,
                pattern: loaded.rule.pattern.clone(),
            })
            .collect()
    }

    fn record_refusal(&self, refusal: Refusal) {
        let auth = self.auth.clone();
        // Called from a handler, on the runtime: journaling waits for the
        // journal, the answer to the browser does not.
        tokio::spawn(async move {
            auth.record_form_refusal(
                &refusal.who,
                refusal.status,
                &refusal.reason,
                refusal.path,
                refusal.remote,
            )
            .await;
        });
    }
}
