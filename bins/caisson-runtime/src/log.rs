//! Logging for the runtime binary: a tiny `tracing` subscriber writing runc/logrus
//! compatible lines — text `time="…" level=… msg="…"` or JSON
//! `{"level":"…","msg":"…","time":"…"}` — to `--log` or stderr. containerd reads the
//! JSON form from `--log` to report runtime errors.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};

/// The installed logger; errors go through [`Logger::error`] so they also reach stderr.
pub struct Logger {
    sink: &'static Sink,
}

struct Sink {
    /// Pid of the process that installed the logger: a forked container init (whose
    /// inherited fds are closed, so the log fd number may be reused) never logs.
    pid: u32,
    file: Option<Mutex<File>>,
    json: bool,
    max: Level,
}

impl Sink {
    fn write(&self, level: Level, msg: &str) {
        if std::process::id() != self.pid {
            return;
        }
        let time = caisson_container::state::now_rfc3339();
        let lvl = level.as_str().to_ascii_lowercase();
        let line = if self.json {
            let mut s = serde_json::json!({"level": lvl, "msg": msg, "time": time}).to_string();
            s.push('\n');
            s
        } else {
            format!("time=\"{time}\" level={lvl} msg={msg:?}\n")
        };
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

impl Logger {
    /// Report a fatal error: to the log (if any) and always to stderr, as runc does.
    pub fn error(&self, msg: &str) {
        if self.sink.file.is_some() {
            self.sink.write(Level::ERROR, msg);
        }
        let _ = writeln!(std::io::stderr(), "caisson-runtime: {msg}");
    }
}

struct Subscriber(&'static Sink);

struct MsgVisitor(String);

impl Visit for MsgVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for Subscriber {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.0.max
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut v = MsgVisitor(String::new());
        e.record(&mut v);
        self.0.write(*e.metadata().level(), &v.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Install the subscriber. A log file that cannot be opened falls back to stderr.
pub fn init(path: Option<&Path>, json: bool, debug: bool) -> Logger {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
            .map(Mutex::new)
    });
    let sink: &'static Sink = Box::leak(Box::new(Sink {
        pid: std::process::id(),
        file,
        json,
        max: if debug { Level::DEBUG } else { Level::WARN },
    }));
    let _ = tracing::subscriber::set_global_default(Subscriber(sink));
    Logger { sink }
}
