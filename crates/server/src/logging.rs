//! Logging in etcd 3.5's shape: one JSON object per line, as zap writes it,
//!
//! ```text
//! {"level":"info","ts":"2026-11-21T05:48:19.123456Z","caller":"server/server.rs:88","msg":"ready to serve client requests","address":"127.0.0.1:2379"}
//! ```
//!
//! `level`, `ts` (UTC, microseconds), `caller` (the last directory and file
//! of the call site, like zap's short caller) and `msg` come first; then the
//! fields of enclosing spans (outermost first, like zap's `With`), then the
//! event's own fields. Field names may be string literals to get etcd's
//! dashed keys: `tracing::info!("local-member-id" = %id, "starting local member")`.
//!
//! Settings come from [`Config`]: `--log-level` (zap names; `panic`/`fatal`
//! keep only errors, since `tracing` has nothing above error),
//! `--log-outputs` (`default`/`stderr`, `stdout`, file paths appended to,
//! `/dev/null` silences everything) and `--logger` (always JSON).
//! Dependencies (tonic, h2, openraft, ...) log at warn and above, or at the
//! chosen level if that is stricter; openraft's per-send retry warnings to an
//! unreachable peer only at error (the peer prober reports the peer once). zap's sampling and log rotation are not
//! reproduced.
//!
//! This module owns the subscriber; it does not decide what gets logged.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{Config, ConfigError, LogLevel, NoticeLevel};

/// Crates of this workspace; they log at the configured level.
const OWN_TARGETS: [&str; 5] = [
    "etcd",
    "etcd_server",
    "etcd_storage",
    "etcd_raft",
    "etcd_proto",
];

/// A field whose value is a JSON object to be spliced into the line, so
/// fields whose names are only known at run time can still be flattened.
pub const JSON_FIELDS: &str = "json_fields";

/// Keeps the log outputs open; dropping it flushes them.
#[must_use = "dropping the guard flushes the log outputs"]
pub struct LogGuard {
    outputs: Outputs,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.outputs.flush();
    }
}

/// Installs the global JSON logger described by `cfg`.
pub fn init(cfg: &Config) -> Result<LogGuard, ConfigError> {
    let outputs = Outputs::open(&cfg.log_outputs)?;
    tracing_subscriber::registry()
        .with(json_layer(cfg.log_level, outputs.clone()))
        .try_init()
        .map_err(|e| ConfigError::Logging(format!("logging is already set up: {e}")))?;
    Ok(LogGuard { outputs })
}

/// The formatting and filtering layer [`init`] installs, writing to any
/// writer; useful to capture etcd-shaped logs in tests.
pub fn json_layer<S, W>(level: LogLevel, writer: W) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(ZapJson)
        .fmt_fields(ZapJsonFields)
        .with_writer(writer)
        .with_filter(filter(level))
}

/// Our crates at `level`; everything else at warn or `level` if stricter.
fn filter(level: LogLevel) -> Targets {
    let ours = level_filter(level);
    let others = ours.min(LevelFilter::WARN);
    let targets = OWN_TARGETS
        .iter()
        .fold(Targets::new().with_default(others), |t, target| {
            t.with_target(*target, ours)
        });
    // openraft warns on every failed send to an unreachable member (several
    // a second per peer); the peer prober logs each such peer once, going
    // away and coming back, as etcd does.
    RAFT_RETRY_TARGETS.iter().fold(targets, |t, target| {
        t.with_target(*target, ours.min(LevelFilter::ERROR))
    })
}

/// openraft's modules whose warnings are retries of sends to a peer.
const RAFT_RETRY_TARGETS: &[&str] = &[
    "openraft::replication",
    "openraft::core::heartbeat",
    "openraft::engine::handler::replication_handler",
];

/// Maps zap's levels onto `tracing`'s.
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error | LogLevel::DPanic | LogLevel::Panic | LogLevel::Fatal => {
            LevelFilter::ERROR
        }
    }
}

/// Logs what was noticed while reading the configuration, and one
/// "flag is not yet supported by etcd-rs; ignoring" warning per ignored flag
/// (and per feature gate turned on that etcd-rs does not implement).
pub fn log_config_notices(cfg: &Config) {
    for notice in cfg.notices() {
        let fields = json_object(notice.fields.iter().map(|(k, v)| (*k, v.as_str())));
        match notice.level {
            NoticeLevel::Info => tracing::info!(json_fields = %fields, "{}", notice.message),
            NoticeLevel::Warn => tracing::warn!(json_fields = %fields, "{}", notice.message),
        }
    }
    for unsupported in cfg.unsupported() {
        tracing::warn!(
            "flag-name" = unsupported.flag,
            "flag is not yet supported by etcd-rs; ignoring"
        );
    }
    for gate in cfg.feature_gates.ignored() {
        tracing::warn!(
            "feature-gate" = gate.name,
            "feature gate is not yet supported by etcd-rs; ignoring"
        );
    }
}

/// What etcd writes to stderr when it refuses its configuration, for use
/// before logging is set up: command-line syntax errors as Go's `flag`
/// package prints them (message, then the usage text); everything else as
/// zap lines — "failed to verify flags" with the error (plus "advertise
/// client URLs are not set" when that is the cause), or the fatal line for a
/// flag shadowed by its `ETCD_*` variable.
pub fn config_error_report(err: &ConfigError) -> String {
    let line = |level: &str, msg: &str, fields: &[(&str, &str)]| {
        let mut out = format!(
            "{{\"level\":\"{level}\",\"ts\":\"{}\",\"caller\":{},\"msg\":{}",
            timestamp(SystemTime::now()),
            json_string(&caller(Some(file!()), Some(line!()), None)),
            json_string(msg)
        );
        for (k, v) in fields {
            out.push_str(&format!(",{}:{}", json_string(k), json_string(v)));
        }
        out.push_str("}\n");
        out
    };
    let message = err.to_string();
    match err {
        ConfigError::Flag(_) => format!("{message}\n{}\n", crate::config::usage()),
        ConfigError::ShadowedEnv(key) => line(
            "fatal",
            "conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag)",
            &[("environment-variable", key)],
        ),
        ConfigError::UnsetAdvertiseClientUrls => {
            line("warn", "failed to verify flags", &[("error", &message)])
                + &line("warn", "advertise client URLs are not set", &[("error", &message)])
        }
        _ => line("warn", "failed to verify flags", &[("error", &message)]),
    }
}

/// `{"k":"v",...}` from string pairs, keys kept in order.
pub fn json_object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

// ---- formatting ---------------------------------------------------------

/// Formats an event as one zap-style JSON line.
pub struct ZapJson;

/// Formats span fields as a JSON fragment (`"k":v,"k2":v2`) to splice in.
pub struct ZapJsonFields;

impl<S, N> FormatEvent<S, N> for ZapJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        write!(
            writer,
            "{{\"level\":\"{}\",\"ts\":\"{}\",\"caller\":{},\"msg\":{}",
            level_name(*meta.level()),
            timestamp(SystemTime::now()),
            json_string(&caller(meta.file(), meta.line(), meta.module_path())),
            json_string(&fields.message)
        )?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(span_fields) = ext.get::<FormattedFields<N>>() {
                    if !span_fields.fields.is_empty() {
                        write!(writer, ",{}", span_fields.fields)?;
                    }
                }
            }
        }
        if !fields.out.is_empty() {
            write!(writer, ",{}", fields.out)?;
        }
        writeln!(writer, "}}")
    }
}

impl<'w> FormatFields<'w> for ZapJsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut json = JsonFields::default();
        fields.record(&mut json);
        // A span's message (rare) is kept as an ordinary field.
        if !json.message.is_empty() {
            json.push_raw("msg", &json_string(&json.message.clone()));
        }
        writer.write_str(&json.out)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut json = JsonFields::default();
        fields.record(&mut json);
        if !json.out.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(',');
            }
            current.fields.push_str(&json.out);
        }
        Ok(())
    }
}

/// Collects `message` separately and every other field as `"k":v`.
#[derive(Default)]
struct JsonFields {
    message: String,
    out: String,
}

impl JsonFields {
    fn push_raw(&mut self, name: &str, json_value: &str) {
        if !self.out.is_empty() {
            self.out.push(',');
        }
        self.out.push_str(&json_string(name));
        self.out.push(':');
        self.out.push_str(json_value);
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            _ => self.push_raw(field.name(), &json_string(value)),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push_raw(field.name(), &value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push_raw(field.name(), &value.to_string());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push_raw(field.name(), &value.to_string());
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push_raw(field.name(), &value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push_raw(field.name(), if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let json = serde_json::Number::from_f64(value)
            .map_or_else(|| json_string(&value.to_string()), |n| n.to_string());
        self.push_raw(field.name(), &json);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push_raw(field.name(), &json_string(&value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            JSON_FIELDS => {
                // Splice a JSON object's members; anything else stays a string.
                let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}'));
                match inner {
                    Some("") => {}
                    Some(members) if serde_json::from_str::<serde_json::Value>(&text).is_ok() => {
                        if !self.out.is_empty() {
                            self.out.push(',');
                        }
                        self.out.push_str(members);
                    }
                    _ => self.push_raw(JSON_FIELDS, &json_string(&text)),
                }
            }
            name => self.push_raw(name, &json_string(&text)),
        }
    }
}

/// zap's lower-case level names.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE | Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// zap's short caller: package directory and file, then the line. A
/// file directly in a crate's `src/` is named after the crate directory
/// (`server/run.rs`), which reads like etcd's `etcdserver/server.go`.
fn caller(file: Option<&str>, line: Option<u32>, module: Option<&str>) -> String {
    let Some(file) = file else {
        return module.unwrap_or("unknown").to_string();
    };
    let mut parts = file.rsplit(['/', '\\']);
    let name = parts.next().unwrap_or(file);
    let short = match (parts.next(), parts.next()) {
        (Some("src"), Some(krate)) => format!("{krate}/{name}"),
        (Some(dir), _) => format!("{dir}/{name}"),
        (None, _) => name.to_string(),
    };
    match line {
        Some(line) => format!("{short}:{line}"),
        None => short,
    }
}

/// `2026-11-21T05:48:19.123456Z` (UTC, microseconds), like etcd 3.5's zap.
fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// well-known algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// ---- outputs ------------------------------------------------------------

/// One place log lines go.
enum Target {
    Stderr,
    Stdout,
    File(Mutex<File>),
}

/// Every `--log-outputs` target; each line is written whole to each.
#[derive(Clone)]
struct Outputs {
    targets: Arc<Vec<Target>>,
}

impl Outputs {
    fn open(outputs: &[String]) -> Result<Outputs, ConfigError> {
        let mut names: Vec<&str> = outputs.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        // zap treats /dev/null as "discard everything".
        if names.contains(&"/dev/null") {
            return Ok(Outputs {
                targets: Arc::new(Vec::new()),
            });
        }
        let mut targets = Vec::new();
        for name in names {
            let target = match name {
                "default" | "stderr" => Target::Stderr,
                "stdout" => Target::Stdout,
                path => {
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            ConfigError::Logging(format!(
                                "couldn't open sink {}: {e}",
                                json_string(path)
                            ))
                        })?;
                    Target::File(Mutex::new(file))
                }
            };
            if !(matches!(target, Target::Stderr)
                && targets.iter().any(|t| matches!(t, Target::Stderr)))
            {
                targets.push(target);
            }
        }
        Ok(Outputs {
            targets: Arc::new(targets),
        })
    }

    fn write_line(&self, buf: &[u8]) -> io::Result<()> {
        for target in self.targets.iter() {
            match target {
                Target::Stderr => io::stderr().write_all(buf)?,
                Target::Stdout => io::stdout().write_all(buf)?,
                Target::File(file) => {
                    let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    file.write_all(buf)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&self) {
        for target in self.targets.iter() {
            // Nothing useful can be done about a failed flush of a log.
            let _ = match target {
                Target::Stderr => io::stderr().flush(),
                Target::Stdout => io::stdout().flush(),
                Target::File(file) => file.lock().map_or(Ok(()), |mut f| f.flush()),
            };
        }
    }
}

/// The writer handed out per event.
struct OutputsWriter<'a>(&'a Outputs);

impl Write for OutputsWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_line(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Outputs {
    type Writer = OutputsWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        OutputsWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects everything written, for inspection.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Capture {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }

        fn raw(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    fn capture(level: LogLevel, f: impl FnOnce()) -> Capture {
        let out = Capture::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(level, out.clone()));
        tracing::subscriber::with_default(subscriber, f);
        out
    }

    #[test]
    fn lines_have_zaps_shape() {
        let out = capture(LogLevel::Info, || {
            tracing::info!(address = "127.0.0.1:2379", "ready to serve client requests");
        });
        let raw = out.raw();
        assert!(raw.starts_with("{\"level\":\"info\",\"ts\":\""), "{raw}");
        assert!(
            raw.ends_with(
                "\"msg\":\"ready to serve client requests\",\"address\":\"127.0.0.1:2379\"}\n"
            ),
            "{raw}"
        );
        let line = &out.lines()[0];
        assert!(
            line["caller"]
                .as_str()
                .unwrap()
                .starts_with("server/logging.rs:"),
            "{line}"
        );
        let ts = line["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-11-21T05:48:19.123456Z".len());
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn fields_keep_types_and_spans_flatten() {
        let out = capture(LogLevel::Debug, || {
            let span = tracing::info_span!("member", "local-member-id" = "8e9e05c52164694d");
            let _g = span.enter();
            tracing::warn!(
                "took" = 3u64,
                ok = true,
                error = %"boom",
                "apply request took too long"
            );
        });
        let line = &out.lines()[0];
        assert_eq!(line["level"], "warn");
        assert_eq!(line["local-member-id"], "8e9e05c52164694d");
        assert_eq!(line["took"], 3);
        assert_eq!(line["ok"], true);
        assert_eq!(line["error"], "boom");
        assert!(out
            .raw()
            .contains("\"msg\":\"apply request took too long\",\"local-member-id\""));
    }

    #[test]
    fn level_filtering() {
        let out = capture(LogLevel::Warn, || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        let lines = out.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["msg"], "shown");
        let out = capture(LogLevel::Fatal, || tracing::error!("still shown"));
        assert_eq!(out.lines().len(), 1);
    }

    #[test]
    fn config_notices_are_flattened() {
        let cfg =
            match crate::config::Config::parse(["etcd", "--enable-pprof"], [("ETCD_FOO", "1")])
                .unwrap()
            {
                crate::config::ParseOutcome::Run(cfg) => cfg,
                other => panic!("{other:?}"),
            };
        let out = capture(LogLevel::Info, || log_config_notices(&cfg));
        let lines = out.lines();
        let unknown = lines
            .iter()
            .find(|l| l["msg"] == "unrecognized environment variable")
            .unwrap();
        assert_eq!(unknown["environment-variable"], "ETCD_FOO=1");
        assert_eq!(unknown["level"], "warn");
        let ignored = lines
            .iter()
            .find(|l| l["msg"] == "flag is not yet supported by etcd-rs; ignoring")
            .unwrap();
        assert_eq!(ignored["flag-name"], "enable-pprof");
    }

    #[test]
    fn config_errors_print_like_etcd() {
        let flag = config_error_report(&ConfigError::Flag(
            "flag provided but not defined: -foo".into(),
        ));
        assert!(flag.starts_with("flag provided but not defined: -foo\nUsage:\n"));
        let unset = config_error_report(&ConfigError::UnsetAdvertiseClientUrls);
        let lines: Vec<serde_json::Value> = unset
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["msg"], "failed to verify flags");
        assert_eq!(
            lines[0]["error"],
            "--advertise-client-urls is required when --listen-client-urls is set explicitly"
        );
        assert_eq!(lines[1]["msg"], "advertise client URLs are not set");
        let shadowed: serde_json::Value = serde_json::from_str(
            config_error_report(&ConfigError::ShadowedEnv("ETCD_NAME".into())).trim(),
        )
        .unwrap();
        assert_eq!(shadowed["level"], "fatal");
        assert_eq!(shadowed["environment-variable"], "ETCD_NAME");
    }

    #[test]
    fn helpers() {
        assert_eq!(
            caller(Some("crates/server/src/config/mod.rs"), Some(12), None),
            "config/mod.rs:12"
        );
        assert_eq!(
            caller(Some("crates/server/src/run.rs"), Some(7), None),
            "server/run.rs:7"
        );
        assert_eq!(caller(Some("main.rs"), None, None), "main.rs");
        assert_eq!(caller(None, None, Some("etcd_server::x")), "etcd_server::x");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
        let t = UNIX_EPOCH + std::time::Duration::from_micros(1_795_240_099_123_456);
        assert_eq!(timestamp(t), "2026-11-21T05:48:19.123456Z");
        assert_eq!(
            json_object([("a", "1"), ("b", "x\"y")]),
            r#"{"a":"1","b":"x\"y"}"#
        );
    }

    #[test]
    fn outputs_open_files_and_discard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.log");
        let outputs = Outputs::open(&[path.display().to_string()]).unwrap();
        outputs.write_line(b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        let none = Outputs::open(&["stderr".into(), "/dev/null".into()]).unwrap();
        assert!(none.targets.is_empty());
        let err = Outputs::open(&["/nonexistent-dir/x.log".into()])
            .map(|_| ())
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("couldn't open sink \"/nonexistent-dir/x.log\""));
    }
}
