//! The harness's command line: the short suite CI runs (a fixed set of
//! scenarios on etcd-rs and on etcd 3.4, seeds printed), and the soak mode
//! for long runs:
//!
//! ```text
//! cargo test -p etcd --test robustness                      # short suite
//! cargo test -p etcd --test robustness -- --scenarios 200 --seed 1 --duration 12s
//!     [--target etcd-rs|etcd] [--members 1|3] [--profile etcd|kubernetes]
//!     [--fault KillLeader] [--report FILE] [--etcd-rs BINARY]
//! ```
//!
//! A soak scenario `i` uses seed `S + i`, so one failing scenario is rerun
//! alone with `--scenarios 1 --seed <its seed>` and the same other flags.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cluster::{Flavor, Server};
use crate::faults::Fault;
use crate::scenario::{self, Scenario, Verdict};
use crate::traffic::Profile;

/// Debian's etcd 3.4, the reference.
pub const REFERENCE_ETCD: &str = "/usr/bin/etcd";

#[derive(Debug)]
struct Options {
    scenarios: Option<u64>,
    seed: u64,
    duration: Duration,
    targets: Vec<Flavor>,
    members: Option<usize>,
    profile: Option<Profile>,
    faults: Option<Vec<Fault>>,
    report: Option<PathBuf>,
    /// Another etcd-rs binary than this build's (a soak on a copy, so a
    /// rebuild during the run does not swap the binary under it).
    etcd_rs: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        scenarios: None,
        seed: 1,
        duration: Duration::from_secs(12),
        targets: vec![Flavor::EtcdRs, Flavor::Etcd],
        members: None,
        profile: None,
        faults: None,
        report: None,
        etcd_rs: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenarios" => options.scenarios = Some(number(&value()?)?),
            "--seed" => options.seed = number(&value()?)?,
            "--duration" => options.duration = duration(&value()?)?,
            "--target" => {
                options.targets = match value()?.as_str() {
                    "etcd-rs" => vec![Flavor::EtcdRs],
                    "etcd" => vec![Flavor::Etcd],
                    "both" => vec![Flavor::EtcdRs, Flavor::Etcd],
                    other => return Err(format!("unknown target {other:?}")),
                }
            }
            "--members" => options.members = Some(number(&value()?)? as usize),
            "--profile" => {
                options.profile = Some(match value()?.as_str() {
                    "etcd" => Profile::Etcd,
                    "kubernetes" => Profile::Kubernetes,
                    other => return Err(format!("unknown profile {other:?}")),
                })
            }
            "--fault" => {
                let name = value()?;
                let fault = Fault::all(3, Flavor::EtcdRs)
                    .into_iter()
                    .find(|f| f.to_string() == name)
                    .ok_or(format!("unknown fault {name:?}"))?;
                options.faults.get_or_insert_with(Vec::new).push(fault);
            }
            "--report" => options.report = Some(PathBuf::from(value()?)),
            "--etcd-rs" => options.etcd_rs = Some(PathBuf::from(value()?)),
            // What cargo's test runner may pass to any test binary.
            "--nocapture" | "--quiet" | "-q" => {}
            other if other.starts_with("--test-threads") || other.starts_with("--color") => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

fn duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n = number(digits)?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("not a duration: {text:?}")),
    }
}

/// The short suite: a few scenarios covering both sizes, both profiles
/// and the main fault kinds, each run on every target.
fn short_suite(seed: u64, flavor: Flavor) -> Vec<Scenario> {
    // A full disk is etcd-rs's only (see Fault::FullDisk).
    let last: &[Fault] = match flavor {
        Flavor::EtcdRs => &[
            Fault::FollowerBehind,
            Fault::FullDisk,
            Fault::MoveLeader,
            Fault::DelayPeers,
        ],
        Flavor::Etcd => &[Fault::FollowerBehind, Fault::MoveLeader, Fault::DelayPeers],
    };
    let scenario = |i: u64, members, profile, faults: &[Fault]| Scenario {
        seed: seed + i,
        members,
        profile,
        faults: faults.to_vec(),
        duration: Duration::from_secs(8),
        clients: 6,
    };
    vec![
        scenario(0, 1, Profile::Etcd, &[Fault::KillMember]),
        scenario(
            1,
            3,
            Profile::Etcd,
            &[Fault::KillLeader, Fault::PartitionLeader],
        ),
        scenario(
            2,
            3,
            Profile::Kubernetes,
            &[
                Fault::PauseLeader,
                Fault::DropLeaderToFollower,
                Fault::ReplaceMember,
            ],
        ),
        scenario(3, 3, Profile::Kubernetes, last),
    ]
}

/// A soak scenario: size, profile and faults drawn from the seed.
fn soak_scenario(options: &Options, flavor: Flavor, seed: u64) -> Scenario {
    let mut rng = fastrand::Rng::with_seed(seed);
    let members = options
        .members
        .unwrap_or(if rng.u32(..4) == 0 { 1 } else { 3 });
    let profile = options.profile.unwrap_or(if rng.bool() {
        Profile::Etcd
    } else {
        Profile::Kubernetes
    });
    let faults = match &options.faults {
        Some(faults) => faults.clone(),
        None => {
            let all = Fault::all(members, flavor);
            // Two fault kinds per scenario, so each is exercised often and
            // combinations occur.
            let a = all[rng.usize(..all.len())];
            let b = all[rng.usize(..all.len())];
            if a == b {
                vec![a]
            } else {
                vec![a, b]
            }
        }
    };
    Scenario {
        seed,
        members,
        profile,
        faults,
        duration: options.duration,
        clients: 4 + rng.usize(..5),
    }
}

/// Totals over a run, per target.
#[derive(Default)]
struct Totals {
    scenarios: u64,
    operations: u64,
    indeterminate: u64,
    watch_events: u64,
    reads_replayed: u64,
    faults: BTreeMap<Fault, u64>,
    failed: Vec<u64>,
    unchecked_keys: u64,
    unknown_dialers: u64,
    known_bugs: BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, scenario: &Scenario, verdict: &Verdict) {
        self.scenarios += 1;
        self.operations += verdict.operations as u64;
        self.indeterminate += verdict.indeterminate as u64;
        self.watch_events += verdict.watch_events;
        self.reads_replayed += verdict.reads_replayed;
        self.unchecked_keys += verdict.unchecked_keys.len() as u64;
        self.unknown_dialers += verdict.unknown_dialers;
        for bug in &verdict.known_bugs {
            *self.known_bugs.entry(bug.clone()).or_default() += 1;
        }
        for (fault, _) in &verdict.faults {
            *self.faults.entry(*fault).or_default() += 1;
        }
        if !verdict.violations.is_empty() {
            self.failed.push(scenario.seed);
        }
    }

    fn table(&self, name: &str, elapsed: Duration) -> String {
        let mut text = String::new();
        let faults: u64 = self.faults.values().sum();
        let _ = writeln!(text, "| {name} | value |\n|---|---|");
        let _ = writeln!(text, "| scenarios run | {} |", self.scenarios);
        let _ = writeln!(text, "| faults injected | {faults} |");
        for (fault, n) in &self.faults {
            let _ = writeln!(text, "| - {fault} | {n} |");
        }
        let _ = writeln!(text, "| operations checked | {} |", self.operations);
        let _ = writeln!(
            text,
            "| - of which indeterminate | {} |",
            self.indeterminate
        );
        let _ = writeln!(text, "| watch events checked | {} |", self.watch_events);
        let _ = writeln!(
            text,
            "| reads replayed against the log | {} |",
            self.reads_replayed
        );
        let _ = writeln!(
            text,
            "| keys whose search timed out | {} |",
            self.unchecked_keys
        );
        let _ = writeln!(
            text,
            "| scenarios with violations | {} {:?} |",
            self.failed.len(),
            self.failed
        );
        for (bug, n) in &self.known_bugs {
            let _ = writeln!(text, "| known upstream bug seen ({bug}) | {n} |");
        }
        let _ = writeln!(text, "| wall time | {:.0} s |", elapsed.as_secs_f64());
        text
    }
}

/// Runs the harness; returns whether every scenario passed.
pub async fn main(args: &[String], etcd_rs: PathBuf) -> bool {
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("robustness: {e}");
            return false;
        }
    };
    let etcd_rs = options.etcd_rs.clone().unwrap_or(etcd_rs);
    let mut ok = true;
    let mut report = String::new();
    for flavor in &options.targets {
        let server = match flavor {
            Flavor::EtcdRs => Server {
                flavor: *flavor,
                binary: etcd_rs.clone(),
            },
            Flavor::Etcd => Server {
                flavor: *flavor,
                binary: PathBuf::from(REFERENCE_ETCD),
            },
        };
        if !server.binary.exists() {
            eprintln!(
                "robustness: {} not found at {} (install Debian's etcd-server)",
                server.name(),
                server.binary.display()
            );
            ok = false;
            continue;
        }
        let scenarios: Vec<Scenario> = match options.scenarios {
            None => short_suite(options.seed, *flavor),
            Some(n) => (0..n)
                .map(|i| soak_scenario(&options, *flavor, options.seed + i))
                .collect(),
        };
        let started = Instant::now();
        let mut totals = Totals::default();
        for scenario in &scenarios {
            let began = Instant::now();
            let verdict = scenario::run(&server, scenario).await;
            totals.add(scenario, &verdict);
            let faults: Vec<&str> = verdict.faults.iter().map(|(_, w)| w.as_str()).collect();
            println!(
                "robustness {}: {} -> {} ops ({} indeterminate), {} watch events, {} peer connections ({} unidentified), faults: {} [{:.1}s] {}",
                server.name(),
                scenario.describe(),
                verdict.operations,
                verdict.indeterminate,
                verdict.watch_events,
                verdict.peer_connections,
                verdict.unknown_dialers,
                faults.join("; "),
                began.elapsed().as_secs_f64(),
                if verdict.violations.is_empty() { "ok" } else { "FAILED" }
            );
            for violation in &verdict.violations {
                println!("  {}", violation.replace('\n', "\n  "));
            }
            if !verdict.violations.is_empty() {
                ok = false;
            }
        }
        let table = totals.table(server.name(), started.elapsed());
        println!("\n{table}");
        report.push_str(&table);
        report.push('\n');
    }
    if let Some(path) = &options.report {
        if let Err(e) = std::fs::write(path, &report) {
            eprintln!("robustness: cannot write {}: {e}", path.display());
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_soak_flags() {
        let args: Vec<String> = [
            "--scenarios",
            "5",
            "--seed",
            "9",
            "--duration",
            "30s",
            "--target",
            "etcd-rs",
            "--fault",
            "KillLeader",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let options = parse(&args).unwrap();
        assert_eq!(options.scenarios, Some(5));
        assert_eq!(options.seed, 9);
        assert_eq!(options.duration, Duration::from_secs(30));
        assert_eq!(options.targets, vec![Flavor::EtcdRs]);
        assert_eq!(options.faults, Some(vec![Fault::KillLeader]));
        assert!(parse(&["--bogus".to_string()]).is_err());
    }

    #[test]
    fn soak_scenarios_follow_their_seed() {
        let options = parse(&[]).unwrap();
        let a = soak_scenario(&options, Flavor::EtcdRs, 42);
        let b = soak_scenario(&options, Flavor::EtcdRs, 42);
        assert_eq!(a.describe(), b.describe());
    }
}
