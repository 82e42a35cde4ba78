//! `--feature-gates` (etcd 3.6): named on/off switches for server features,
//! and the etcd 3.5 `--experimental-*` boolean flags that 3.6 turned into
//! gates.
//!
//! A gate is on when `--feature-gates` says so, else when its experimental
//! flag says so, else by its default. Giving both for one gate is refused,
//! with etcd's message. `AllAlpha=` / `AllBeta=` set every gate of that
//! stage that `--feature-gates` does not name itself. Unknown gate names are
//! refused, as etcd refuses them.
//!
//! What etcd-rs does with each gate ([`GateSupport`]): lease checkpoints are
//! always on (see `crate::lease`), so `LeaseCheckpoint` and
//! `LeaseCheckpointPersist` describe what already happens; the shared read
//! buffer of `TxnModeWriteWithSharedBuffer` is a bbolt tuning with nothing
//! to switch here. The corruption checks, NOT_SERVING during defragment and
//! the peer source address are not implemented: turning them on is logged
//! and ignored, like a tuning flag etcd-rs does not have.

use std::collections::BTreeMap;

use super::value::{go_quote, parse_bool};

/// A gate's maturity, shown in `--help` and used by `AllAlpha`/`AllBeta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Alpha,
    Beta,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Alpha => "ALPHA",
            Stage::Beta => "BETA",
        }
    }
}

/// Whether etcd-rs has a gate's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateSupport {
    /// Honoured (or what etcd-rs always does).
    Supported,
    /// Turning it on is logged as not supported and otherwise ignored.
    Ignored,
}

/// etcd 3.6's server feature gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gate {
    CompactHashCheck,
    InitialCorruptCheck,
    LeaseCheckpoint,
    LeaseCheckpointPersist,
    SetMemberLocalAddr,
    StopGrpcServiceOnDefrag,
    TxnModeWriteWithSharedBuffer,
}

/// One row of the gate table.
pub struct GateSpec {
    pub gate: Gate,
    /// The name `--feature-gates` uses.
    pub name: &'static str,
    pub default: bool,
    pub stage: Stage,
    /// The etcd 3.5 flag (and config-file key) that 3.6 turned into this gate.
    pub experimental_flag: Option<&'static str>,
    pub support: GateSupport,
}

/// Every gate, sorted by name (the order `--help` lists them in), which is
/// also [`Gate`]'s order: [`spec`] indexes this table by the enum.
pub const GATES: &[GateSpec] = &[
    GateSpec {
        gate: Gate::CompactHashCheck,
        name: "CompactHashCheck",
        default: false,
        stage: Stage::Alpha,
        experimental_flag: Some("experimental-compact-hash-check-enabled"),
        support: GateSupport::Ignored,
    },
    GateSpec {
        gate: Gate::InitialCorruptCheck,
        name: "InitialCorruptCheck",
        default: false,
        stage: Stage::Alpha,
        experimental_flag: Some("experimental-initial-corrupt-check"),
        support: GateSupport::Ignored,
    },
    GateSpec {
        gate: Gate::LeaseCheckpoint,
        name: "LeaseCheckpoint",
        default: false,
        stage: Stage::Alpha,
        experimental_flag: Some("experimental-enable-lease-checkpoint"),
        support: GateSupport::Supported,
    },
    GateSpec {
        gate: Gate::LeaseCheckpointPersist,
        name: "LeaseCheckpointPersist",
        default: false,
        stage: Stage::Alpha,
        experimental_flag: Some("experimental-enable-lease-checkpoint-persist"),
        support: GateSupport::Supported,
    },
    GateSpec {
        gate: Gate::SetMemberLocalAddr,
        name: "SetMemberLocalAddr",
        default: false,
        stage: Stage::Alpha,
        experimental_flag: None,
        support: GateSupport::Ignored,
    },
    GateSpec {
        gate: Gate::StopGrpcServiceOnDefrag,
        name: "StopGRPCServiceOnDefrag",
        default: false,
        stage: Stage::Alpha,
        experimental_flag: Some("experimental-stop-grpc-service-on-defrag"),
        support: GateSupport::Ignored,
    },
    GateSpec {
        gate: Gate::TxnModeWriteWithSharedBuffer,
        name: "TxnModeWriteWithSharedBuffer",
        default: true,
        stage: Stage::Beta,
        experimental_flag: Some("experimental-txn-mode-write-with-shared-buffer"),
        support: GateSupport::Supported,
    },
];

/// The switches that set every gate of one stage.
const ALL_ALPHA: &str = "AllAlpha";
const ALL_BETA: &str = "AllBeta";

pub fn spec(gate: Gate) -> &'static GateSpec {
    // GATES lists the gates in the enum's order (checked by a test).
    &GATES[gate as usize]
}

/// The gate settings of one configuration, by where each came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// What `--feature-gates` set, including gates filled in by
    /// `AllAlpha`/`AllBeta`.
    gates: BTreeMap<Gate, bool>,
    /// `AllAlpha`/`AllBeta` as given, kept for [`FeatureGates::conflicts`]
    /// and the startup log.
    all_stage: BTreeMap<&'static str, bool>,
    /// What the etcd 3.5 experimental flags (or config-file keys) set.
    flags: BTreeMap<Gate, bool>,
}

impl FeatureGates {
    /// Whether `gate` is on.
    pub fn enabled(&self, gate: Gate) -> bool {
        self.gates
            .get(&gate)
            .or_else(|| self.flags.get(&gate))
            .copied()
            .unwrap_or(spec(gate).default)
    }

    /// Whether `--feature-gates` (rather than an experimental flag or the
    /// default) decided `gate`.
    pub fn set_by_gates(&self, gate: Gate) -> bool {
        self.gates.contains_key(&gate)
    }

    /// Applies one `--feature-gates` value (`Name=bool,...`), merging with
    /// what earlier values set; `Err` is etcd's reason text.
    pub fn set_gates(&mut self, value: &str) -> Result<(), String> {
        let mut named = Vec::new();
        for item in value.split(',').filter(|s| !s.is_empty()) {
            let (key, raw) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => return Err(format!("missing bool value for {}", item.trim())),
            };
            let on = parse_bool(raw).map_err(|_| {
                format!(
                    "invalid value of {key}={raw}, err: strconv.ParseBool: parsing {}: invalid syntax",
                    go_quote(raw)
                )
            })?;
            named.push((key, on));
        }
        // Checked first so a bad name changes nothing, as in etcd.
        for (key, _) in &named {
            if *key != ALL_ALPHA && *key != ALL_BETA && !GATES.iter().any(|s| s.name == *key) {
                return Err(format!("unrecognized feature gate: {key}"));
            }
        }
        let mut stages = Vec::new();
        for (key, on) in named {
            match key {
                ALL_ALPHA => stages.push((ALL_ALPHA, Stage::Alpha, on)),
                ALL_BETA => stages.push((ALL_BETA, Stage::Beta, on)),
                name => {
                    if let Some(s) = GATES.iter().find(|s| s.name == name) {
                        self.gates.insert(s.gate, on);
                    }
                }
            }
        }
        // A stage switch fills only the gates not named explicitly.
        for (name, stage, on) in stages {
            self.all_stage.insert(name, on);
            for s in GATES.iter().filter(|s| s.stage == stage) {
                self.gates.entry(s.gate).or_insert(on);
            }
        }
        Ok(())
    }

    /// Records an experimental flag's value for the gate it became.
    pub fn set_flag(&mut self, gate: Gate, on: bool) {
        self.flags.insert(gate, on);
    }

    /// The experimental flag's value for `gate`, if one was given.
    pub fn flag(&self, gate: Gate) -> Option<bool> {
        self.flags.get(&gate).copied()
    }

    /// etcd's refusal when a gate is set both by `--feature-gates` and by its
    /// experimental flag. Like etcd, a gate counts as named when its name
    /// occurs anywhere in the gates' text (so `LeaseCheckpointPersist=...`
    /// also names `LeaseCheckpoint`).
    pub fn conflicts(&self) -> Result<(), String> {
        let text = self.to_string();
        for (gate, on) in &self.flags {
            let s = spec(*gate);
            let Some(flag) = s.experimental_flag else {
                continue;
            };
            if text.contains(s.name) {
                let now = self.enabled(*gate);
                return Err(format!(
                    "cannot specify both flags: --{flag}={on} and --feature-gates={name}={now} at the same time, please just use --feature-gates={name}={now}",
                    name = s.name
                ));
            }
        }
        Ok(())
    }

    /// Gates turned on that etcd-rs does not implement.
    pub fn ignored(&self) -> impl Iterator<Item = &'static GateSpec> + '_ {
        GATES
            .iter()
            .filter(move |s| s.support == GateSupport::Ignored && self.enabled(s.gate) != s.default)
    }

    /// The `--help` lines listing the gates, as etcd prints them.
    pub fn help_lines() -> Vec<String> {
        let mut lines = vec![
            format!("{ALL_ALPHA}=true|false (ALPHA - default=false)"),
            format!("{ALL_BETA}=true|false (BETA - default=false)"),
        ];
        lines.extend(GATES.iter().map(|s| {
            format!(
                "{}=true|false ({} - default={})",
                s.name,
                s.stage.as_str(),
                s.default
            )
        }));
        lines.sort();
        lines
    }
}

impl std::fmt::Display for FeatureGates {
    /// The gates `--feature-gates` set, as sorted `Name=bool` pairs (etcd's
    /// `feature-gates` field of "starting an etcd server").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut pairs: Vec<String> = self
            .gates
            .iter()
            .map(|(g, on)| format!("{}={on}", spec(*g).name))
            .chain(self.all_stage.iter().map(|(n, on)| format!("{n}={on}")))
            .collect();
        pairs.sort();
        f.write_str(&pairs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(value: &str) -> Result<FeatureGates, String> {
        let mut g = FeatureGates::default();
        g.set_gates(value).map(|()| g)
    }

    #[test]
    fn every_gate_has_one_row_in_name_order() {
        for s in GATES {
            assert_eq!(spec(s.gate).name, s.name);
        }
        let names: Vec<_> = GATES.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn defaults_and_explicit_values() {
        let g = FeatureGates::default();
        assert!(!g.enabled(Gate::InitialCorruptCheck));
        assert!(g.enabled(Gate::TxnModeWriteWithSharedBuffer));
        let g = gates("InitialCorruptCheck=true, TxnModeWriteWithSharedBuffer = false,").unwrap();
        assert!(g.enabled(Gate::InitialCorruptCheck));
        assert!(!g.enabled(Gate::TxnModeWriteWithSharedBuffer));
        assert_eq!(
            g.to_string(),
            "InitialCorruptCheck=true,TxnModeWriteWithSharedBuffer=false"
        );
        // Go's ParseBool spellings.
        assert!(gates("CompactHashCheck=T")
            .unwrap()
            .enabled(Gate::CompactHashCheck));
        assert!(!gates("CompactHashCheck=0")
            .unwrap()
            .enabled(Gate::CompactHashCheck));
    }

    #[test]
    fn etcd_errors() {
        assert_eq!(
            gates("Foo=true").unwrap_err(),
            "unrecognized feature gate: Foo"
        );
        assert_eq!(gates("Foo").unwrap_err(), "missing bool value for Foo");
        assert_eq!(
            gates("InitialCorruptCheck=maybe").unwrap_err(),
            "invalid value of InitialCorruptCheck=maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }

    #[test]
    fn stage_switches_fill_only_unnamed_gates() {
        let g = gates("AllAlpha=true,InitialCorruptCheck=false").unwrap();
        assert!(!g.enabled(Gate::InitialCorruptCheck));
        assert!(g.enabled(Gate::CompactHashCheck));
        assert!(g.enabled(Gate::SetMemberLocalAddr));
        assert!(g.enabled(Gate::TxnModeWriteWithSharedBuffer));
        let g = gates("AllBeta=false").unwrap();
        assert!(!g.enabled(Gate::TxnModeWriteWithSharedBuffer));
        assert!(!g.enabled(Gate::CompactHashCheck));
    }

    #[test]
    fn a_gate_and_its_experimental_flag_conflict() {
        let mut g = gates("InitialCorruptCheck=false").unwrap();
        g.set_flag(Gate::InitialCorruptCheck, true);
        assert_eq!(
            g.conflicts().unwrap_err(),
            "cannot specify both flags: --experimental-initial-corrupt-check=true and --feature-gates=InitialCorruptCheck=false at the same time, please just use --feature-gates=InitialCorruptCheck=false"
        );
        // etcd's substring test: LeaseCheckpointPersist names LeaseCheckpoint.
        let mut g = gates("LeaseCheckpointPersist=true").unwrap();
        g.set_flag(Gate::LeaseCheckpoint, true);
        assert!(g.conflicts().is_err());
        // A flag alone decides its gate.
        let mut g = gates("CompactHashCheck=true").unwrap();
        g.set_flag(Gate::InitialCorruptCheck, true);
        assert!(g.conflicts().is_ok());
        assert!(g.enabled(Gate::InitialCorruptCheck));
    }

    #[test]
    fn ignored_gates_are_those_turned_on_without_support() {
        let g = gates("InitialCorruptCheck=true,LeaseCheckpoint=true").unwrap();
        let names: Vec<_> = g.ignored().map(|s| s.name).collect();
        assert_eq!(names, vec!["InitialCorruptCheck"]);
    }

    #[test]
    fn help_lists_every_gate_as_etcd_does() {
        let lines = FeatureGates::help_lines();
        assert_eq!(lines.len(), 9);
        assert_eq!(lines[0], "AllAlpha=true|false (ALPHA - default=false)");
        assert_eq!(
            lines[8],
            "TxnModeWriteWithSharedBuffer=true|false (BETA - default=true)"
        );
    }
}
