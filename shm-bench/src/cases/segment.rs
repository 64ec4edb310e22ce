//! Time to create, and to open, one segment: the parent creates a batch
//! of segments (timing each create), sends their names or handles to the
//! child over a pipe, and the child opens each one (timing each open),
//! checks the value it holds, and sends its timings back.
//!
//! Floor: a bare `shm_open` + `ftruncate` + `mmap` (create), `shm_open` +
//! `fstat` + `mmap` (open). shm: `SharedInt::create_named` (exclusive
//! create, `fchmod`, `fallocate`, header) and `load_sharedobject` (header
//! checks).

use super::{Case, ChildCtx, Ctx, Group, Metric, id};
use crate::Result;
use crate::link::{Mismatch, nanos};
use crate::measure::{self, Measure};
use crate::proc::{Control, Stdio3};
use crate::raw::{RawShm, unique_name};
use shm_runtime::{SharedInt, SharedObject};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Instant;

/// Case parameter: bare mappings.
const RAW: usize = 0;
/// Case parameter: `SharedInt`.
const SHM: usize = 1;
/// Bytes of a bare segment.
const RAW_LEN: usize = 4096;

pub(super) fn cases(out: &mut Vec<Case>) {
    for metric in [Metric::Create, Metric::Open] {
        let floor = id(Group::Floor, "raw-segment", metric, 8);
        out.push(
            Case::new(Group::Floor, "raw-segment", metric, 8, "shm_open + mmap", segments_parent)
                .child(segments_child)
                .param(RAW)
                .note("bare POSIX segment of 4 KiB"),
        );
        out.push(
            Case::new(Group::Scaling, "segment", metric, 8, "SharedInt", segments_parent)
                .child(segments_child)
                .param(SHM)
                .floor(floor),
        );
    }
}

/// A segment the parent made.
#[expect(dead_code, reason = "held for its drop, which unmaps (and, in the creator, unlinks)")]
enum Made {
    Raw(RawShm),
    Shm(SharedInt),
}

/// Creates segment number `value` of kind `kind`; returns it and the line
/// the child needs to open it.
fn create(kind: usize, value: u64) -> Result<(Made, String)> {
    let name = unique_name("seg");
    if kind == RAW {
        let shm = RawShm::create(&name, RAW_LEN)?;
        // Release pairs with the child's Acquire load in `open`.
        shm.words(1)[0].store(value, core::sync::atomic::Ordering::Release);
        Ok((Made::Raw(shm), format!("{name} {value}")))
    } else {
        let int = SharedInt::create_named(&name, value.cast_signed())?;
        let line = format!("{} {value}", int.handle());
        Ok((Made::Shm(int), line))
    }
}

/// Opens what `line` names and checks it holds the value the line says.
fn open(kind: usize, line: &str) -> Result<(Made, u64)> {
    let (what, value) = line.rsplit_once(' ').ok_or("malformed segment line")?;
    let expected: u64 = value.parse()?;
    let start = Instant::now();
    let (made, found) = if kind == RAW {
        let shm = RawShm::open(what, RAW_LEN)?;
        // Acquire pairs with the parent's Release store in `create`.
        let found = shm.words(1)[0].load(core::sync::atomic::Ordering::Acquire);
        (Made::Raw(shm), found)
    } else {
        let int = SharedInt::load_sharedobject(&what.parse()?)?;
        let found = int.read().cast_unsigned();
        (Made::Shm(int), found)
    };
    let took = nanos(start.elapsed());
    if found != expected {
        return Err(Mismatch { expected, found: [found; 3] }.into());
    }
    Ok((made, took))
}

fn segments_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let (kind, metric) = (ctx.case.param, ctx.case.metric);
    let per_run: u64 = if ctx.plan.smoke { 3 } else { 200 };
    let ctl = Control::create()?;
    let stdio = Stdio3 { stdin: Stdio::piped(), stdout: Stdio::piped() };
    let mut child = ctx.spawn(&ctl, &[], stdio)?;
    let mut to_child = child.child().stdin.take().ok_or("no pipe to the child")?;
    let mut from_child = BufReader::new(child.child().stdout.take().ok_or("no pipe from the child")?);
    let mut runs = Vec::new();
    let mut value = 1;
    // One extra run first: warm-up.
    for run in 0..=ctx.plan.runs {
        let mut made = Vec::new();
        let mut creates = measure::histogram();
        let mut lines = String::new();
        for _ in 0..per_run {
            let start = Instant::now();
            let (segment, line) = create(kind, value)?;
            let took = nanos(start.elapsed());
            creates.saturating_record(took);
            made.push(segment);
            lines.push_str(&line);
            lines.push('\n');
            value += 1;
        }
        lines.push('\n');
        to_child.write_all(lines.as_bytes())?;
        to_child.flush()?;
        let mut reply = String::new();
        if from_child.read_line(&mut reply)? == 0 {
            return Err("the child closed its output before answering".into());
        }
        let mut opens = measure::histogram();
        let mut count = 0;
        for took in reply.split_whitespace() {
            opens.saturating_record(took.parse()?);
            count += 1;
        }
        if count != per_run {
            return Err(format!("the child opened {count} segments of {per_run}").into());
        }
        drop(made);
        if run == 0 {
            continue;
        }
        runs.push(if metric == Metric::Create { creates } else { opens });
    }
    drop(to_child);
    child.finish()?;
    Ok(measure::samples(&runs, per_run))
}

fn segments_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let kind = ctx.case.param;
    ctx.ctl.ready();
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut opened = Vec::new();
    let mut timings = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            timings.push('\n');
            output.write_all(timings.as_bytes())?;
            output.flush()?;
            timings.clear();
            opened.clear();
            continue;
        }
        let (made, took) = open(kind, line)?;
        opened.push(made);
        timings.push_str(&took.to_string());
        timings.push(' ');
    }
}
