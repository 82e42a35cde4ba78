//! The command tree as etcdctl's cobra setup has it: which commands exist,
//! their flags and help texts, how a command word is found (exact name, or
//! a unique prefix: etcdctl enables cobra's prefix matching), cobra's
//! errors for an unknown command or a bad flag, and the global flags with
//! their `ETCDCTL_*` variables. Then dispatch to the command's module.
//!
//! Help and usage texts follow etcdctl's template but list only what this
//! etcdctl implements, so they are honest rather than byte-identical.

use std::time::Duration;

use crate::connect::Settings;
use crate::flags::{self, Kind, Parsed, Spec};
use crate::output::Format;
use crate::tls::Tls;
use crate::{
    endpoint, kv, member, CtlError, Exit, API_VERSION, EXIT_BAD_FEATURE, EXIT_ERROR, VERSION,
};

/// The flags every command inherits from the root (etcdctl's persistent
/// flags that this etcdctl supports).
const GLOBAL: &[Spec] = &[
    Spec::new("cacert", Kind::Str, "", "verify certificates of TLS-enabled secure servers using this CA bundle"),
    Spec::new("cert", Kind::Str, "", "identify secure client using this TLS certificate file"),
    Spec::new("command-timeout", Kind::Duration, "5s", "timeout for short running command (excluding dial timeout)"),
    Spec::new("dial-timeout", Kind::Duration, "2s", "dial timeout for client connections"),
    Spec::new("endpoints", Kind::List, "127.0.0.1:2379", "gRPC endpoints"),
    Spec::new("insecure-skip-tls-verify", Kind::Bool, "false", "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)"),
    Spec::new("insecure-transport", Kind::Bool, "true", "disable transport security for client connections"),
    Spec::new("key", Kind::Str, "", "identify secure client using this TLS key file"),
    Spec::new("password", Kind::Str, "", "password for authentication (if this option is used, --user option shouldn't include password)"),
    Spec::new("user", Kind::Str, "", "username[:password] for authentication (prompt if password is not supplied)"),
    Spec::new("write-out", Kind::Str, "simple", "set the output format (fields, json, protobuf, simple, table)").short('w'),
];

/// `endpoint`'s persistent flag, inherited by its subcommands.
const ENDPOINT_GROUP: &[Spec] = &[Spec::new(
    "cluster",
    Kind::Bool,
    "false",
    "use all endpoints from the cluster member list",
)];

/// Every root command of etcdctl 3.5.1, for cobra's prefix matching: a
/// prefix that is ambiguous there must not pick one of ours here.
const ETCDCTL_ROOT_COMMANDS: &[&str] = &[
    "alarm",
    "auth",
    "check",
    "compaction",
    "defrag",
    "del",
    "elect",
    "endpoint",
    "get",
    "help",
    "lease",
    "lock",
    "make-mirror",
    "member",
    "move-leader",
    "put",
    "role",
    "snapshot",
    "txn",
    "user",
    "version",
    "watch",
];
const ETCDCTL_ENDPOINT_COMMANDS: &[&str] = &["hashkv", "health", "status"];
const ETCDCTL_MEMBER_COMMANDS: &[&str] = &["add", "list", "promote", "remove", "update"];

/// A command this etcdctl runs.
struct Command {
    /// The words that name it (`endpoint health`).
    path: &'static str,
    short: &'static str,
    /// What follows `etcdctl <path>` in USAGE.
    usage: &'static str,
    description: Option<&'static str>,
    flags: &'static [Spec],
}

const PUT: Command = Command {
    path: "put",
    short: "Puts the given key into the store",
    usage: "[options] <key> <value> (<value> can also be given from stdin)",
    description: Some(
        "Puts the given key into the store.\n\n\
         When <value> begins with '-', <value> is interpreted as a flag.\n\
         Insert '--' for workaround:\n\n\
         $ put <key> -- <value>\n\
         $ put -- <key> <value>\n\n\
         If <value> isn't given as a command line argument,\n\
         this command tries to read the value from standard input.\n\n\
         For example,\n\
         $ cat file | put <key>\n\
         will store the content of the file to <key>.",
    ),
    flags: &[
        Spec::new(
            "lease",
            Kind::Str,
            "0",
            "lease ID (in hexadecimal) to attach to the key",
        ),
        Spec::new(
            "prev-kv",
            Kind::Bool,
            "false",
            "return the previous key-value pair before modification",
        ),
    ],
};

const GET: Command = Command {
    path: "get",
    short: "Gets the key or a range of keys",
    usage: "[options] <key> [range_end]",
    description: None,
    flags: &[
        Spec::new(
            "consistency",
            Kind::Str,
            "l",
            "Linearizable(l) or Serializable(s)",
        ),
        Spec::new("count-only", Kind::Bool, "false", "Get only the count"),
        Spec::new(
            "from-key",
            Kind::Bool,
            "false",
            "Get keys that are greater than or equal to the given key using byte compare",
        ),
        Spec::new("keys-only", Kind::Bool, "false", "Get only the keys"),
        Spec::new("limit", Kind::Int, "0", "Maximum number of results"),
        Spec::new(
            "order",
            Kind::Str,
            "",
            "Order of results; ASCEND or DESCEND (ASCEND by default)",
        ),
        Spec::new(
            "prefix",
            Kind::Bool,
            "false",
            "Get keys with matching prefix",
        ),
        Spec::new(
            "print-value-only",
            Kind::Bool,
            "false",
            "Only write values when using the \"simple\" output format",
        ),
        Spec::new("rev", Kind::Int, "0", "Specify the kv revision"),
        Spec::new(
            "sort-by",
            Kind::Str,
            "",
            "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION",
        ),
    ],
};

const DEL: Command = Command {
    path: "del",
    short: "Removes the specified key or range of keys [key, range_end)",
    usage: "[options] <key> [range_end]",
    description: None,
    flags: &[
        Spec::new(
            "from-key",
            Kind::Bool,
            "false",
            "delete keys that are greater than or equal to the given key using byte compare",
        ),
        Spec::new(
            "prefix",
            Kind::Bool,
            "false",
            "delete keys with matching prefix",
        ),
        Spec::new(
            "prev-kv",
            Kind::Bool,
            "false",
            "return deleted key-value pairs",
        ),
    ],
};

const ENDPOINT_HEALTH: Command = Command {
    path: "endpoint health",
    short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
    usage: "",
    description: None,
    flags: &[],
};

const ENDPOINT_STATUS: Command = Command {
    path: "endpoint status",
    short: "Prints out the status of endpoints specified in `--endpoints` flag",
    usage: "",
    description: Some(
        "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\n\
         The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.",
    ),
    flags: &[],
};

const MEMBER_LIST: Command = Command {
    path: "member list",
    short: "Lists all members in the cluster",
    usage: "",
    description: Some(
        "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\n\
         The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.",
    ),
    flags: &[],
};

const VERSION_CMD: Command = Command {
    path: "version",
    short: "Prints the version of etcdctl",
    usage: "",
    description: None,
    flags: &[],
};

const HELP: Command = Command {
    path: "help",
    short: "Help about any command",
    usage: "[command]",
    description: None,
    flags: &[],
};

const ENDPOINT_GROUP_CMD: Command = Command {
    path: "endpoint",
    short: "Endpoint related commands",
    usage: "<subcommand>",
    description: None,
    flags: &[],
};

const MEMBER_GROUP_CMD: Command = Command {
    path: "member",
    short: "Membership related commands",
    usage: "<subcommand>",
    description: None,
    flags: &[],
};

/// Our commands in the order `etcdctl --help` lists them.
const LEAVES: &[&Command] = &[
    &DEL,
    &ENDPOINT_HEALTH,
    &ENDPOINT_STATUS,
    &GET,
    &HELP,
    &MEMBER_LIST,
    &PUT,
    &VERSION_CMD,
];

/// Runs one invocation; returns the exit code after printing.
pub async fn run(args: Vec<String>, env: Vec<(String, String)>) -> Exit {
    match resolve(&args) {
        Resolved::RootHelp => {
            print!("{}", root_help());
            0
        }
        Resolved::Unknown(word) => {
            let error = unknown_command(&word);
            eprintln!("Error: {error}");
            eprintln!("Run 'etcdctl --help' for usage.");
            eprintln!("Error: {error}");
            EXIT_ERROR
        }
        Resolved::RootFlags(rest) => {
            // Only flags at the root: parse them for their errors, then
            // show the help as cobra does for a command without a Run.
            let mut specs = GLOBAL.to_vec();
            specs.push(HELP_FLAG);
            match flags::parse(&specs, &rest) {
                Err(error) => flag_error(&error, root_help()),
                Ok(_) => {
                    print!("{}", root_help());
                    0
                }
            }
        }
        Resolved::Group(group, rest) => {
            let mut specs = group_specs(group);
            specs.push(HELP_FLAG);
            match flags::parse(&specs, &rest) {
                Err(error) => flag_error(&error, group_help(group)),
                Ok(_) => {
                    print!("{}", group_help(group));
                    0
                }
            }
        }
        Resolved::Leaf(command, rest) => run_leaf(command, &rest, &env).await,
    }
}

fn group_specs(group: &Command) -> Vec<Spec> {
    let mut specs = GLOBAL.to_vec();
    if group.path == "endpoint" {
        specs.extend_from_slice(ENDPOINT_GROUP);
    }
    specs
}

/// Every flag a command accepts: its own, the inherited ones, `--help`.
fn command_specs(command: &Command) -> Vec<Spec> {
    let mut specs = command.flags.to_vec();
    specs.extend_from_slice(GLOBAL);
    if command.path.starts_with("endpoint ") {
        specs.extend_from_slice(ENDPOINT_GROUP);
    }
    specs.push(HELP_FLAG);
    specs
}

/// cobra's `-h/--help`, on every command (its line in a usage text is
/// `help_usage`'s).
const HELP_FLAG: Spec = Spec::new("help", Kind::Bool, "false", "help").short('h');

fn last_word(path: &str) -> &str {
    path.rsplit(' ').next().unwrap_or(path)
}

async fn run_leaf(command: &'static Command, rest: &[String], env: &[(String, String)]) -> Exit {
    let specs = command_specs(command);
    let parsed = match flags::parse(&specs, rest) {
        Ok(parsed) => parsed,
        Err(error) => return flag_error(&error, usage_text(command)),
    };
    if parsed.flag("help") {
        print!("{}", usage_text(command));
        return 0;
    }
    match run_command(command, parsed, env).await {
        Ok(code) => code,
        Err(error) => {
            if !error.message.is_empty() {
                eprintln!("Error: {}", error.message);
            }
            error.code
        }
    }
}

async fn run_command(
    command: &'static Command,
    mut parsed: Parsed,
    env: &[(String, String)],
) -> Result<Exit, CtlError> {
    match command.path {
        "version" => {
            println!("etcdctl version: {VERSION}");
            println!("API version: {API_VERSION}");
            return Ok(0);
        }
        "help" => return Ok(help_topic(&parsed.args)),
        _ => {}
    }
    apply_env(&mut parsed, env)?;
    let global = Global::from(&parsed)?;
    match command.path {
        "put" => kv::put(&global, &parsed).await,
        "get" => kv::get(&global, &parsed).await,
        "del" => kv::del(&global, &parsed).await,
        "endpoint health" => endpoint::health(&global, parsed.flag("cluster")).await,
        "endpoint status" => endpoint::status(&global, parsed.flag("cluster")).await,
        "member list" => member::list(&global).await,
        other => Err(CtlError::error(format!("unknown command {other:?}"))),
    }
}

/// The global flags of a run, checked.
pub struct Global {
    pub settings: Settings,
    /// `-w`; `None` for a format this etcdctl does not print.
    format: Option<Format>,
}

impl Global {
    fn from(parsed: &Parsed) -> Result<Global, CtlError> {
        let value = |name: &str| parsed.get(name).map(str::to_string);
        let duration = |name: &str, default: Duration| {
            parsed
                .get(name)
                .and_then(|v| flags::parse_duration(v).ok())
                .unwrap_or(default)
        };
        let endpoints = value("endpoints")
            .unwrap_or_else(|| "127.0.0.1:2379".to_string())
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect();
        let mut tls = Tls {
            cacert: value("cacert").filter(|v| !v.is_empty()),
            cert: value("cert").filter(|v| !v.is_empty()),
            key: value("key").filter(|v| !v.is_empty()),
            skip_verify: parsed.flag("insecure-skip-tls-verify"),
            by_default: false,
        };
        // `--insecure-transport=false` asks for TLS on bare endpoints even
        // without certificate flags.
        let insecure_transport = parsed.get("insecure-transport").map(flags::parse_bool);
        tls.by_default = insecure_transport == Some(Some(false));
        let user =
            match (value("user").filter(|v| !v.is_empty()), value("password")) {
                (None, _) => None,
                (Some(user), Some(password)) if !password.is_empty() => Some((user, password)),
                (Some(user), _) => match user.split_once(':') {
                    Some((name, password)) => Some((name.to_string(), password.to_string())),
                    // etcdctl would prompt on the terminal; a container has none.
                    None => return Err(CtlError::bad_args(
                        "--user without a password needs --password (this etcdctl does not prompt)",
                    )),
                },
            };
        Ok(Global {
            settings: Settings {
                endpoints,
                dial_timeout: duration("dial-timeout", Duration::from_secs(2)),
                command_timeout: duration("command-timeout", Duration::from_secs(5)),
                tls,
                user,
            },
            format: Format::parse(parsed.get("write-out").unwrap_or("simple")),
        })
    }

    /// `-w`, or etcdctl's error for one it cannot print.
    pub fn format(&self) -> Result<Format, CtlError> {
        self.format
            .ok_or_else(|| CtlError::new(EXIT_BAD_FEATURE, "unsupported output format"))
    }
}

/// Fills global flags not given on the command line from `ETCDCTL_<FLAG>`
/// (etcd's `SetPflagsFromEnv`); one given both ways is fatal, as there.
fn apply_env(parsed: &mut Parsed, env: &[(String, String)]) -> Result<(), CtlError> {
    for spec in GLOBAL {
        let name = format!("ETCDCTL_{}", spec.name.to_uppercase().replace('-', "_"));
        let Some((_, value)) = env.iter().find(|(k, _)| *k == name) else {
            continue;
        };
        if parsed.values.contains_key(spec.name) {
            // etcd's zap logger prints this line (with a timestamp and a
            // stack trace) and exits 1.
            eprintln!(
                "{{\"level\":\"fatal\",\"msg\":\"conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag))\",\"environment-variable\":\"{name}\"}}"
            );
            return Err(silent_exit());
        }
        let from_env = flags::parse(&[*spec], &[format!("--{}={value}", spec.name)])
            .map_err(CtlError::error)?;
        parsed.values.extend(from_env.values);
    }
    Ok(())
}

/// An exit after the message was printed already.
fn silent_exit() -> CtlError {
    CtlError::new(EXIT_ERROR, "")
}

/// How the command words resolved.
enum Resolved {
    RootHelp,
    /// Only root flags, no command word.
    RootFlags(Vec<String>),
    Unknown(String),
    Group(&'static Command, Vec<String>),
    Leaf(&'static Command, Vec<String>),
}

fn resolve(args: &[String]) -> Resolved {
    if args.is_empty() {
        return Resolved::RootHelp;
    }
    let mut root_specs = GLOBAL.to_vec();
    root_specs.push(HELP_FLAG);
    let Some(word) = command_words(args, &root_specs).into_iter().next() else {
        return Resolved::RootFlags(args.to_vec());
    };
    let rest = without_first(args, &word);
    let name = match find(ETCDCTL_ROOT_COMMANDS, &word) {
        Some(name) => name,
        None => return Resolved::Unknown(word),
    };
    let group = match name {
        "endpoint" => &ENDPOINT_GROUP_CMD,
        "member" => &MEMBER_GROUP_CMD,
        "put" => return Resolved::Leaf(&PUT, rest),
        "get" => return Resolved::Leaf(&GET, rest),
        "del" => return Resolved::Leaf(&DEL, rest),
        "version" => return Resolved::Leaf(&VERSION_CMD, rest),
        "help" => return Resolved::Leaf(&HELP, rest),
        _ => return Resolved::Unknown(word),
    };
    let mut specs = group_specs(group);
    specs.push(HELP_FLAG);
    let Some(sub) = command_words(&rest, &specs).into_iter().next() else {
        return Resolved::Group(group, rest);
    };
    let known = if group.path == "endpoint" {
        ETCDCTL_ENDPOINT_COMMANDS
    } else {
        ETCDCTL_MEMBER_COMMANDS
    };
    let leaf = match (group.path, find(known, &sub)) {
        ("endpoint", Some("health")) => &ENDPOINT_HEALTH,
        ("endpoint", Some("status")) => &ENDPOINT_STATUS,
        ("member", Some("list")) => &MEMBER_LIST,
        // cobra runs the group itself for an unknown word: its help.
        _ => return Resolved::Group(group, rest),
    };
    let rest = without_first(&rest, &sub);
    Resolved::Leaf(leaf, rest)
}

/// The non-flag words of `args`, skipping each flag's value as cobra's
/// `stripFlags` does: a `--name` without `=` that is not a known bool flag
/// (unknown ones included) takes the next word with it.
fn command_words(args: &[String], specs: &[Spec]) -> Vec<String> {
    let is_bool_long = |name: &str| specs.iter().any(|s| s.name == name && s.kind == Kind::Bool);
    let is_bool_short = |c: &str| {
        specs
            .iter()
            .any(|s| s.short.map(|x| x.to_string()).as_deref() == Some(c) && s.kind == Kind::Bool)
    };
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        i += 1;
        if s == "--" {
            break;
        }
        let takes_value = (s.starts_with("--") && !s.contains('=') && !is_bool_long(&s[2..]))
            || (s.starts_with('-')
                && !s.starts_with("--")
                && !s.contains('=')
                && s.len() == 2
                && !is_bool_short(&s[1..]));
        if takes_value {
            if args.len() - i <= 1 {
                break;
            }
            i += 1;
        } else if !s.is_empty() && !s.starts_with('-') {
            words.push(s.clone());
        }
    }
    words
}

/// `args` without the first occurrence of `word` (cobra's
/// `argsMinusFirstX`).
fn without_first(args: &[String], word: &str) -> Vec<String> {
    let mut rest = args.to_vec();
    if let Some(at) = rest.iter().position(|a| a == word) {
        rest.remove(at);
    }
    rest
}

/// cobra's `findNext` with prefix matching: the exact name, else the one
/// command the word is a prefix of.
fn find(names: &[&'static str], word: &str) -> Option<&'static str> {
    if let Some(name) = names.iter().find(|n| **n == word) {
        return Some(name);
    }
    let matches: Vec<&&str> = names.iter().filter(|n| n.starts_with(word)).collect();
    match matches.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// cobra's error for an unknown root command, with its suggestions among
/// the commands this etcdctl has.
fn unknown_command(word: &str) -> String {
    let mut suggestions: Vec<&str> = LEAVES
        .iter()
        .map(|c| c.path.split(' ').next().unwrap_or(c.path))
        .collect();
    suggestions.dedup();
    let suggested: Vec<&str> = suggestions
        .into_iter()
        .filter(|name| {
            levenshtein(&word.to_lowercase(), &name.to_lowercase()) <= 2
                || name.to_lowercase().starts_with(&word.to_lowercase())
        })
        .collect();
    let mut text = format!("unknown command {word:?} for \"etcdctl\"");
    if !suggested.is_empty() {
        text.push_str("\n\nDid you mean this?\n");
        for name in suggested {
            text.push_str(&format!("\t{name}\n"));
        }
    }
    text
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// cobra's reaction to a bad flag in etcdctl: the error, the usage on
/// stdout (etcdctl's usage function writes there, leaving cobra an empty
/// line for stderr), then etcdctl's own `Error:` line. Exit 1.
fn flag_error(error: &str, usage: String) -> Exit {
    eprintln!("Error: {error}");
    print!("{usage}");
    eprintln!();
    eprintln!("Error: {error}");
    EXIT_ERROR
}

/// `etcdctl help [command...]`.
fn help_topic(words: &[String]) -> Exit {
    let topic = words.join(" ");
    if topic.is_empty() {
        print!("{}", root_help());
        return 0;
    }
    let found = LEAVES
        .iter()
        .chain([&&ENDPOINT_GROUP_CMD, &&MEMBER_GROUP_CMD])
        .find(|c| c.path == topic);
    match found {
        Some(c) if c.path == "endpoint" || c.path == "member" => print!("{}", group_help(c)),
        Some(c) => print!("{}", usage_text(c)),
        None => {
            // cobra prints the words with Go's `%#q` of a []string.
            let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            eprintln!("Unknown help topic [{}]", quoted.join(" "));
            print!("{}", root_help());
        }
    }
    0
}

/// A leaf command's usage, in etcdctl's template.
fn usage_text(command: &Command) -> String {
    let mut own = command.flags.to_vec();
    own.push(Spec::new("help", Kind::Bool, "false", help_usage(command)).short('h'));
    let mut inherited = GLOBAL.to_vec();
    if command.path.starts_with("endpoint ") {
        inherited.extend_from_slice(ENDPOINT_GROUP);
    }
    let usage = if command.usage.is_empty() {
        format!("etcdctl {} [flags]", command.path)
    } else {
        format!("etcdctl {} {} [flags]", command.path, command.usage)
    };
    let mut text = format!(
        "NAME:\n\t{} - {}\n\nUSAGE:\n\t{usage}\n\n",
        command.path, command.short
    );
    if let Some(description) = command.description {
        text.push_str("DESCRIPTION:\n");
        for line in description.lines() {
            text.push('\t');
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("OPTIONS:\n");
    text.push_str(&flags::usage_table(&own));
    text.push_str("\nGLOBAL OPTIONS:\n");
    text.push_str(&flags::usage_table(&inherited));
    text.push('\n');
    text
}

fn help_usage(command: &Command) -> &'static str {
    // pflag's text for cobra's --help: "help for <name>".
    match last_word(command.path) {
        "put" => "help for put",
        "get" => "help for get",
        "del" => "help for del",
        "health" => "help for health",
        "status" => "help for status",
        "list" => "help for list",
        "version" => "help for version",
        "endpoint" => "help for endpoint",
        "member" => "help for member",
        _ => "help for help",
    }
}

/// The help of `endpoint` or `member`.
fn group_help(group: &Command) -> String {
    let prefix = format!("{} ", group.path);
    let subcommands: Vec<(String, &str)> = LEAVES
        .iter()
        .filter_map(|c| {
            c.path
                .strip_prefix(&prefix)
                .map(|s| (s.to_string(), c.short))
        })
        .collect();
    let mut own = group_specs(group)[GLOBAL.len()..].to_vec();
    own.push(Spec::new("help", Kind::Bool, "false", help_usage(group)).short('h'));
    format!(
        "NAME:\n\t{} - {}\n\nUSAGE:\n\tetcdctl {} <subcommand> [flags]\n\nAPI VERSION:\n\t{API_VERSION}\n\n\nCOMMANDS:\n{}\nOPTIONS:\n{}\nGLOBAL OPTIONS:\n{}\n",
        group.path,
        group.short,
        group.path,
        command_table(&subcommands),
        flags::usage_table(&own),
        flags::usage_table(GLOBAL),
    )
}

/// `etcdctl --help`.
fn root_help() -> String {
    let commands: Vec<(String, &str)> = LEAVES
        .iter()
        .map(|c| (c.path.to_string(), c.short))
        .collect();
    let mut own = GLOBAL.to_vec();
    own.push(Spec::new("help", Kind::Bool, "false", "help for etcdctl").short('h'));
    format!(
        "NAME:\n\tetcdctl - A simple command line client for etcd3 (etcd-rs).\n\nUSAGE:\n\tetcdctl [flags]\n\nVERSION:\n\t{VERSION}\n\nAPI VERSION:\n\t{API_VERSION}\n\n\nCOMMANDS:\n{}\nOPTIONS:\n{}\n",
        command_table(&commands),
        flags::usage_table(&own),
    )
}

/// The COMMANDS list, tab-aligned as Go's tabwriter does.
fn command_table(commands: &[(String, &str)]) -> String {
    let width = commands
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    let column = width.div_ceil(8) * 8;
    let mut out = String::new();
    for (name, short) in commands {
        let tabs = (column - name.chars().count()).div_ceil(8);
        out.push('\t');
        out.push_str(name);
        out.push_str(&"\t".repeat(tabs));
        out.push_str(short);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn path(list: &[&str]) -> String {
        match resolve(&args(list)) {
            Resolved::RootHelp => "root-help".into(),
            Resolved::RootFlags(_) => "root-flags".into(),
            Resolved::Unknown(word) => format!("unknown {word}"),
            Resolved::Group(g, _) => format!("group {}", g.path),
            Resolved::Leaf(c, rest) => format!("{} {:?}", c.path, rest),
        }
    }

    #[test]
    fn commands_resolve_as_cobra_finds_them() {
        assert_eq!(path(&["put", "a", "b"]), "put [\"a\", \"b\"]");
        assert_eq!(
            path(&["--endpoints", "x:1", "get", "a"]),
            "get [\"--endpoints\", \"x:1\", \"a\"]"
        );
        assert_eq!(path(&["pu", "a"]), "put [\"a\"]");
        assert_eq!(path(&["endpoint", "health"]), "endpoint health []");
        assert_eq!(
            path(&["endpoint", "he", "-w", "json"]),
            "endpoint health [\"-w\", \"json\"]"
        );
        assert_eq!(path(&["member", "list"]), "member list []");
        assert_eq!(path(&["member"]), "group member");
        assert_eq!(path(&["endpoint", "foo"]), "group endpoint");
        assert_eq!(path(&["foo"]), "unknown foo");
        // Ours do not have it, and `l` is ambiguous in etcdctl (lease, lock).
        assert_eq!(path(&["txn"]), "unknown txn");
        assert_eq!(path(&["l"]), "unknown l");
        // An unknown long flag takes the next word as its value.
        assert_eq!(path(&["--foo", "get"]), "root-flags");
        assert_eq!(path(&[]), "root-help");
    }

    #[test]
    fn unknown_commands_suggest_ours() {
        assert_eq!(
            unknown_command("foo"),
            "unknown command \"foo\" for \"etcdctl\""
        );
        assert_eq!(
            unknown_command("gte"),
            "unknown command \"gte\" for \"etcdctl\"\n\nDid you mean this?\n\tget\n"
        );
    }

    #[test]
    fn env_fills_unset_global_flags() {
        let mut parsed = flags::parse(&command_specs(&GET), &args(&["k"])).unwrap();
        let env = vec![
            ("ETCDCTL_ENDPOINTS".to_string(), "a:1,b:2".to_string()),
            ("ETCDCTL_WRITE_OUT".to_string(), "json".to_string()),
            ("ETCDCTL_API".to_string(), "3".to_string()),
        ];
        apply_env(&mut parsed, &env).unwrap();
        let global = Global::from(&parsed).unwrap();
        assert_eq!(global.settings.endpoints, vec!["a:1", "b:2"]);
        assert_eq!(global.format().unwrap(), Format::Json);
        let mut parsed = flags::parse(&command_specs(&GET), &args(&["--endpoints=c:3"])).unwrap();
        assert!(apply_env(&mut parsed, &env).is_err());
    }

    #[test]
    fn user_takes_its_password_from_either_flag() {
        let global = |list: &[&str]| Global::from(&flags::parse(GLOBAL, &args(list)).unwrap());
        assert_eq!(
            global(&["--user=root:pw"]).unwrap().settings.user,
            Some(("root".into(), "pw".into()))
        );
        assert_eq!(
            global(&["--user=root", "--password=a:b"])
                .unwrap()
                .settings
                .user,
            Some(("root".into(), "a:b".into()))
        );
        assert!(global(&["--user=root"]).is_err());
    }
}
