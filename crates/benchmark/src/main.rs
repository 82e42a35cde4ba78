//! `etcd-benchmark`: a load generator for etcd v3 servers that speaks the
//! gRPC API through etcd-rs's own stubs, with the flags and report of etcd's
//! `benchmark` tool, so etcd-rs and etcd can be measured the same way.
//!
//! Layout:
//! - `cli`: flags and subcommands (clap); `duration`: Go-style durations.
//! - `connect`: endpoints, connections, `--user` authentication, which
//!   client uses which connection; `tls`: `--cacert`, `--cert`, `--key`.
//! - `workload`: the shared client driver, what a workload reports
//!   (`Outcome`), and one module per workload (`workload::put`,
//!   `workload::range`, `workload::txn_put`, `workload::watch`,
//!   `workload::watch_latency`, `workload::lease`).
//! - `gateway`: `--gateway`, `put` and `range` over etcd's JSON gateway.
//! - `rate`: the `--rate` limiter; `progress`: the progress bar.
//! - `report`: statistics of a run; `report::text`: etcd's text layout.
//! - `error`: what stops a run before it reports.
//!
//! This file only wires them together.

mod cli;
mod connect;
mod duration;
mod error;
mod gateway;
mod progress;
mod rate;
mod report;
mod tls;
mod workload;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, Consistency, GlobalArgs};
use crate::error::BenchError;
use crate::progress::Progress;
use crate::workload::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("etcd-benchmark: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("etcd-benchmark: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// Connects, runs the chosen workload and returns the report to print.
async fn run(cli: Cli) -> Result<String, BenchError> {
    let global = &cli.global;
    check_global(global)?;
    // Refuse bad workload flags before dialing, so a typo is not reported
    // as a connection problem.
    match &cli.command {
        Command::Put(args) => workload::put::check(args)?,
        Command::Watch(args) => workload::watch::check(args)?,
        Command::TxnPut(args) => workload::txn_put::check(args)?,
        Command::WatchLatency(args) => workload::watch_latency::check(args)?,
        Command::Range(_) | Command::LeaseKeepalive(_) => {}
    }
    if global.gateway && !matches!(cli.command, Command::Put(_) | Command::Range(_)) {
        return Err(BenchError::NotOverGateway);
    }
    let user = global
        .user
        .as_deref()
        .map(connect::parse_user)
        .transpose()?;
    let dialer = connect::Dialer {
        timeout: global.dial_timeout,
        tls: tls::Tls::load(
            global.cacert.as_deref(),
            global.cert.as_deref(),
            global.key_file.as_deref(),
        )?,
    };
    let urls = connect::normalize_endpoints(&global.endpoints, dialer.tls.by_default)?;
    let urls = dialer.pick_endpoints(urls, global.target_leader).await?;
    let channels = dialer.dial_all(&urls, global.conns).await?;
    let token = match (&user, channels.first()) {
        (Some(user), Some(channel)) => connect::authenticate(channel.clone(), user).await?,
        _ => connect::Token::default(),
    };
    let channels = connect::with_token(channels, &token);
    let assignment = connect::assign_clients(global.clients, global.conns);
    // A bar only for a person watching: never into a pipe or a file, and
    // never mixed into output meant for a program.
    let progress = Progress::new(!global.json && std::io::stderr().is_terminal());

    // The clients of `put` and `range`: over gRPC, or each over its own
    // gateway connection.
    let kvs = if global.gateway {
        gateway::connect_all(&urls, global.clients, global.dial_timeout, token.as_text())
            .await?
            .into_iter()
            .map(workload::KvConn::Gateway)
            .collect()
    } else {
        workload::KvConn::grpc_all(&channels, &assignment)
    };

    let mut banner = None;
    let (name, params, outcome) = match &cli.command {
        Command::Put(args) => {
            let recording = workload::put::run(args, kvs, channels.first(), &progress).await?;
            let params = serde_json::json!({
                "total": args.total,
                "key_size": args.key_size,
                "val_size": args.val_size,
                "key_space_size": args.key_space_size,
                "sequential_keys": args.sequential_keys,
                "rate": args.rate,
                "compact_interval_secs": args.compact_interval.as_secs_f64(),
                "compact_index_delta": args.compact_index_delta,
            });
            ("put", params, Outcome::plain(&recording))
        }
        Command::Range(args) => {
            banner = Some(workload::range::banner(args.consistency));
            let recording = workload::range::run(args, kvs, &progress).await;
            let params = serde_json::json!({
                "key": args.key,
                "end": args.end,
                "total": args.total,
                "rate": args.rate,
                "consistency": match args.consistency {
                    Consistency::Linearizable => "l",
                    Consistency::Serializable => "s",
                },
                "limit": args.limit,
                "count_only": args.count_only,
            });
            ("range", params, Outcome::plain(&recording))
        }
        Command::TxnPut(args) => {
            let recording = workload::txn_put::run(args, &channels, &assignment, &progress).await?;
            let params = serde_json::json!({
                "total": args.total,
                "key_size": args.key_size,
                "val_size": args.val_size,
                "key_space_size": args.key_space_size,
                "txn_ops": args.txn_ops,
                "rate": args.rate,
            });
            ("txn-put", params, Outcome::plain(&recording))
        }
        Command::Watch(args) => {
            let outcome = workload::watch::run(args, &channels, &assignment, &progress).await?;
            let params = serde_json::json!({
                "streams": args.streams,
                "watch_per_stream": args.watch_per_stream,
                "watched_key_total": args.watched_key_total,
                "put_total": args.put_total,
                "put_rate": args.put_rate,
                "key_size": args.key_size,
                "val_size": args.val_size,
                "key_space_size": args.key_space_size,
                "sequential_keys": args.sequential_keys,
            });
            ("watch", params, outcome)
        }
        Command::WatchLatency(args) => {
            // etcd's tool puts over a connection of its own, so the puts
            // never queue behind the watch streams' traffic.
            let put_channel = dialer.dial_all(&urls, 1).await?;
            let put_channel = connect::with_token(put_channel, &token).remove(0);
            let outcome =
                workload::watch_latency::run(args, &channels, &assignment, put_channel, &progress)
                    .await?;
            let params = serde_json::json!({
                "streams": args.streams,
                "watchers_per_stream": args.watchers_per_stream,
                "prevkv": args.prevkv,
                "put_total": args.put_total,
                "put_rate": args.put_rate,
                "key_size": args.key_size,
                "val_size": args.val_size,
            });
            ("watch-latency", params, outcome)
        }
        Command::LeaseKeepalive(args) => {
            let recording = workload::lease::run(args, &channels, &assignment, &progress).await?;
            let params = serde_json::json!({
                "total": args.total,
                "lease_ttl": workload::lease::LEASE_TTL,
            });
            ("lease-keepalive", params, Outcome::plain(&recording))
        }
    };
    progress.finish();
    if global.json {
        json_report(name, global, &urls, params, &outcome)
    } else {
        let mut text = banner.map(|line| format!("{line}\n")).unwrap_or_default();
        text.push_str(&text_report(&outcome, global.precise));
        Ok(text)
    }
}

/// Refuses global flags that cannot work: zero connections or clients.
/// (`--user` is checked by `connect::parse_user`, the TLS files by
/// `tls::Tls::load`.)
fn check_global(global: &GlobalArgs) -> Result<(), BenchError> {
    if global.conns == 0 {
        return Err(BenchError::NotPositive { flag: "conns" });
    }
    if global.clients == 0 {
        return Err(BenchError::NotPositive { flag: "clients" });
    }
    Ok(())
}

/// etcd's text layout: each section under its title, then the headline
/// statistics, then the single figures.
fn text_report(outcome: &Outcome, precise: bool) -> String {
    let mut out = String::new();
    for section in &outcome.sections {
        out.push_str(section.title);
        out.push('\n');
        out.push_str(&report::text::render(&section.summary, precise));
        out.push('\n');
    }
    if let Some(title) = outcome.title {
        out.push_str(title);
        out.push('\n');
    }
    out.push_str(&report::text::render(&outcome.report, precise));
    if !outcome.figures.is_empty() {
        let figures = outcome.figures.iter().map(|f| (f.label, f.value));
        out.push_str(&report::text::render_figures(figures, precise));
    }
    out.push('\n');
    out
}

/// An error with its causes, outermost first: transport errors keep the
/// useful part ("Connection refused") in their sources.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their cause in their own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The `--json` output: what ran, against what, the headline summary as
/// `report`, any further sections under their own keys, and the single
/// figures under `figures`.
fn json_report(
    workload: &str,
    global: &GlobalArgs,
    urls: &[String],
    params: serde_json::Value,
    outcome: &Outcome,
) -> Result<String, BenchError> {
    let mut doc = serde_json::json!({
        "workload": workload,
        "endpoints": urls,
        "conns": global.conns,
        "clients": global.clients,
        "params": params,
        "report": outcome.report,
    });
    if let Some(fields) = doc.as_object_mut() {
        for section in &outcome.sections {
            fields.insert(
                section.key.to_string(),
                serde_json::to_value(&section.summary)?,
            );
        }
        if !outcome.figures.is_empty() {
            let figures: serde_json::Map<String, serde_json::Value> = outcome
                .figures
                .iter()
                .map(|f| (f.key.to_string(), serde_json::json!(f.value)))
                .collect();
            fields.insert("figures".to_string(), figures.into());
        }
    }
    Ok(format!("{}\n", serde_json::to_string_pretty(&doc)?))
}
