//! The binaries' log: `tracing` events on standard error, one line each,
//! as text for people or JSON for machines, from the level `--log-level`
//! or `RUST_LOG` sets.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use lb_control::{LogControl, LogLevel};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log-level` and `--log-format`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log events of LEVEL and more severe: off, error, warn, info (the
    /// default), debug, or trace (every frame and what became of it).
    ///
    /// Without it, RUST_LOG is read, with tracing's directives
    /// (`RUST_LOG=info,lb_engine=trace`).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LevelFilter>,
    /// One line per event: `text` for people (time, level, program,
    /// message, then `key=value` for fields it does not say), `json` for machines (an object
    /// with `timestamp`, `level`, `program`, `target`, `message` and the
    /// fields).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// How each event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-03T11:30:47.123456Z  INFO lb-rp: message key=value`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Set once the log writes JSON lines.
static WRITES_JSON: AtomicBool = AtomicBool::new(false);

/// True once [`init`] made the log write JSON lines: a fatal error is then
/// one too.
pub fn writes_json() -> bool {
    WRITES_JSON.load(Ordering::Relaxed)
}

/// Sends every event of this process to standard error, as `args` say;
/// returns the control of its filter for the admin endpoint's `/log`. A
/// `RUST_LOG` that does not parse is an error naming it.
pub fn init(program: &'static str, args: &LogArgs) -> anyhow::Result<LogControl> {
    let (filter, said) = match (args.log_level, std::env::var("RUST_LOG")) {
        (Some(level), _) => {
            let said = level.to_string().to_lowercase();
            (EnvFilter::default().add_directive(level.into()), said)
        }
        (None, Ok(directives)) if !directives.trim().is_empty() => {
            let filter = EnvFilter::try_new(&directives)
                .map_err(|error| anyhow!("RUST_LOG={directives:?}: {error}"))?;
            (filter, directives.trim().to_owned())
        }
        (None, _) => (
            EnvFilter::default().add_directive(LevelFilter::INFO.into()),
            "info".to_owned(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .event_format(Lines {
            program,
            format: args.log_format,
        })
        .with_env_filter(filter)
        .with_filter_reloading();
    let handle = builder.reload_handle();
    builder
        .try_init()
        .map_err(|error| anyhow!("starting the log: {error}"))?;
    WRITES_JSON.store(args.log_format == LogFormat::Json, Ordering::Relaxed);
    Ok(LogControl(Arc::new(Reloadable {
        reload: Box::new(move |filter| handle.reload(filter).map_err(|e| e.to_string())),
        current: Mutex::new(said),
    })))
}

/// The log's filter, changed at run time (Polycube's `loglevel`).
struct Reloadable {
    reload: Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>,
    current: Mutex<String>,
}

impl LogLevel for Reloadable {
    fn current(&self) -> String {
        self.current
            .lock()
            .map(|said| said.clone())
            .unwrap_or_default()
    }

    fn set(&self, filter: &str) -> Result<(), String> {
        let filter = filter.trim();
        if filter.is_empty() {
            return Err(
                "expected a level (off, error, warn, info, debug, trace) or directives".into(),
            );
        }
        let parsed = EnvFilter::try_new(filter).map_err(|error| format!("{filter:?}: {error}"))?;
        (self.reload)(parsed)?;
        if let Ok(mut current) = self.current.lock() {
            filter.clone_into(&mut current);
        }
        Ok(())
    }
}

/// Writes an event as one line of text or JSON.
#[derive(Debug, Clone, Copy)]
pub struct Lines {
    /// Named on every line.
    pub program: &'static str,
    /// Text or JSON.
    pub format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        match self.format {
            LogFormat::Text => {
                let level = metadata.level();
                write!(
                    writer,
                    "{timestamp} {level:>5} {}: {}",
                    self.program, fields.message
                )?;
                for (name, value) in &fields.others {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    // Fields are for machines: people read them in the message.
                    if !fields.message.contains(&text) {
                        write!(writer, " {name}={text}")?;
                    }
                }
                writeln!(writer)
            }
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("timestamp".into(), timestamp.into());
                object.insert("level".into(), metadata.level().as_str().into());
                object.insert("program".into(), self.program.into());
                object.insert("target".into(), metadata.target().into());
                object.insert("message".into(), fields.message.into());
                for (name, value) in fields.others {
                    object.insert(name.into(), value);
                }
                writeln!(writer, "{}", Value::Object(object))
            }
        }
    }
}

/// An event's message and other fields, in the order given.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::String(text)) => self.message = text,
            (name, value) => self.others.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What `emit` logs at `level` in `format`, line by line.
    fn logged(format: LogFormat, level: LevelFilter, emit: impl FnOnce()) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .event_format(Lines {
                program: "lb-test",
                format,
            })
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn events() {
        tracing::info!(port = 1, device = "tap-b", "link down, waiting for it");
        tracing::debug!("not shown at info");
        tracing::warn!(errno = 5, port = 1, "3 frames not sent to port 1");
    }

    #[test]
    fn text_lines_name_the_program_the_level_and_the_fields() {
        let lines = logged(LogFormat::Text, LevelFilter::INFO, events);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let (time, rest) = lines[0].split_once(' ').unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        assert_eq!(
            rest.trim_start(),
            "INFO lb-test: link down, waiting for it port=1 device=tap-b"
        );
        assert!(
            lines[1].ends_with(" WARN lb-test: 3 frames not sent to port 1 errno=5"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn json_lines_parse_with_every_field() {
        let lines = logged(LogFormat::Json, LevelFilter::DEBUG, events);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["program"], "lb-test");
        assert_eq!(first["message"], "link down, waiting for it");
        assert_eq!(first["port"], 1);
        assert_eq!(first["device"], "tap-b");
        assert!(first["target"].as_str().unwrap().starts_with("lb_examples"));
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        let debug: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(debug["level"], "DEBUG");
    }
}
