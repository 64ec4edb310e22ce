//! The command line and the configuration file, which uses the command
//! line's words: one stream or link option per line.

use crate::link::Link;
use crate::stream::{InSpec, OutSpec, Stream};

/// What a bridge process runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The Zenoh link.
    pub link: Link,
    /// The streams, each on its own thread.
    pub streams: Vec<Stream>,
    /// No live line on stderr.
    pub quiet: bool,
}

/// The usage text.
pub const USAGE: &str = "\
usage: shm-bridge out --from NAME --key KEY [--drop] [LINK] [--quiet]
       shm-bridge in --key KEY --to NAME [--create CAPACITY] [--drop] [LINK] [--quiet]
       shm-bridge --config FILE [LINK] [--quiet]
LINK:  --listen ENDPOINT (tcp/0.0.0.0:7447)   --connect ENDPOINT (tcp/HOST:PORT)
       --scout (multicast scouting; off by default); each may be repeated
       --low-latency (Zenoh's low-latency transport, used where both ends ask for
       it: no transmit thread, no Zenoh batching; items up to about 31 KB)
FILE:  one stream or link option per line, in these words (`out --from a --key k`,
       `in --key k --to b --create 64`, `--connect tcp/10.0.0.2:7447`); # comments";

impl Config {
    /// Parses the arguments (without the program name). `--config FILE`
    /// reads the file's lines as more arguments, each line on its own.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Self, String> {
        let mut config = Self::default();
        config.parse_line(args, true)?;
        if config.streams.is_empty() {
            return Err(format!("no stream given\n{USAGE}"));
        }
        Ok(config)
    }

    /// Parses a configuration file's text.
    pub fn parse_file(&mut self, text: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            self.parse_line(&words, false).map_err(|e| format!("line {}: {e}", n + 1))?;
        }
        Ok(())
    }

    fn parse_line<S: AsRef<str>>(&mut self, args: &[S], top: bool) -> Result<(), String> {
        let mut words = args.iter().map(AsRef::as_ref);
        let mut stream: Option<Stream> = None;
        while let Some(word) = words.next() {
            let mut value = |flag: &str| words.next().map(str::to_owned).ok_or_else(|| format!("{flag} needs a value"));
            match (word, stream.as_mut()) {
                ("out", None) => {
                    stream = Some(Stream::Out(OutSpec { from: String::new(), key: String::new(), drop: false }));
                }
                ("in", None) => {
                    stream =
                        Some(Stream::In(InSpec { key: String::new(), to: String::new(), create: None, drop: false }));
                }
                ("--listen", _) => self.link.listen.push(value(word)?),
                ("--connect", _) => self.link.connect.push(value(word)?),
                ("--scout", _) => self.link.scout = true,
                ("--low-latency", _) => self.link.low_latency = true,
                ("--quiet", _) => self.quiet = true,
                ("--config", None) if top => {
                    let path = value(word)?;
                    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
                    self.parse_file(&text).map_err(|e| format!("{path}: {e}"))?;
                }
                ("--from", Some(Stream::Out(s))) => s.from = value(word)?,
                ("--key", Some(Stream::Out(s))) => s.key = value(word)?,
                ("--drop", Some(Stream::Out(s))) => s.drop = true,
                ("--key", Some(Stream::In(s))) => s.key = value(word)?,
                ("--to", Some(Stream::In(s))) => s.to = value(word)?,
                ("--drop", Some(Stream::In(s))) => s.drop = true,
                ("--create", Some(Stream::In(s))) => {
                    let text = value(word)?;
                    let capacity =
                        text.parse().map_err(|_| format!("--create takes a number of slots, not {text:?}"))?;
                    s.create = Some(capacity);
                }
                _ => return Err(format!("unexpected {word:?}\n{USAGE}")),
            }
        }
        match stream {
            Some(Stream::Out(s)) if s.from.is_empty() || s.key.is_empty() => Err("out needs --from and --key".into()),
            Some(Stream::In(s)) if s.to.is_empty() || s.key.is_empty() => Err("in needs --key and --to".into()),
            Some(s) => {
                self.streams.push(s);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_and_file_read_alike() {
        let c = Config::from_args(&["out", "--from", "a", "--key", "k/a", "--listen", "tcp/127.0.0.1:1"]).unwrap();
        assert_eq!(c.streams, [Stream::Out(OutSpec { from: "a".into(), key: "k/a".into(), drop: false })]);
        assert_eq!(c.link.listen, ["tcp/127.0.0.1:1"]);
        assert!(!c.link.scout);
        assert!(!c.link.low_latency);
        let c = Config::from_args(&["in", "--key", "k", "--to", "b", "--low-latency"]).unwrap();
        assert!(c.link.low_latency);
        let mut f = Config::default();
        f.parse_file("# two streams\n--connect tcp/127.0.0.1:2\n--low-latency\nin --key k/a --to b --create 64 --drop\n\nout --from c --key k/c # c\n")
            .unwrap();
        assert_eq!(f.link.connect, ["tcp/127.0.0.1:2"]);
        assert!(f.link.low_latency);
        assert_eq!(
            f.streams,
            [
                Stream::In(InSpec { key: "k/a".into(), to: "b".into(), create: Some(64), drop: true }),
                Stream::Out(OutSpec { from: "c".into(), key: "k/c".into(), drop: false }),
            ]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |args: &[&str]| Config::from_args(args).unwrap_err();
        assert!(err(&[]).starts_with("no stream given"));
        assert!(err(&["out", "--from", "a"]).contains("--key"));
        assert!(err(&["in", "--key", "k", "--to", "b", "--create", "x"]).contains("not \"x\""));
        assert!(err(&["out", "--to", "b"]).starts_with("unexpected \"--to\""));
        assert!(err(&["out", "--from"]).contains("--from needs a value"));
        let mut f = Config::default();
        assert!(f.parse_file("out --from a --key k\nbogus\n").unwrap_err().starts_with("line 2: unexpected"));
    }
}
