//! What the audit viewer (`trailmark-viewer`) reads from the running host
//! besides the stores: events by id from the journal, with their sequence
//! number and record hash, and the rules in force.

use std::sync::Arc;

use trailmark_viewer::{JournaledEvent, LiveRule, Trail};

use super::envelope;
use super::pipeline::Pipeline;

/// [`Trail`] over the pipeline's journal and active rule set.
pub struct HostTrail(pub Arc<Pipeline>);

impl Trail for HostTrail {
    fn find_event(&self, id: &str) -> Result<Option<JournaledEvent>, String> {
        let Some((seq, record)) = self.0.find(id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let hash = self
            .0
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
        self.0
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
}
