//! What `polylink-hot-host` says, as one type: [`Event`] is each line it prints, written with
//! `Display` and read back with `FromStr`, so the host, `cargo xtask hot-reload` and the tests
//! agree on every field by construction.
//!
//! A line is a first word, then `key=value` words (`reload-error`'s `error=` takes the rest of
//! the line, since an error message has spaces):
//! - `ready pid=… table=0x… region=0x… units=… used=… lock_fd=… slots=step,mix`
//! - `call n=… step=… mix=…`
//! - `reload slot=… file=… bytes=… unit=… event_ns=… switched_ns=…`
//! - `change slot=… entry=0x… by=this-host|another-process first_call_ns=… n=… result=…`
//! - `reload-error slot=… error=…`

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// One line the host prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The region is reserved and the table published; calls begin.
    Ready {
        pid: u32,
        table: u64,
        region: u64,
        units: usize,
        used: usize,
        lock_fd: i32,
        slots: Vec<String>,
    },
    /// The latest result of every slot, by name in table order, at call round `n`.
    Call { n: u64, results: Vec<(String, u64)> },
    /// The host installed a changed bin itself (times are CLOCK_MONOTONIC, in every process the
    /// same clock).
    Reload {
        slot: String,
        file: PathBuf,
        bytes: usize,
        unit: usize,
        event_ns: u64,
        switched_ns: u64,
    },
    /// The first call of new code in `slot`, however it came.
    Change {
        slot: String,
        entry: u64,
        by: By,
        first_call_ns: u64,
        n: u64,
        result: u64,
    },
    /// A changed bin could not be installed; the slot keeps its code.
    ReloadError { slot: String, error: String },
}

/// Who installed the code a slot switched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    ThisHost,
    AnotherProcess,
}

impl By {
    fn word(self) -> &'static str {
        match self {
            By::ThisHost => "this-host",
            By::AnotherProcess => "another-process",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Ready {
                pid,
                table,
                region,
                units,
                used,
                lock_fd,
                slots,
            } => write!(
                f,
                "ready pid={pid} table={table:#x} region={region:#x} units={units} used={used} \
                 lock_fd={lock_fd} slots={}",
                slots.join(",")
            ),
            Event::Call { n, results } => {
                write!(f, "call n={n}")?;
                for (slot, result) in results {
                    write!(f, " {slot}={result}")?;
                }
                Ok(())
            }
            Event::Reload {
                slot,
                file,
                bytes,
                unit,
                event_ns,
                switched_ns,
            } => write!(
                f,
                "reload slot={slot} file={} bytes={bytes} unit={unit} event_ns={event_ns} \
                 switched_ns={switched_ns}",
                file.display()
            ),
            Event::Change {
                slot,
                entry,
                by,
                first_call_ns,
                n,
                result,
            } => write!(
                f,
                "change slot={slot} entry={entry:#x} by={} first_call_ns={first_call_ns} n={n} \
                 result={result}",
                by.word()
            ),
            Event::ReloadError { slot, error } => {
                write!(f, "reload-error slot={slot} error={error}")
            }
        }
    }
}

/// A line that is not one the host prints, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a line polylink-hot-host prints ({reason}): {line:?}")]
pub struct ParseError {
    pub line: String,
    pub reason: String,
}

/// The `key=value` words of a line after its first word.
struct Fields<'l> {
    line: &'l str,
    words: Vec<(&'l str, &'l str)>,
}

impl<'l> Fields<'l> {
    fn new(line: &'l str, rest: &'l str) -> Fields<'l> {
        let words = rest
            .split_ascii_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        Fields { line, words }
    }

    fn fail(&self, reason: String) -> ParseError {
        ParseError {
            line: self.line.to_owned(),
            reason,
        }
    }

    fn text(&self, key: &str) -> Result<&'l str, ParseError> {
        self.words
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.fail(format!("no {key}=")))
    }

    fn number<T: FromStr>(&self, key: &str) -> Result<T, ParseError> {
        let text = self.text(key)?;
        text.parse()
            .map_err(|_| self.fail(format!("{key}={text} is not a number")))
    }

    fn address(&self, key: &str) -> Result<u64, ParseError> {
        let text = self.text(key)?;
        text.strip_prefix("0x")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .ok_or_else(|| self.fail(format!("{key}={text} is not a 0x address")))
    }
}

impl FromStr for Event {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Event, ParseError> {
        let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
        let f = Fields::new(line, rest);
        Ok(match first {
            "ready" => Event::Ready {
                pid: f.number("pid")?,
                table: f.address("table")?,
                region: f.address("region")?,
                units: f.number("units")?,
                used: f.number("used")?,
                lock_fd: f.number("lock_fd")?,
                slots: f.text("slots")?.split(',').map(str::to_owned).collect(),
            },
            "call" => Event::Call {
                n: f.number("n")?,
                results: f
                    .words
                    .iter()
                    .filter(|(k, _)| *k != "n")
                    .map(|(k, v)| {
                        v.parse()
                            .map(|r| (k.to_string(), r))
                            .map_err(|_| f.fail(format!("{k}={v} is not a number")))
                    })
                    .collect::<Result<_, _>>()?,
            },
            "reload" => Event::Reload {
                slot: f.text("slot")?.to_owned(),
                file: PathBuf::from(f.text("file")?),
                bytes: f.number("bytes")?,
                unit: f.number("unit")?,
                event_ns: f.number("event_ns")?,
                switched_ns: f.number("switched_ns")?,
            },
            "change" => Event::Change {
                slot: f.text("slot")?.to_owned(),
                entry: f.address("entry")?,
                by: match f.text("by")? {
                    "this-host" => By::ThisHost,
                    "another-process" => By::AnotherProcess,
                    other => return Err(f.fail(format!("by={other} names no one"))),
                },
                first_call_ns: f.number("first_call_ns")?,
                n: f.number("n")?,
                result: f.number("result")?,
            },
            "reload-error" => Event::ReloadError {
                slot: f.text("slot")?.to_owned(),
                error: rest
                    .split_once("error=")
                    .map(|(_, e)| e.to_owned())
                    .ok_or_else(|| f.fail("no error=".into()))?,
            },
            other => return Err(f.fail(format!("unknown first word {other:?}"))),
        })
    }
}

impl Event {
    /// The result `slot` gave in a `call` line.
    pub fn result_of(&self, slot: &str) -> Option<u64> {
        match self {
            Event::Call { results, .. } => results.iter().find(|(s, _)| s == slot).map(|(_, r)| *r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_reads_back_as_it_was_written() {
        let events = [
            Event::Ready {
                pid: 42,
                table: 0x5555_0000_1000,
                region: 0x7f00_0001_0000,
                units: 256,
                used: 2,
                lock_fd: 3,
                slots: vec!["step".into(), "mix".into()],
            },
            Event::Call {
                n: 7,
                results: vec![("step".into(), 8), ("mix".into(), 21)],
            },
            Event::Reload {
                slot: "step".into(),
                file: "/tmp/hot/step.bin".into(),
                bytes: 5,
                unit: 2,
                event_ns: 10,
                switched_ns: 20,
            },
            Event::Change {
                slot: "mix".into(),
                entry: 0x7f00_0001_0200,
                by: By::AnotherProcess,
                first_call_ns: 30,
                n: 9,
                result: 27,
            },
            Event::ReloadError {
                slot: "step".into(),
                error: "raw code is 0 bytes: step.bin".into(),
            },
        ];
        for event in events {
            let line = event.to_string();
            assert_eq!(line.parse::<Event>(), Ok(event), "{line}");
        }
    }

    #[test]
    fn a_line_the_host_does_not_print_is_refused_with_the_reason() {
        for (line, reason) in [
            ("hello", "unknown first word"),
            ("call n=x step=1", "n=x is not a number"),
            (
                "change slot=step entry=12 by=this-host",
                "entry=12 is not a 0x address",
            ),
            ("ready pid=1", "no table="),
        ] {
            let err = line.parse::<Event>().unwrap_err().to_string();
            assert!(err.contains(reason), "{line}: {err}");
        }
    }
}
