//! A named, mapped, validated segment, and what names and opens one: names,
//! handles, [`OpenOptions`], process identity and liveness, and their
//! errors. System calls go through [`crate::sys`]; the header layout is
//! [`crate::format`]'s, its publication [`crate::protocol::publication`]'s.
//!
//! Files are opened through [`crate::sys::shm_dir`]: never following a link,
//! never waiting on a FIFO, refusing anything but a regular file.
//!
//! Creation: `open(O_CREAT|O_EXCL)`, `fchmod(0600)` (the umask cannot
//! widen it), `fallocate` of the whole size before the first touch (a full
//! /dev/shm is `OutOfSpace`, never a later `SIGBUS`), `mmap`, the creator
//! pid, the header, the object's initial value, and the state word last.
//! Any failure removes the half-made segment.
//!
//! Opening: the file's owner and mode checked against the caller's
//! [`OpenOptions`] (owner-only `0600` by default), a bounded wait until the
//! file has its size and the state word says ready (never mapping a size-0
//! file, never reading a half-written header), a check that every byte of
//! the file is backed by memory (a sparse file would raise `SIGBUS` on
//! access), then [`live_header::validate`].
//!
//! Sharing with a group ([`Segment::share_with_group`]): the creator
//! re-opens its name, checks it is still its file, and sets group and mode
//! `0660` through that descriptor.

pub(crate) mod barrier;
pub(crate) mod error;
pub(crate) mod handle;
pub(crate) mod live_header;
pub(crate) mod liveness;
pub(crate) mod name;
pub(crate) mod options;
pub(crate) mod stale;
#[cfg(feature = "async")]
pub(crate) mod waiter;

use crate::format::header::{
    self, CREATOR_WORD, HEADER_SIZE, HEADER_WORDS, Header, Layout, ObjectKind, PAYLOAD_ALIGN, STATE_INITIALIZING,
    STATE_READY, STATE_WORD,
};
use crate::format::schema::{MAX_SCHEMA_SIZE, Schema};
use crate::segment::error::{CleanupError, CreateError, OpenError, ShareError};
use crate::segment::handle::Handle;
use crate::segment::live_header::Expected;

use crate::protocol::publication;
use crate::segment::name::SegmentName;
use crate::segment::options::{Access, Caller, FileOwner, OpenOptions};
use crate::sys::map::Mapping;
use crate::sys::shm_dir::{self, FileError};
use crate::sys::{Errno, pid, process, random};
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an opener waits for the creator to finish by default.
pub const DEFAULT_OPEN_WAIT: Duration = Duration::from_secs(2);

/// How old a stale segment must be for segment creation to remove it
/// ([`crate::tools::clean_stale`] removes every stale segment, whatever its age).
const STALE_MIN_AGE: Duration = Duration::from_secs(60);

/// Whether an open refuses a bad schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SchemaCheck {
    /// Refuse it (every typed object).
    Strict,
    /// Keep the segment and say why (tools).
    Keep,
}

/// What a new segment holds.
pub(crate) struct Spec<'a> {
    pub kind: ObjectKind,
    pub layout: Layout<'a>,
    /// Payload size in bytes.
    pub payload_size: u64,
    /// Payload alignment, a power of two up to [`PAYLOAD_ALIGN`].
    pub payload_align: u64,
    /// The capacity the user asked for, for error messages.
    pub capacity: usize,
}

/// The header words at the start of `map`.
fn header_words(map: &Mapping) -> &[AtomicU64; HEADER_WORDS] {
    debug_assert!(map.len() >= HEADER_SIZE);
    // SAFETY: every mapping of a segment is at least HEADER_SIZE bytes
    // (checked before mapping), page aligned (so 8-aligned), lives as long
    // as the borrow of `map`, and this process touches it only through
    // atomics.
    unsafe { map.base().cast::<[AtomicU64; HEADER_WORDS]>().as_ref() }
}

/// The payload area of a segment: `len` bytes (a multiple of 8) right
/// after the header, 64-byte aligned.
#[derive(Clone, Copy)]
pub(crate) struct Payload<'a> {
    base: NonNull<u8>,
    len: usize,
    _segment: PhantomData<&'a Segment>,
}

impl<'a> Payload<'a> {
    /// The payload as 64-bit atomic words.
    #[inline]
    pub(crate) fn words(self) -> &'a [AtomicU64] {
        // SAFETY: `base` is 64-aligned, `len` bytes lie inside the mapping
        // (validated against the file size), the mapping outlives 'a, and
        // this process accesses it only through atomics.
        unsafe { core::slice::from_raw_parts(self.base.cast::<AtomicU64>().as_ptr(), self.len / 8) }
    }

    /// Word `index` of the payload as a 32-bit futex word (its first four
    /// bytes). The caller never accesses that word through [`words`]
    /// (mixed-size atomics on one location are not allowed).
    ///
    /// [`words`]: Payload::words
    #[inline]
    pub(crate) fn futex_word(self, index: usize) -> &'a AtomicU32 {
        let word = &self.words()[index];
        // SAFETY: `AtomicU32` has size 4 and alignment 4; the word is
        // 8-aligned and its 8 bytes lie inside the mapping, which outlives
        // 'a; the caller accesses this word only through this view.
        unsafe { &*core::ptr::from_ref(word).cast::<AtomicU32>() }
    }

    /// The payload as atomic bytes.
    pub(crate) fn bytes(self) -> &'a [AtomicU8] {
        // SAFETY: as in `words`; `AtomicU8` has alignment 1.
        unsafe { core::slice::from_raw_parts(self.base.cast::<AtomicU8>().as_ptr(), self.len) }
    }
}

/// One mapped segment: its name, mapping and header, and whether this
/// process created it.
pub(crate) struct Segment {
    map: Mapping,
    name: SegmentName,
    /// The validated header (state ready).
    header: Header,
    /// The stored type's schema, parsed and checked against the header's
    /// fingerprint, or why it was refused (only for a segment opened with
    /// [`Segment::open_keeping_bad_schema`]). Boxed: every object holds a
    /// segment, and this is rarely read.
    schema: Box<Result<Schema, String>>,
    /// Pid of the creating process when this object created the segment;
    /// `None` for openers and after `cleanup`. Only that pid unlinks, so a
    /// forked child dropping its copy removes nothing.
    creator: Option<u64>,
    /// Pid of the process that removes the name when this object goes:
    /// the creator's, unless a ring end decided otherwise
    /// ([`keep_name`](Self::keep_name),
    /// [`remove_name_when_done`](Self::remove_name_when_done)).
    remover: Option<u64>,
    /// Device and inode of the file this object created or opened, so that
    /// cleanup can tell its own file from one re-created under the same
    /// name after a third party removed it.
    file_id: FileId,
}

/// Device and inode number of a file.
type FileId = (u64, u64);

fn file_id(fd: &OwnedFd) -> Result<FileId, Errno> {
    let stat = shm_dir::stat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Removes a half-made segment unless disarmed.
struct UnlinkGuard<'a> {
    name: &'a str,
}

impl Drop for UnlinkGuard<'_> {
    fn drop(&mut self) {
        // Nothing to report: the create error is what the caller sees.
        let _ = shm_dir::unlink(self.name);
    }
}

/// Sleeping on a futex word of a segment, and waking its sleepers (for the
/// objects above, which do not reach the system layer themselves).
pub(crate) use crate::sys::futex::{wait as futex_wait, wake as futex_wake};

impl Segment {
    /// Creates a segment named `name` (or a generated name), reserves its
    /// space, writes the header, lets `init` write the initial payload, and
    /// publishes it.
    pub(crate) fn create(name: Option<&str>, spec: &Spec<'_>, init: impl Fn(Payload<'_>)) -> Result<Self, CreateError> {
        debug_assert!(spec.payload_align.is_power_of_two() && spec.payload_align <= PAYLOAD_ALIGN as u64);
        // A bad name is refused before any system call.
        let name = name.map(SegmentName::new).transpose().map_err(CreateError::InvalidName)?;
        // Leftovers of crashed programs, once per process; only those
        // created a while ago, so a test or a tool that is looking at a
        // stale segment right now still finds it.
        stale::clean_on_create(STALE_MIN_AGE);
        if let Some(name) = name {
            return Self::create_at(name, spec, init);
        }
        // 128 random bits: a collision means someone guessed, or the
        // kernel's random source is broken; retry a few times.
        let mut attempts = 0;
        loop {
            let name = SegmentName::generate().map_err(|source| CreateError::Io {
                name: SegmentName::unnamed(),
                op: "getrandom",
                source,
            })?;
            match Self::create_at(name, spec, &init) {
                Err(CreateError::AlreadyExists { .. }) if attempts < 3 => attempts += 1,
                other => return other,
            }
        }
    }

    fn create_at(name: SegmentName, spec: &Spec<'_>, init: impl Fn(Payload<'_>)) -> Result<Self, CreateError> {
        let overflow = || CreateError::SizeOverflow { name: name.clone(), capacity: spec.capacity };
        // Every schema a type can declare is within the limits
        // (`schema::check` runs when its fingerprint is computed, and
        // `ItemType::new` parses a run-time one), so it fits in a `u32`.
        let schema = spec.layout.schema.to_schema().expect("objects create segments with a schema of their own");
        let schema_bytes = schema.encode();
        let schema_size = u32::try_from(schema_bytes.len()).map_err(|_| overflow())?;
        let total = header::total_size(spec.payload_size, schema_size).ok_or_else(overflow)?;
        let payload_end = header::payload_end(spec.payload_size).ok_or_else(overflow)?;
        let map_len = usize::try_from(total).ok().filter(|n| isize::try_from(*n).is_ok()).ok_or_else(overflow)?;
        let io = |op: &'static str| {
            let name = name.clone();
            move |e: Errno| CreateError::Io { name, op, source: e.into() }
        };
        let mode = 0o600;
        // Our identity (its lock) before the file exists, so the file is
        // without a creator for as short a time as possible.
        let me = liveness::me();
        let mut attempts = 0;
        let mut took_over = false;
        let fd = loop {
            // A link or a FIFO planted under the name is `EEXIST` too:
            // `O_EXCL` never follows.
            let fd = match shm_dir::create_new(name.as_str(), mode) {
                Ok(fd) => fd,
                // A segment of ours whose creator is proven dead (a program
                // killed and started again) is removed and the name made
                // anew, once; anything else is left alone.
                Err(Errno::EXIST) => match stale::take_over(name.as_str()) {
                    Ok(()) if !took_over => {
                        took_over = true;
                        continue;
                    }
                    Ok(()) => return Err(CreateError::AlreadyExists { name, found: None, creator_pid: None }),
                    Err((found, creator_pid)) => return Err(CreateError::AlreadyExists { name, found, creator_pid }),
                },
                Err(e @ (Errno::ACCESS | Errno::PERM)) => {
                    return Err(CreateError::PermissionDenied { name: name.clone(), source: e.into() });
                }
                Err(e) => return Err(io("open")(e)),
            };
            // Held until the state word is published: a stale cleaner that
            // finds the file without a header leaves it alone while we hold
            // this. One that took the lock before us (between our open
            // and this call) may have removed the name: then the file we
            // hold has no link left, and we make a new one.
            liveness::lock_for_init(&fd).map_err(io("fcntl(F_OFD_SETLK)"))?;
            if shm_dir::stat(&fd).map_err(io("fstat"))?.st_nlink > 0 {
                break fd;
            }
            attempts += 1;
            if attempts == 3 {
                return Err(io("open")(Errno::STALE));
            }
        };
        let guard = UnlinkGuard { name: name.as_str() };
        shm_dir::set_mode(&fd, mode).map_err(io("fchmod"))?;
        shm_dir::reserve(&fd, total).map_err(|e| match e {
            Errno::NOSPC | Errno::FBIG => CreateError::OutOfSpace { name: name.clone(), requested: total },
            e => io("fallocate")(e),
        })?;
        let id = file_id(&fd).map_err(io("fstat"))?;
        let map = Mapping::new(&fd, map_len).map_err(io("mmap"))?;

        // The magic and the identity first: an opener or a cleaner that
        // finds the state still initializing uses the identity to tell a
        // slow creator from a dead one, and the magic to tell shm's file
        // from another program's (a file with zeros where the magic goes
        // and anything else written is never shm's). Relaxed: nobody
        // trusts these before the state word is published.
        header_words(&map)[0].store(u64::from_ne_bytes(header::MAGIC), Ordering::Relaxed);
        header_words(&map)[CREATOR_WORD].store(me, Ordering::Relaxed);
        let nonce =
            random::random_u64().map_err(|source| CreateError::Io { name: name.clone(), op: "getrandom", source })?;
        let created =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut header = Header::new(spec.kind, spec.layout, spec.payload_size, spec.payload_align, nonce, me, created);
        debug_assert_eq!(header.schema_size, schema_size);
        live_header::store(&header, header_words(&map));
        // `payload_end <= total == map_len`, checked above.
        let payload_len = usize::try_from(payload_end).map_or(0, |end| end - HEADER_SIZE);
        let segment_payload = Payload { base: payload_base(&map), len: payload_len, _segment: PhantomData };
        init(segment_payload);
        // The schema, after the payload; published with the state word.
        live_header::store_schema(&schema_bytes, schema_words(&map, payload_end, schema_size));
        live_header::publish(header_words(&map));
        header.state = STATE_READY;
        // The mapping keeps the open file description (and so its lock)
        // alive after `fd` closes: release the lock explicitly.
        liveness::unlock_init(&fd);
        drop(fd);
        core::mem::forget(guard);
        Ok(Self {
            map,
            name,
            header,
            schema: Box::new(Ok(schema)),
            creator: Some(pid::current()),
            remover: Some(pid::current()),
            file_id: id,
        })
    }

    /// Opens the segment `handle` names, expecting an object of `kind`
    /// of `layout` (and, for fixed-size kinds, a payload of `fixed_payload`
    /// bytes), if `options` accept its owner and mode; waits up to
    /// `options.wait_time()` for its creator to finish.
    pub(crate) fn open(
        handle: &Handle,
        kind: ObjectKind,
        layout: Layout<'_>,
        fixed_payload: Option<u64>,
        options: &OpenOptions,
    ) -> Result<Self, OpenError> {
        Self::open_checking(handle, kind, layout, fixed_payload, options, SchemaCheck::Strict)
    }

    /// Opens like [`open`](Self::open), but keeps a segment whose schema
    /// is bad (`schema_error` says why) instead of refusing it: for tools
    /// that then show raw words. Everything else is checked as strictly.
    pub(crate) fn open_keeping_bad_schema(
        handle: &Handle,
        kind: ObjectKind,
        layout: Layout<'_>,
        options: &OpenOptions,
    ) -> Result<Self, OpenError> {
        Self::open_checking(handle, kind, layout, None, options, SchemaCheck::Keep)
    }

    fn open_checking(
        handle: &Handle,
        kind: ObjectKind,
        layout: Layout<'_>,
        fixed_payload: Option<u64>,
        options: &OpenOptions,
        check: SchemaCheck,
    ) -> Result<Self, OpenError> {
        let name = handle.name().clone();
        // Checks that need no system call come first, in the order the
        // header is checked later.
        if handle.kind() != kind {
            return Err(OpenError::KindMismatch { name, expected: kind, found: handle.kind().code() });
        }
        let Layout { fingerprint, type_name, .. } = layout;
        if handle.fingerprint() != fingerprint {
            // Refused whatever the segment says; open it as what the handle
            // announces only to name the type it holds and the first field
            // where the two differ.
            let announced = Layout { fingerprint: handle.fingerprint(), ..layout };
            let found = Self::open(handle, kind, announced, None, options).ok();
            let found_type = found.as_ref().and_then(|segment| segment.header.type_name().map(str::to_owned));
            let difference = found
                .as_ref()
                .and_then(|segment| layout.schema.to_schema()?.difference(segment.schema().ok()?))
                .map(Box::new);
            return Err(OpenError::LayoutMismatch {
                name,
                expected: fingerprint,
                expected_type: type_name,
                found: handle.fingerprint(),
                found_type,
                difference,
            });
        }
        if let Some(expected) = fixed_payload.filter(|size| *size != handle.payload_size()) {
            return Err(OpenError::PayloadMismatch { name, expected, found: handle.payload_size() });
        }
        let io = |op: &'static str| {
            let name = name.clone();
            move |e: Errno| OpenError::Io { name, op, source: e.into() }
        };
        // Never through a link, never waiting on a FIFO: anything but a
        // regular file is refused before it is read.
        let (fd, _) = shm_dir::open_existing(name.as_str(), true).map_err(|e| match e {
            FileError::NotAFile(found) => OpenError::NotAFile { name: name.clone(), found },
            FileError::Sys(Errno::NOENT) => OpenError::NotFound { name: name.clone() },
            FileError::Sys(e @ (Errno::ACCESS | Errno::PERM)) => {
                OpenError::PermissionDenied { name: name.clone(), source: e.into() }
            }
            FileError::Sys(e) => io("open")(e),
        })?;
        // Before anything is mapped: a file the caller does not trust is
        // not read at all.
        check_access(&fd, &name, options.access())?;

        let start = Instant::now();
        let mut backoff = Backoff::new(start, options.wait_time());
        // Until `fallocate` has run the file is empty: mapping and touching
        // it would fault, so wait for the size first.
        let file_size = loop {
            let size = shm_dir::stat(&fd).map_err(io("fstat"))?.st_size;
            let size = u64::try_from(size).unwrap_or(0);
            if size >= HEADER_SIZE as u64 {
                break size;
            }
            if !backoff.sleep() {
                return Err(OpenError::NotInitialized { name, waited: start.elapsed() });
            }
        };
        // Map no more than the handle announces (and room for the largest
        // schema): a peer-grown file cannot make us map more.
        let wanted = header::total_size(handle.payload_size(), u32::try_from(MAX_SCHEMA_SIZE).unwrap_or(u32::MAX))
            .unwrap_or(u64::MAX);
        let map_len = usize::try_from(file_size.min(wanted)).map_err(|_| OpenError::SizeMismatch {
            name: name.clone(),
            header: wanted,
            file: file_size,
        })?;
        // Pages the file does not have would raise SIGBUS when touched: a
        // segment's creator reserves all of them before it publishes the
        // size, so fewer bytes allocated than the size is a forgery (or a
        // file another program grew with ftruncate), refused before it is
        // mapped.
        let file_stat = shm_dir::stat(&fd).map_err(io("fstat"))?;
        if !shm_dir::backed(&file_stat) {
            let allocated = shm_dir::allocated_bytes(&file_stat);
            return Err(OpenError::Sparse { name, size: file_size, allocated });
        }
        let map = Mapping::new(&fd, map_len).map_err(io("mmap"))?;
        drop(fd);

        let words = header_words(&map);
        loop {
            // Pairs with the creator's `live_header::publish` (the loom model
            // is in `publication.rs`).
            let state = publication::load_state(&words[STATE_WORD]);
            // The creator stores the magic in one word store: anything but
            // zero or the magic is a foreign file, whatever its state says.
            let magic = words[0].load(Ordering::Relaxed).to_ne_bytes();
            match state {
                STATE_READY => break,
                STATE_INITIALIZING if magic == [0; 8] || magic == header::MAGIC => {}
                _ => {
                    let found = live_header::snapshot(words);
                    if found.magic != header::MAGIC {
                        return Err(OpenError::BadMagic { name, found: found.magic });
                    }
                    return Err(OpenError::Corrupt { name, what: "state word is neither initializing nor ready" });
                }
            }
            let creator = words[CREATOR_WORD].load(Ordering::Relaxed);
            if creator != 0 && liveness::alive(creator) == Some(false) {
                return Err(OpenError::InitAbandoned { name, creator_pid: liveness::pid_of(creator) });
            }
            if !backoff.sleep() {
                return Err(OpenError::NotInitialized { name, waited: start.elapsed() });
            }
        }
        let header = live_header::snapshot(words);
        let expected =
            Expected { kind, fingerprint, type_name, payload_size: handle.payload_size(), nonce: handle.nonce() };
        live_header::validate(&header, &name, &expected, file_size)?;
        debug_assert_eq!(map.len() as u64, file_size);
        let schema = Box::new(read_schema(&map, &header, &name, check)?);
        let file_id = (file_stat.st_dev, file_stat.st_ino);
        Ok(Self { map, name, header, schema, creator: None, remover: None, file_id })
    }

    /// The handle of the segment named `name`, read from its header, for
    /// programs that agree on a name rather than pass a handle: waits up
    /// to `wait` for the file to appear (its creator may not have started
    /// yet) and for its creator to publish it. The handle then opens it
    /// with every check a passed handle gets, but the nonce (which it was
    /// read from). Returns the handle and the wait left.
    pub(crate) fn handle_by_name(name: &str, wait: Duration) -> Result<(Handle, Duration), OpenError> {
        let valid = SegmentName::new(name.strip_prefix('/').unwrap_or(name)).map_err(OpenError::InvalidName)?;
        let start = Instant::now();
        let mut backoff = Backoff::new(start, wait);
        let left = || wait.saturating_sub(start.elapsed());
        // Whether the file existed at the last look (then a timeout means
        // its creator has not finished, not that there is none).
        let mut seen;
        loop {
            seen = true;
            let io = |e: Errno| OpenError::Io { name: valid.clone(), op: "open", source: e.into() };
            match stale::examine(valid.as_str(), false) {
                Ok(Some((info, _))) => {
                    let ready = info.header.filter(|h| h.state == STATE_READY);
                    if let Some(header) = ready {
                        let kind = ObjectKind::from_code(header.kind).ok_or_else(|| OpenError::Corrupt {
                            name: valid.clone(),
                            what: "the header names an object kind this version does not know",
                        })?;
                        let handle =
                            Handle::new(valid.clone(), kind, header.fingerprint, header.payload_size, header.nonce);
                        return Ok((handle, left()));
                    }
                    // A file of a header's size that does not start with the
                    // magic, nor with zeros (a creator between `fallocate` and
                    // its first store), is another program's.
                    if info.header.is_none() && info.file_size >= HEADER_SIZE as u64 {
                        let found = first_bytes(valid.as_str()).map_err(io)?;
                        // The magic now: its creator stored it since.
                        if found != [0; 8] && found != header::MAGIC {
                            return Err(OpenError::BadMagic { name: valid, found });
                        }
                    }
                }
                Ok(None) => {
                    return Err(OpenError::NotAFile { name: valid, found: "a link, a FIFO or another special file" });
                }
                Err(Errno::NOENT) => seen = false,
                Err(e @ (Errno::ACCESS | Errno::PERM)) => {
                    return Err(OpenError::PermissionDenied { name: valid, source: e.into() });
                }
                Err(e) => return Err(io(e)),
            }
            if !backoff.sleep() {
                return Err(if seen {
                    OpenError::NotInitialized { name: valid, waited: start.elapsed() }
                } else {
                    OpenError::NotFound { name: valid }
                });
            }
        }
    }

    /// Opens a segment of a fixed-size kind described by `spec`; a handle
    /// announcing another payload size is refused before any system call.
    pub(crate) fn open_fixed(handle: &Handle, spec: &Spec<'_>, options: &OpenOptions) -> Result<Self, OpenError> {
        Self::open(handle, spec.kind, spec.layout, Some(spec.payload_size), options)
    }

    /// The segment name.
    pub(crate) fn name(&self) -> &SegmentName {
        &self.name
    }

    /// The header, as validated at create or open.
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// The handle that opens this segment.
    pub(crate) fn handle(&self) -> Handle {
        let kind = ObjectKind::from_code(self.header.kind).expect("validated kind");
        Handle::new(self.name.clone(), kind, self.header.fingerprint, self.header.payload_size, self.header.nonce)
    }

    /// The payload area.
    #[inline]
    pub(crate) fn payload(&self) -> Payload<'_> {
        // Validated at create or open: the payload ends inside the mapping.
        let end = header::payload_end(self.header.payload_size).and_then(|end| usize::try_from(end).ok());
        let len = end.map_or(0, |end| end.min(self.map.len()) - HEADER_SIZE);
        Payload { base: payload_base(&self.map), len, _segment: PhantomData }
    }

    /// The schema of the stored type, as validated at create or open, or
    /// why it was refused (see [`Segment::open_keeping_bad_schema`]).
    pub(crate) fn schema(&self) -> Result<&Schema, &str> {
        self.schema.as_ref().as_ref().map_err(String::as_str)
    }

    /// Whether this object created the segment (and this process is the
    /// one that did: a forked child is not).
    pub(crate) fn is_creator(&self) -> bool {
        self.creator == Some(pid::current())
    }

    /// Removes the name if this process created it and the name still
    /// refers to the file it created; `ENOENT` (someone else removed it)
    /// is success, and so is a name that now holds another segment (which
    /// is left alone). Openers do nothing.
    ///
    /// The check and the unlink are two system calls: a third party that
    /// removes and re-creates the name exactly between them loses its new
    /// segment. POSIX has no "unlink if same file".
    fn unlink_if_creator(&mut self) -> Result<(), CleanupError> {
        if self.remover != Some(pid::current()) {
            return Ok(());
        }
        (self.creator, self.remover) = (None, None);
        let error = |e: Errno| CleanupError { name: self.name.clone(), source: e.into() };
        // `lstat` of the name, not an open: it needs no file descriptor, so
        // a process at its fd limit still cleans up (and a link put in our
        // file's place is a file of its own, never ours).
        let stat = match shm_dir::lstat(self.name.as_str()) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(error(e)),
        };
        if (stat.st_dev, stat.st_ino) != self.file_id {
            return Ok(());
        }
        match shm_dir::unlink(self.name.as_str()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(error(e)),
        }
    }

    /// Leaves the name in place when this object goes, even if this
    /// process created it: for a ring whose other end may still come for
    /// what is in it.
    pub(crate) fn keep_name(&mut self) {
        self.remover = None;
    }

    /// Makes this object remove the name when it goes (on `cleanup` or
    /// drop), whether or not it created it, if the name still refers to
    /// the file it opened: for the last end of a ring to let go.
    pub(crate) fn remove_name_when_done(&mut self) {
        self.remover = Some(pid::current());
    }

    /// Removes the name (creator only) and unmaps.
    pub(crate) fn cleanup(mut self) -> Result<(), CleanupError> {
        self.unlink_if_creator()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `cleanup` reports them.
        let _ = self.unlink_if_creator();
    }
}

/// Refuses the file behind `fd` unless `access` accepts its owner and mode
/// for this process (see [`Access::check`]).
fn check_access(fd: &OwnedFd, name: &SegmentName, access: Access) -> Result<(), OpenError> {
    if access == Access::Any {
        return Ok(());
    }
    let io = |op: &'static str| move |e: Errno| OpenError::Io { name: name.clone(), op, source: e.into() };
    let stat = shm_dir::stat(fd).map_err(io("fstat"))?;
    let file = FileOwner { uid: stat.st_uid, gid: stat.st_gid, mode: stat.st_mode };
    let uid = process::euid();
    let mut caller = Caller { uid, groups: Vec::new() };
    if access.needs_groups(file.uid, uid) {
        caller.groups.push(process::egid());
        caller.groups.extend(process::groups().map_err(io("getgroups"))?);
    }
    access.check(name, &file, &caller)
}

/// The first eight bytes of the file `name`, read without mapping it.
fn first_bytes(name: &str) -> Result<[u8; 8], Errno> {
    let (fd, _) = shm_dir::open_existing(name, false).map_err(|e| match e {
        FileError::Sys(e) => e,
        FileError::NotAFile(_) => Errno::INVAL,
    })?;
    let mut bytes = [0u8; 8];
    let mut read = 0;
    while read < bytes.len() {
        match shm_dir::read_at(&fd, &mut bytes[read..], read as u64)? {
            0 => break,
            n => read += n,
        }
    }
    Ok(bytes)
}

/// Copies the schema out of a mapping whose header passed
/// `live_header::validate` (so `file_size == payload_end +
/// round_up_8(schema_size)`) and validates it; a bad one is an error, or
/// with [`SchemaCheck::Keep`] the reason.
fn read_schema(
    map: &Mapping,
    header: &Header,
    name: &SegmentName,
    check: SchemaCheck,
) -> Result<Result<Schema, String>, OpenError> {
    let payload_end = header::payload_end(header.payload_size).unwrap_or(u64::MAX);
    let bytes = live_header::load_schema(schema_words(map, payload_end, header.schema_size), header.schema_size);
    match live_header::validate_schema(header, &bytes, name) {
        Ok(schema) => Ok(Ok(schema)),
        Err(e) if check == SchemaCheck::Keep => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

/// The `ceil(schema_size / 8)` words of the schema area, which starts at
/// byte `offset` (the payload's end, a multiple of 8) of `map`; empty if
/// they do not lie inside the mapping (never, once the header is
/// validated against the file size, or for a creator's own mapping).
fn schema_words(map: &Mapping, offset: u64, schema_size: u32) -> &[AtomicU64] {
    let words = (schema_size as usize).div_ceil(8);
    let fits = usize::try_from(offset)
        .ok()
        .filter(|start| start.is_multiple_of(8) && start.checked_add(words * 8).is_some_and(|end| end <= map.len()));
    let Some(start) = fits else { return &[] };
    // SAFETY: `start` is 8-aligned inside the page-aligned mapping
    // and `start + 8 * words <= map.len()` (checked above), so the
    // pointer and the `words` words after it lie in the mapping.
    let base = unsafe { map.base().add(start) };
    // SAFETY: `base` points at `words` 8-aligned words inside the
    // mapping (above), which outlives the borrow of `map`; this
    // process accesses them only through atomics.
    unsafe { core::slice::from_raw_parts(base.cast::<AtomicU64>().as_ptr(), words) }
}

#[inline]
fn payload_base(map: &Mapping) -> NonNull<u8> {
    debug_assert!(map.len() >= HEADER_SIZE);
    // SAFETY: HEADER_SIZE <= map.len(), so the result stays inside the
    // mapping (or one past its end when the payload is empty).
    unsafe { map.base().add(HEADER_SIZE) }
}

// Sharing with a group: kept apart from `create` and `open`.
impl Segment {
    /// Gives the segment's group read and write access (mode `0660`), after
    /// setting its group to `group` if given (this process must be a member
    /// of it, or root); `None` keeps the group the file was created with
    /// (this process's effective group). Creator only.
    ///
    /// The name is opened again and checked to be the file this object
    /// created (device and inode), and the change is made through that
    /// descriptor, so a file a third party put under the name is never
    /// touched. The group first, then the mode: a failure leaves the mode
    /// at `0600`.
    pub(crate) fn share_with_group(&self, group: Option<u32>) -> Result<(), ShareError> {
        let name = &self.name;
        if !self.is_creator() {
            return Err(ShareError::NotCreator { name: name.clone() });
        }
        // -1 means "leave unchanged" to `fchown`: not a group.
        if let Some(gid @ u32::MAX) = group {
            return Err(ShareError::InvalidGroup { name: name.clone(), group: gid });
        }
        let error = |op: &'static str| {
            move |e: Errno| match e {
                Errno::ACCESS | Errno::PERM => ShareError::PermissionDenied { name: name.clone(), source: e.into() },
                e => ShareError::Io { name: name.clone(), op, source: e.into() },
            }
        };
        // Read-only: `fchown` and `fchmod` need ownership, not write access.
        let (fd, _) = shm_dir::open_existing(name.as_str(), false).map_err(|e| match e {
            FileError::Sys(Errno::NOENT) | FileError::NotAFile(_) => ShareError::Replaced { name: name.clone() },
            FileError::Sys(e) => error("open")(e),
        })?;
        if file_id(&fd).map_err(error("fstat"))? != self.file_id {
            return Err(ShareError::Replaced { name: name.clone() });
        }
        if let Some(gid) = group {
            shm_dir::set_group(&fd, gid).map_err(error("fchown"))?;
        }
        shm_dir::set_mode(&fd, 0o660).map_err(error("fchmod"))
    }
}

/// Sleeps with growing pauses until a deadline.
struct Backoff {
    /// `None`: a wait too long for the clock, which never ends.
    deadline: Option<Instant>,
    pause: Duration,
}

impl Backoff {
    fn new(start: Instant, wait: Duration) -> Self {
        // Saturating: `Duration::MAX` (or any wait past the clock's range)
        // is no deadline, not a panic.
        Self { deadline: start.checked_add(wait), pause: Duration::from_micros(50) }
    }

    /// Sleeps a little; `false` once the deadline has passed.
    fn sleep(&mut self) -> bool {
        let now = Instant::now();
        let left = match self.deadline {
            Some(deadline) if now >= deadline => return false,
            Some(deadline) => deadline - now,
            None => Duration::MAX,
        };
        std::thread::sleep(self.pause.min(left));
        self.pause = (self.pause * 2).min(Duration::from_millis(10));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_without_a_deadline_for_a_wait_past_the_clock() {
        let mut b = Backoff::new(Instant::now(), Duration::MAX);
        assert!(b.deadline.is_none());
        assert!(b.sleep());
    }

    #[test]
    fn backoff_gives_up_after_the_deadline() {
        let start = Instant::now();
        let mut b = Backoff::new(start, Duration::from_millis(30));
        while b.sleep() {}
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }
}
