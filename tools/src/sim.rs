//! `oddsmatch sim`: JSON lines in, JSON events out, then the state hash.
//!
//! The line format is the serde form of the engine's [`Input`] and [`Event`]; it is written
//! down in `docs/sim-format.md`. The sim adds only what a file needs around the engine:
//! comment lines, the `seq` on each event line, a check that time never runs backwards, and a
//! closing line with the state hash, so that two runs can be compared by their last line.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use oddsmatch_engine::shard::Recorder;
use oddsmatch_engine::{Engine, EngineConfig, Event, Input};
use oddsmatch_journal::{Durability, JournalConfig, JournalError};
use serde::Serialize;

/// The longest input line accepted, in bytes. A bound, so that a file without newlines cannot
/// make the sim read it whole into one buffer; real commands are a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Arguments of `oddsmatch sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The file of commands, one JSON object per line (see docs/sim-format.md).
    #[arg(long)]
    pub input: PathBuf,
    /// Write the events here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Also write a journal into this directory (new or empty): a snapshot of the fresh engine
    /// and one record per input with its events, readable by `oddsmatch journal ...`.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// The journal's durability policy: os, interval[:N{us,ms}] or sync.
    #[arg(long, default_value = "os", requires = "journal")]
    pub durability: Durability,
    /// The journal's segment size in bytes.
    #[arg(long, default_value_t = JournalConfig::DEFAULT_SEGMENT_BYTES, requires = "journal")]
    pub segment_bytes: u64,
}

/// Runs a sim file.
pub fn run(args: &SimArgs) -> Result<(), String> {
    let file = File::open(&args.input)
        .map_err(|error| format!("cannot open {}: {error}", args.input.display()))?;
    let reader = BufReader::new(file);
    let source = args.input.display().to_string();
    let mut recorder = match &args.journal {
        Some(dir) => {
            let mut config = JournalConfig::new(dir);
            config.durability = args.durability;
            config.segment_bytes = args.segment_bytes;
            let engine: Engine = Engine::new(EngineConfig::default());
            let recorder = Recorder::create(config, &engine)
                .map_err(|error| format!("cannot start the journal: {error}"))?;
            Some(recorder)
        }
        None => None,
    };
    let result = match &args.output {
        Some(path) => run_to_file(reader, &source, path, recorder.as_mut()),
        None => run_to_stdout(reader, &source, recorder.as_mut()),
    };
    // The records of the lines before an error stay in the journal, like their events.
    let finished = recorder.map(Recorder::finish).transpose();
    result.map_err(|error| error.to_string())?;
    finished.map_err(|error| format!("cannot finish the journal: {error}"))?;
    Ok(())
}

/// What a finished run reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Sequence number of the last input applied (0 if the file had none).
    pub last_seq: u64,
    /// The engine's state hash after the last input.
    pub state_hash: u64,
}

/// Why a run stopped before the end of its input.
#[derive(Debug)]
pub enum SimError {
    /// Reading the input or writing the output failed.
    Io {
        /// What was being read or written.
        what: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// A line is not a valid command.
    Parse {
        /// The input's name.
        source: String,
        /// 1-based line number in the input.
        line: u64,
        /// 1-based column in the line, as serde reports it.
        column: usize,
        /// Serde's message, without its position.
        message: String,
    },
    /// A line's `ts` is lower than the previous command's.
    TimeWentBackwards {
        /// The input's name.
        source: String,
        /// 1-based line number in the input.
        line: u64,
        /// The line's timestamp, in nanoseconds.
        ts_ns: u64,
        /// The previous command's timestamp, in nanoseconds.
        previous_ts_ns: u64,
    },
    /// A line is longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        /// The input's name.
        source: String,
        /// 1-based line number in the input.
        line: u64,
    },
    /// The journal could not be written.
    Journal(JournalError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Io { what, error } => write!(f, "{what}: {error}"),
            SimError::Parse {
                source,
                line,
                column,
                message,
            } => write!(
                f,
                "{source}:{line}:{column}: not a valid command: {message}"
            ),
            SimError::TimeWentBackwards {
                source,
                line,
                ts_ns,
                previous_ts_ns,
            } => write!(
                f,
                "{source}:{line}: ts {ts_ns} is lower than the previous command's ts \
                 {previous_ts_ns}; timestamps must never decrease"
            ),
            SimError::Journal(error) => write!(f, "cannot write the journal: {error}"),
            SimError::LineTooLong { source, line } => {
                write!(
                    f,
                    "{source}:{line}: line longer than {MAX_LINE_BYTES} bytes"
                )
            }
        }
    }
}

impl std::error::Error for SimError {}

/// One output line: the input's sequence number, then the event's own fields.
#[derive(Serialize)]
struct EventLine<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a Event,
}

/// The closing output line.
#[derive(Serialize)]
struct HashLine {
    /// Sixteen lowercase hex digits, as a string so that no JSON reader rounds it.
    state_hash: String,
    seq: u64,
}

/// Runs every command of `reader` through a fresh `Engine<LadderBook>` with the default
/// configuration, writes one line per event and the closing hash line to `writer`, and
/// returns the summary. `source` names the input in error messages.
///
/// The first bad line stops the run; lines written before it stay written.
#[cfg(test)]
pub fn run_lines<R: BufRead, W: Write>(
    reader: R,
    source: &str,
    writer: &mut W,
) -> Result<Summary, SimError> {
    run_lines_journaled(reader, source, writer, None)
}

/// Runs every command of `reader` like `run_lines`, also appending each input with its
/// events to `journal`.
pub fn run_lines_journaled<R: BufRead, W: Write>(
    mut reader: R,
    source: &str,
    writer: &mut W,
    mut journal: Option<&mut Recorder>,
) -> Result<Summary, SimError> {
    let mut engine: Engine = Engine::new(EngineConfig::default());
    let mut events: Vec<Event> = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut line_number: u64 = 0;
    let mut previous_ts_ns: u64 = 0;
    let write_error = |error| SimError::Io {
        what: "cannot write the events".to_string(),
        error,
    };
    while read_line(&mut reader, &mut buffer, source, line_number + 1)? {
        line_number += 1;
        let Some(input) = parse_line(&buffer, source, line_number)? else {
            continue;
        };
        if input.ts_ns < previous_ts_ns {
            return Err(SimError::TimeWentBackwards {
                source: source.to_string(),
                line: line_number,
                ts_ns: input.ts_ns,
                previous_ts_ns,
            });
        }
        previous_ts_ns = input.ts_ns;
        events.clear();
        let seq = engine.apply(&input, &mut events);
        if let Some(journal) = journal.as_deref_mut() {
            journal
                .record(seq, &input, &events)
                .and_then(|()| journal.commit())
                .map_err(SimError::Journal)?;
        }
        write_events(writer, seq, &events).map_err(write_error)?;
    }
    let summary = Summary {
        last_seq: engine.seq(),
        state_hash: engine.state_hash(),
    };
    write_hash_line(writer, summary).map_err(write_error)?;
    writer.flush().map_err(write_error)?;
    Ok(summary)
}

/// Reads the next line (without its newline) into `buffer`; false at the end of the input.
fn read_line<R: BufRead>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    source: &str,
    line_number: u64,
) -> Result<bool, SimError> {
    buffer.clear();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let read = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', buffer)
        .map_err(|error| SimError::Io {
            what: format!("cannot read {source}"),
            error,
        })?;
    if read == 0 {
        return Ok(false);
    }
    if buffer.last() == Some(&b'\n') {
        buffer.pop();
    } else if buffer.len() > MAX_LINE_BYTES {
        return Err(SimError::LineTooLong {
            source: source.to_string(),
            line: line_number,
        });
    }
    Ok(true)
}

/// Parses one line; `None` for a blank or comment line (`#` or `//` after leading spaces).
fn parse_line(line: &[u8], source: &str, line_number: u64) -> Result<Option<Input>, SimError> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() || trimmed.starts_with(b"#") || trimmed.starts_with(b"//") {
        return Ok(None);
    }
    serde_json::from_slice(trimmed)
        .map(Some)
        .map_err(|error| parse_error(&error, line, source, line_number))
}

/// Builds a parse error whose column counts from the start of the untrimmed line.
fn parse_error(error: &serde_json::Error, line: &[u8], source: &str, line_number: u64) -> SimError {
    // serde_json appends " at line L column C" to its message; the position is reported
    // separately, relative to the file rather than to the one-line document.
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    let indent = line.len() - line.trim_ascii_start().len();
    SimError::Parse {
        source: source.to_string(),
        line: line_number,
        column: error.column() + indent,
        message,
    }
}

/// Writes one `{"seq":N,"event":..}` line per event.
fn write_events<W: Write>(writer: &mut W, seq: u64, events: &[Event]) -> io::Result<()> {
    for event in events {
        serde_json::to_writer(&mut *writer, &EventLine { seq, event })?;
        writer.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes the closing `{"state_hash":"..","seq":N}` line.
fn write_hash_line<W: Write>(writer: &mut W, summary: Summary) -> io::Result<()> {
    let line = HashLine {
        state_hash: format!("{:016x}", summary.state_hash),
        seq: summary.last_seq,
    };
    serde_json::to_writer(&mut *writer, &line)?;
    writer.write_all(b"\n")
}

/// Runs to standard output. A reader that goes away early (`| head`) ends the run quietly.
fn run_to_stdout<R: BufRead>(
    reader: R,
    source: &str,
    journal: Option<&mut Recorder>,
) -> Result<Option<Summary>, SimError> {
    let mut writer = BufWriter::new(io::stdout().lock());
    match run_lines_journaled(reader, source, &mut writer, journal) {
        Ok(summary) => Ok(Some(summary)),
        Err(SimError::Io { error, .. }) if error.kind() == io::ErrorKind::BrokenPipe => Ok(None),
        Err(error) => {
            // Keep the events of the lines before the bad one: they help find it. A failure
            // to flush them is less important than the error being reported.
            let _ = writer.flush();
            Err(error)
        }
    }
}

/// Runs into a temporary file next to `path` and renames it over `path` only when the whole
/// input ran, so that `path` holds either a complete output or what it held before.
fn run_to_file<R: BufRead>(
    reader: R,
    source: &str,
    path: &Path,
    journal: Option<&mut Recorder>,
) -> Result<Option<Summary>, SimError> {
    let temporary = temporary_path(path);
    let io_error = |what: &str, path: &Path| {
        let what = format!("cannot {what} {}", path.display());
        move |error| SimError::Io { what, error }
    };
    // Errors name `path`, the file the user asked for, rather than the temporary name.
    let file = File::create(&temporary).map_err(io_error("create", path))?;
    let mut writer = BufWriter::new(file);
    let result = run_lines_journaled(reader, source, &mut writer, journal).and_then(|summary| {
        let file = writer
            .into_inner()
            .map_err(|error| io_error("write", path)(error.into_error()))?;
        file.sync_all().map_err(io_error("write", path))?;
        std::fs::rename(&temporary, path).map_err(io_error("write", path))?;
        Ok(summary)
    });
    if result.is_err() {
        // Best effort: the run's own error is the one worth reporting.
        let _ = std::fs::remove_file(&temporary);
    }
    result.map(Some)
}

/// `dir/.name.tmp-PID`: hidden, in the same directory (so the rename stays on one file
/// system), and distinct per process.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(text: &str) -> Result<(Summary, String), SimError> {
        let mut output = Vec::new();
        let summary = run_lines(text.as_bytes(), "test.jsonl", &mut output)?;
        Ok((summary, String::from_utf8(output).unwrap()))
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let (summary, output) = run_str(
            "# a comment\n\n   // another\n{\"ts\":5,\"cmd\":\"create_account\",\"account\":1}\n",
        )
        .unwrap();
        assert_eq!(summary.last_seq, 1);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"seq":1,"event":"account_created","account":1,"tier":"basic"}"#
        );
        assert_eq!(
            lines[1],
            format!(r#"{{"state_hash":"{:016x}","seq":1}}"#, summary.state_hash)
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn an_empty_input_still_ends_with_the_hash_line() {
        let (summary, output) = run_str("").unwrap();
        assert_eq!(summary.last_seq, 0);
        assert!(output.starts_with("{\"state_hash\":\""));
        assert!(output.ends_with(",\"seq\":0}\n"));
    }

    #[test]
    fn a_bad_line_names_its_line_and_column_in_the_file() {
        let error = run_str("# header\n  {\"ts\":1,\"cmd\":\"no_such_command\"}\n").unwrap_err();
        let SimError::Parse { line, column, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(*line, 2);
        assert!(*column > 2, "column {column} should count the indent");
        let text = error.to_string();
        assert!(text.starts_with("test.jsonl:2:"), "{text}");
        assert!(text.contains("no_such_command"), "{text}");
        assert!(!text.contains(" at line 1 column"), "{text}");
    }

    #[test]
    fn a_line_without_newline_at_the_end_of_the_file_is_read() {
        let (summary, _) = run_str("{\"ts\":1,\"cmd\":\"balances\"}").unwrap();
        assert_eq!(summary.last_seq, 1);
    }

    #[test]
    fn equal_timestamps_are_allowed_and_lower_ones_are_not() {
        run_str("{\"ts\":2,\"cmd\":\"balances\"}\n{\"ts\":2,\"cmd\":\"balances\"}\n").unwrap();
        let error =
            run_str("{\"ts\":2,\"cmd\":\"balances\"}\n#\n{\"ts\":1,\"cmd\":\"balances\"}\n")
                .unwrap_err();
        assert!(
            matches!(
                error,
                SimError::TimeWentBackwards {
                    line: 3,
                    ts_ns: 1,
                    previous_ts_ns: 2,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn an_overlong_line_is_refused() {
        let text = format!("#{}\n", "x".repeat(MAX_LINE_BYTES));
        let error = run_str(&text).unwrap_err();
        assert!(
            matches!(error, SimError::LineTooLong { line: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_read() {
        let text = format!("#{}\n", "x".repeat(MAX_LINE_BYTES - 1));
        run_str(&text).unwrap();
    }

    #[test]
    fn temporary_path_is_a_hidden_sibling() {
        let path = temporary_path(Path::new("/some/dir/out.jsonl"));
        assert_eq!(path.parent(), Some(Path::new("/some/dir")));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".out.jsonl.tmp-"), "{name}");
    }
}
