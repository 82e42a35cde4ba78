//! `etcd-benchmark`: a load generator for etcd v3 servers that speaks the
//! gRPC API through etcd-rs's own stubs, with the flags and report of etcd's
//! `benchmark` tool, so etcd-rs and etcd can be measured the same way.
//!
//! Layout:
//! - `cli`: flags and subcommands (clap); `duration`: Go-style durations.
//! - `connect`: endpoints, connections, which client uses which connection.
//! - `workload`: the shared client driver, and one module per workload
//!   (`workload::put`).
//! - `rate`: the `--rate` limiter.
//! - `report`: statistics of a run; `report::text`: etcd's text layout.
//! - `error`: what stops a run before it reports.
//!
//! This file only wires them together.

mod cli;
mod connect;
mod duration;
mod error;
mod rate;
mod report;
mod workload;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::BenchError;
use crate::report::Summary;

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
    if global.conns == 0 {
        return Err(BenchError::NotPositive { flag: "conns" });
    }
    if global.clients == 0 {
        return Err(BenchError::NotPositive { flag: "clients" });
    }
    // Refuse bad workload flags before dialing, so a typo is not reported
    // as a connection problem.
    match &cli.command {
        Command::Put(args) => workload::put::check(args)?,
    }
    let urls = connect::normalize_endpoints(&global.endpoints)?;
    let urls = connect::pick_endpoints(urls, global.target_leader, global.dial_timeout).await?;
    let channels = connect::dial_all(&urls, global.conns, global.dial_timeout).await?;
    let assignment = connect::assign_clients(global.clients, global.conns);

    let (name, params, recording) = match &cli.command {
        Command::Put(args) => {
            let recording = workload::put::run(args, &channels, &assignment).await?;
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
            ("put", params, recording)
        }
    };
    let summary = report::summarize(&recording);
    if global.json {
        json_report(name, global, &urls, params, &summary)
    } else {
        Ok(format!(
            "{}\n",
            report::text::render(&summary, global.precise)
        ))
    }
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

/// The `--json` output: what ran, against what, and the summary.
fn json_report(
    workload: &str,
    global: &GlobalArgs,
    urls: &[String],
    params: serde_json::Value,
    summary: &Summary,
) -> Result<String, BenchError> {
    let doc = serde_json::json!({
        "workload": workload,
        "endpoints": urls,
        "conns": global.conns,
        "clients": global.clients,
        "params": params,
        "report": summary,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&doc)?))
}
