//! This process's waiter threads, for the `async` feature: a pending
//! future that has spun and yielded long enough ([`Registration::awake`])
//! arms a futex word in a segment (the value objects' waiters word, a ring
//! side's wait word) and registers it here with its task's waker;
//! a waiter thread sleeps on every armed word at once with `futex_waitv`
//! and wakes the tasks whose words were woken or changed.
//!
//! - The first registration starts the first thread; while nothing is
//!   armed the threads sleep on a doorbell word with no timeout (no
//!   processor time at all). A registration rings the doorbell, so a
//!   thread re-reads the registry and sleeps on the new word too, unless
//!   the thread serving its word is awake (woken, between two reads of the
//!   registry): it reads the registry before it sleeps again anyway, and
//!   a wait then costs no wake-up of the thread.
//! - One `futex_waitv` takes 128 words: the doorbell and 127 armed words.
//!   Registrations with the same word and value share one; with more
//!   distinct words than that, more threads start. A word is assigned to
//!   a thread when first armed and stays with it while anybody waits on
//!   it (a thread asleep would not notice a word handed to it).
//! - Where the kernel has no `futex_waitv` (before Linux 5.16, or a
//!   sandbox refusing it; or [`NO_WAITV_ENV`] set), each distinct armed
//!   word gets a thread of its own that sleeps on it with `FUTEX_WAIT` and
//!   ends once nobody waits on it. Such a thread cannot be told that the
//!   last waiter left (only a wake of the word itself, which belongs to
//!   the segment, would reach it), so it looks every
//!   [`PER_WORD_SLICE`] at whether anybody still waits: a few look-ups a
//!   second even with a thousand words armed (each look is a map
//!   look-up by word, not a walk over every registration). The rechecks
//!   below are then kept by one more thread, which sleeps on the doorbell
//!   until the earliest of them: a per-word thread asleep for a whole
//!   slice would keep a new registration's recheck waiting.
//! - The threads never read an armed word themselves: its mapping may be
//!   gone (a future leaked with `mem::forget` never unregisters). Only the
//!   kernel reads them, and reports an unmapped address as a fault; a
//!   word found changed or faulted wakes its tasks, which look again.
//! - A registration may ask to be woken after a while anyway (a ring
//!   waiter checks that its peer still lives): the threads sleep no
//!   longer than until the earliest such time.
//!
//! Every word a publisher wakes has changed by then (the value objects
//! advance their wake count, the rings reset the sleeper's word), so a
//! word woken while its thread was not asleep is found changed at the
//! next `futex_waitv` (which then returns at once): no wake-up is lost
//! between two sleeps of a thread.

use crate::sys::futex::{self, Armed, WAITV_MAX, Woke};
use crate::sys::{pid, thread};
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Waker;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Environment variable that, set to `1`, makes this process use one
/// thread per armed word even where `futex_waitv` works (for tests).
pub(crate) const NO_WAITV_ENV: &str = "SHMRS_NO_FUTEX_WAITV";

/// Armed words per `futex_waitv` thread: the kernel's limit less the
/// doorbell.
const WORDS_PER_THREAD: usize = WAITV_MAX - 1;

/// How long a per-word thread sleeps between looks at whether anybody
/// still waits on its word: how long it may outlive its last waiter.
/// Every word armed has its own thread in that mode, and with a thousand
/// words (a thousand futures, each on its own mapping) a slice of 100 ms
/// cost ten thousand wake-ups a second: more than a whole processor.
const PER_WORD_SLICE: Duration = Duration::from_secs(5);

/// Rung on every registration: the `futex_waitv` threads sleep on it too,
/// and re-read the registry when it changes.
static DOORBELL: AtomicU32 = AtomicU32::new(0);

/// The registry the threads serve.
static REGISTRY: Mutex<Registry> = Mutex::new(Registry::new());

/// One armed word of one pending future.
struct Entry {
    word: Armed,
    waker: Waker,
    /// When to wake the task even if its word stays as it is.
    recheck_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not decided yet (no thread started in this process).
    Unknown,
    /// `futex_waitv` threads.
    Waitv,
    /// One thread per armed word.
    PerWord,
}

struct Registry {
    /// The process these threads run in: a forked child starts its own.
    pid: u64,
    entries: BTreeMap<u64, Entry>,
    /// The ids of `entries` by armed word: exactly the words some entry
    /// arms, each with the ids of the entries that arm it (never empty).
    by_word: BTreeMap<Armed, BTreeSet<u64>>,
    next_id: u64,
    mode: Mode,
    /// Which `futex_waitv` thread sleeps on each armed word (waitv mode):
    /// assigned when the word is first armed, kept while anybody waits on
    /// it, so that no word moves between threads while they sleep.
    assigned: BTreeMap<Armed, usize>,
    /// Words assigned to each `futex_waitv` thread started (index `0..`),
    /// at most [`WORDS_PER_THREAD`].
    load: Vec<usize>,
    /// `futex_waitv` threads started (indices `0..waitv_started`).
    waitv_started: usize,
    /// Words that have a thread of their own (per-word mode).
    per_word: BTreeSet<Armed>,
    /// Whether the recheck thread runs (per-word mode).
    timer_started: bool,
    /// Per `futex_waitv` thread: whether it is between two reads of the
    /// registry (woken, or not yet asleep for the first time), so that it
    /// reads the registry again before it sleeps: a registration of a word
    /// assigned to it then needs no doorbell (no wake-up of the thread).
    awake: Vec<bool>,
    /// Thread ids of every waiter thread started, for the processor-time
    /// tests.
    tids: Vec<i32>,
}

impl Registry {
    const fn new() -> Self {
        Self {
            pid: 0,
            entries: BTreeMap::new(),
            by_word: BTreeMap::new(),
            next_id: 1,
            mode: Mode::Unknown,
            assigned: BTreeMap::new(),
            load: Vec::new(),
            waitv_started: 0,
            per_word: BTreeSet::new(),
            timer_started: false,
            awake: Vec::new(),
            tids: Vec::new(),
        }
    }

    /// The distinct armed words, in address order.
    fn words(&self) -> Vec<Armed> {
        self.by_word.keys().copied().collect()
    }

    /// Whether anybody waits on `word`.
    fn is_armed(&self, word: Armed) -> bool {
        self.by_word.contains_key(&word)
    }

    /// The entries that arm `word`.
    fn entries_of(&self, word: Armed) -> impl Iterator<Item = (u64, &Entry)> + '_ {
        let ids = self.by_word.get(&word).into_iter().flatten();
        ids.filter_map(|id| self.entries.get(id).map(|entry| (*id, entry)))
    }

    /// Inserts an entry (replacing `id`'s earlier one) and assigns its word
    /// a `futex_waitv` thread if it has none (in waitv mode).
    fn insert(&mut self, id: u64, entry: Entry) {
        let word = entry.word;
        if let Some(old) = self.entries.insert(id, entry) {
            self.release(id, old.word);
        }
        self.by_word.entry(word).or_default().insert(id);
        if self.mode == Mode::Waitv && !self.assigned.contains_key(&word) {
            let thread = self.load.iter().position(|n| *n < WORDS_PER_THREAD).unwrap_or(self.load.len());
            if thread == self.load.len() {
                self.load.push(0);
            }
            self.load[thread] += 1;
            self.assigned.insert(word, thread);
        }
    }

    /// Removes entry `id`; its word loses its thread once nobody waits on
    /// it.
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.release(id, entry.word);
        Some(entry)
    }

    /// Entry `id` no longer arms `word`.
    fn release(&mut self, id: u64, word: Armed) {
        if let Some(ids) = self.by_word.get_mut(&word) {
            ids.remove(&id);
            if !ids.is_empty() {
                return;
            }
            self.by_word.remove(&word);
        }
        if let Some(thread) = self.assigned.remove(&word) {
            self.load[thread] -= 1;
        }
    }

    /// The words `futex_waitv` thread `index` sleeps on.
    fn words_of(&self, index: usize) -> impl Iterator<Item = Armed> + '_ {
        self.assigned.iter().filter(move |(_, t)| **t == index).map(|(w, _)| *w)
    }

    /// Removes the entries of `word` and returns their wakers.
    fn take_word(&mut self, word: Armed) -> Vec<Waker> {
        let ids: Vec<u64> = self.entries_of(word).map(|(id, _)| id).collect();
        ids.into_iter().filter_map(|id| self.remove(id)).map(|e| e.waker).collect()
    }

    /// Removes the entries whose recheck time has come (of `word` only,
    /// if given) and returns their wakers.
    fn take_due(&mut self, now: Instant, word: Option<Armed>) -> Vec<Waker> {
        let is_due = |(id, e): (u64, &Entry)| e.recheck_at.is_some_and(|at| at <= now).then_some(id);
        let due: Vec<u64> = match word {
            Some(word) => self.entries_of(word).filter_map(is_due).collect(),
            None => self.entries.iter().map(|(id, e)| (*id, e)).filter_map(is_due).collect(),
        };
        due.into_iter().filter_map(|id| self.remove(id)).map(|e| e.waker).collect()
    }

    /// The earliest recheck time (of `word` only, if given).
    fn next_recheck(&self, word: Option<Armed>) -> Option<Instant> {
        match word {
            Some(word) => self.entries_of(word).filter_map(|(_, e)| e.recheck_at).min(),
            None => self.entries.values().filter_map(|e| e.recheck_at).min(),
        }
    }
}

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while the lock was held left the registry consistent (every
    // change is one map operation).
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A future's registration: its id while it is registered, and how far
/// its current wait has come through the awake regime ([`Self::awake`]).
#[derive(Debug, Default)]
pub(crate) struct Registration {
    /// The entry's id while registered.
    id: Option<u64>,
    /// Polls of the current wait that yielded to the executor; reset when
    /// the wait completes ([`Self::disarm`]).
    yields: u32,
}

/// What a poll does next after [`Registration::awake`].
#[derive(Debug)]
pub(crate) enum Awake<T> {
    /// The wait is over, with this outcome.
    Ready(T),
    /// The poll yielded to the executor (its task is woken already):
    /// return `Poll::Pending`.
    Yielded,
    /// The awake regime is over: announce sleep and arm.
    Arm,
}

impl Registration {
    /// The awake regime of an async wait, the async form of the blocking
    /// waits' spin-then-yield: the first poll of a wait checks `ready` up
    /// to `spins` times (spinning between checks), and while it is not
    /// ready the wait's next `yields` polls check it once each and yield to
    /// the executor (`wake_by_ref`, then `Pending`) instead of arming.
    /// Only after that does it say [`Awake::Arm`] (and keeps saying so until
    /// the wait completes): arming costs a futex sleep and wake-up of the
    /// waiter thread per wait, which a peer that answers within a few
    /// microseconds never needs.
    ///
    /// No system call, no allocation, no lock of its own (the registration
    /// is not armed while it spins or yields). What a yield costs is the
    /// executor's: `wake_by_ref` is a queue push between tasks of a running
    /// executor, but may unpark an idle worker thread (a system call) on a
    /// multi-thread one, and tokio polls a task that woke itself again at
    /// once (its LIFO slot, a few times per tick) before other tasks of the
    /// same worker run.
    #[inline]
    pub(crate) fn awake<T>(
        &mut self,
        cx: &core::task::Context<'_>,
        spins: u32,
        yields: u32,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Awake<T> {
        if self.yields >= yields {
            return Awake::Arm;
        }
        let checks = if self.yields == 0 { spins.max(1) } else { 1 };
        for check in 0..checks {
            if let Some(outcome) = ready() {
                return Awake::Ready(outcome);
            }
            if check + 1 < checks {
                core::hint::spin_loop();
            }
        }
        self.yields += 1;
        cx.waker().wake_by_ref();
        Awake::Yielded
    }

    /// Arms `word` (which holds `expected`, or did when the caller
    /// announced itself) for the task of `waker`; replaces this future's
    /// earlier registration. `recheck_after`: wake the task after that
    /// long even if the word stays as it is.
    pub(crate) fn arm(&mut self, word: &AtomicU32, expected: u32, waker: &Waker, recheck_after: Option<Duration>) {
        let word = Armed { addr: core::ptr::from_ref(word).addr(), expected };
        let recheck_at = recheck_after.and_then(|d| Instant::now().checked_add(d));
        let mut registry = registry();
        let me = pid::current();
        if registry.pid != me {
            // A forked child: its parent's threads did not come along.
            *registry = Registry { pid: me, ..Registry::new() };
        }
        // Armed again as before (a ring waiter's liveness slice, a
        // spurious wake): the threads sleep on that word already, and wake
        // no later than before; only the waker and the time change.
        if let Some(entry) = self.id.and_then(|id| registry.entries.get_mut(&id))
            && entry.word == word
            && match (entry.recheck_at, recheck_at) {
                (None, None) => true,
                (Some(old), Some(new)) => new >= old,
                _ => false,
            }
        {
            entry.waker.clone_from(waker);
            entry.recheck_at = recheck_at;
            return;
        }
        let id = match self.id {
            Some(id) if registry.entries.contains_key(&id) => id,
            _ => {
                let id = registry.next_id;
                registry.next_id += 1;
                id
            }
        };
        self.id = Some(id);
        #[cfg(test)]
        ARMED_ON_THIS_THREAD.set(ARMED_ON_THIS_THREAD.get() + 1);
        decide_mode(&mut registry);
        registry.insert(id, Entry { word, waker: waker.clone(), recheck_at });
        start_threads(&mut registry);
        // The thread that serves the word reads the registry (under this
        // lock, after this insert) before it sleeps again if it is awake:
        // then it needs no doorbell, the wake-up that would cost a round
        // of the thread per wait.
        let reads_anyway = registry.assigned.get(&word).is_some_and(|t| registry.awake.get(*t) == Some(&true));
        drop(registry);
        if !reads_anyway {
            ring_doorbell();
        }
    }

    /// Removes the registration, if any, and starts the next wait over
    /// with the awake regime (the future completed or was dropped).
    pub(crate) fn disarm(&mut self) {
        self.yields = 0;
        if let Some(id) = self.id.take() {
            registry().remove(id);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// Makes the `futex_waitv` threads re-read the registry.
fn ring_doorbell() {
    // Relaxed: the registry's mutex orders what the threads read; this
    // only makes the doorbell differ from what a sleeping thread armed.
    DOORBELL.fetch_add(1, Ordering::Relaxed);
    futex::wake(&DOORBELL);
}

/// Decides, at the first registration, how this process sleeps.
fn decide_mode(registry: &mut Registry) {
    if registry.mode == Mode::Unknown {
        let refused = std::env::var_os(NO_WAITV_ENV).is_some_and(|v| v == "1");
        registry.mode = if refused { Mode::PerWord } else { Mode::Waitv };
    }
}

/// Starts the threads the registry needs now.
fn start_threads(registry: &mut Registry) {
    match registry.mode {
        Mode::Waitv => {
            while registry.waitv_started < registry.load.len().max(1) {
                let index = registry.waitv_started;
                registry.waitv_started += 1;
                // Not asleep yet: it reads the registry first.
                registry.awake.push(true);
                spawn(format!("shm-waiter-{index}"), move || serve_waitv(index));
            }
        }
        Mode::PerWord => {
            if !registry.timer_started {
                registry.timer_started = true;
                spawn("shm-waiter-timer".to_owned(), serve_rechecks);
            }
            for word in registry.words() {
                if registry.per_word.insert(word) {
                    spawn("shm-waiter-word".to_owned(), move || serve_word(word));
                }
            }
        }
        Mode::Unknown => unreachable!("decided at the first registration"),
    }
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) {
    let started = std::thread::Builder::new().name(name).spawn(move || {
        registry().tids.push(thread::current_tid());
        body();
    });
    // Without a thread the futures would never wake: a process that cannot
    // start one has bigger problems; say so loudly.
    started.expect("shm: could not start a waiter thread");
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// A `futex_waitv` thread: sleeps on the doorbell and its share of the
/// armed words, then wakes the tasks of the words woken or changed and of
/// the rechecks due.
fn serve_waitv(index: usize) {
    let doorbell = Armed { addr: core::ptr::from_ref(&DOORBELL).addr(), expected: 0 };
    let mut armed = Vec::with_capacity(WAITV_MAX);
    loop {
        armed.clear();
        // Read before the registry: a registration after this read rings
        // the doorbell, and the sleep below then returns at once.
        // (Relaxed: see `ring_doorbell`.)
        armed.push(Armed { expected: DOORBELL.load(Ordering::Relaxed), ..doorbell });
        let timeout = {
            let mut registry = registry();
            armed.extend(registry.words_of(index));
            // From here a registration rings the doorbell (read above).
            registry.awake[index] = false;
            registry.next_recheck(None).map(|at| at.saturating_duration_since(Instant::now()))
        };
        let woke = futex::wait_any(&armed, timeout);
        // Awake until the next read of the registry: registrations from
        // now on are seen there without a doorbell.
        registry().awake[index] = true;
        let mut wakers = Vec::new();
        match woke {
            Woke::Unsupported => {
                let mut registry = registry();
                registry.mode = Mode::PerWord;
                registry.assigned.clear();
                registry.load.clear();
                start_threads(&mut registry);
                return;
            }
            Woke::Woken(0) | Woke::TimedOut => {}
            Woke::Woken(i) => wakers.extend(registry().take_word(armed[i])),
            // The doorbell (ours: read it) changed: re-read the registry
            // first; an armed word that changed too stays changed (every
            // wake changes it for good), so the next sleep returns at once.
            Woke::Changed if DOORBELL.load(Ordering::Relaxed) != armed[0].expected => {}
            Woke::Changed => {
                // Which ones? Ask the kernel for each (never read them).
                let changed: Vec<Armed> = armed[1..]
                    .iter()
                    .copied()
                    .filter(|word| futex::wait_addr(*word, Duration::ZERO) == Woke::Changed)
                    .collect();
                let mut registry = registry();
                for word in changed {
                    wakers.extend(registry.take_word(word));
                }
            }
        }
        wakers.extend(registry().take_due(Instant::now(), None));
        wake_all(wakers);
    }
}

/// A per-word thread: sleeps on `word` until nobody waits on it any more
/// (looking every [`PER_WORD_SLICE`]); the rechecks are
/// [`serve_rechecks`]'s.
fn serve_word(word: Armed) {
    loop {
        {
            let mut registry = registry();
            if !registry.is_armed(word) {
                registry.per_word.remove(&word);
                return;
            }
        }
        let woke = futex::wait_addr(word, PER_WORD_SLICE);
        let wakers = match woke {
            Woke::Woken(_) | Woke::Changed => registry().take_word(word),
            Woke::TimedOut | Woke::Unsupported => Vec::new(),
        };
        wake_all(wakers);
    }
}

/// The recheck thread of per-word mode: sleeps on the doorbell until the
/// earliest recheck and wakes the tasks whose time has come. Idle (no
/// recheck asked for), it sleeps until a registration rings.
fn serve_rechecks() {
    /// How long it sleeps with no recheck due (the doorbell wakes it
    /// sooner): any long time.
    const IDLE: Duration = Duration::from_secs(3600);
    loop {
        // Read before the registry: a registration after this read rings
        // the doorbell, and the sleep below then returns at once.
        // (Relaxed: see `ring_doorbell`.)
        let rung = DOORBELL.load(Ordering::Relaxed);
        let timeout = registry().next_recheck(None).map_or(IDLE, |at| at.saturating_duration_since(Instant::now()));
        if !timeout.is_zero() {
            futex::wait(&DOORBELL, rung, timeout);
        }
        let wakers = registry().take_due(Instant::now(), None);
        wake_all(wakers);
    }
}

/// Processor time used so far by every waiter thread this process
/// started (for the tests that check idle threads cost nothing).
#[cfg(test)]
pub(crate) fn threads_cpu_time() -> Duration {
    let tids = registry().tids.clone();
    tids.into_iter().filter_map(thread::cpu_time).sum()
}

/// Whether this process sleeps with one thread per armed word (decided at
/// its first registration).
#[cfg(test)]
pub(crate) fn one_thread_per_word() -> bool {
    registry().mode == Mode::PerWord
}

#[cfg(test)]
std::thread_local! {
    /// Registrations armed by polls on this thread so far (for tests that
    /// poll on one thread, such as a tokio current-thread runtime: unlike
    /// [`armed`], no other test's futures count).
    static ARMED_ON_THIS_THREAD: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Registrations armed by polls on this thread so far (see
/// `ARMED_ON_THIS_THREAD`).
#[cfg(test)]
pub(crate) fn armed_on_this_thread() -> usize {
    ARMED_ON_THIS_THREAD.get()
}

/// Registrations now armed (for tests: none left behind).
#[cfg(test)]
pub(crate) fn armed() -> usize {
    registry().entries.len()
}

/// Helpers for the tests that poll futures by hand or count
/// registrations, shared by every module's tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Serializes the tests that arm registrations, count them with
    /// [`armed`](super::armed) or measure the waiter threads: every test of
    /// the process shares the registry and its threads.
    static SHARED_THREADS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Holds the registry for one test (see `SHARED_THREADS`).
    pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
        SHARED_THREADS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A waker that counts its wakes (a yield is a `wake_by_ref`).
    #[derive(Default)]
    pub(crate) struct CountingWaker(pub(crate) std::sync::atomic::AtomicUsize);

    impl CountingWaker {
        /// Wakes so far.
        pub(crate) fn woken(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::Relaxed)
        }

        /// Starts counting from zero again.
        pub(crate) fn reset(&self) {
            self.0.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    impl std::task::Wake for CountingWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
