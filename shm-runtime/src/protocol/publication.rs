//! Publishing a segment (`FORMAT.md`, "Initialization"): the creator
//! stores the header and the initial payload with relaxed stores, then the
//! header's state word with `Release`; an opener loads the state word with
//! `Acquire` and copies the rest out only once it reads "ready". These
//! functions work on any region of atomic words (a mapping, or heap words
//! in the loom model below); `Header::store`, `Header::publish`,
//! `Header::snapshot` and the opener's wait in `Segment::open` go through
//! them.

use crate::protocol::sync::{self, AtomicU64, Ordering, Site};

/// Stores `raw` into `words`, one relaxed store per word, except the word
/// at `state_word` (published last, by [`publish`]).
pub(crate) fn store_all_but_state(words: &[AtomicU64], raw: &[u64], state_word: usize) {
    for (i, (word, value)) in words.iter().zip(raw).enumerate() {
        if i != state_word {
            // Relaxed: ordered for openers by the later `publish`.
            word.store(*value, Ordering::Relaxed);
        }
    }
}

/// Stores `ready` into the state word. `Release` pairs with the `Acquire`
/// load in [`load_state`]: every store this thread made before (header
/// words, initial payload) is visible to an opener that loads `ready`.
pub(crate) fn publish(state: &AtomicU64, ready: u64) {
    state.store(ready, sync::at(Site::HeaderPublish, Ordering::Release));
}

/// Loads the state word. `Acquire` pairs with the `Release` store in
/// [`publish`]: once this returns the ready value, [`copy_words`] and the
/// payload's loads see what the creator stored before publishing.
pub(crate) fn load_state(state: &AtomicU64) -> u64 {
    state.load(sync::at(Site::HeaderStateLoad, Ordering::Acquire))
}

/// Copies `N` words out, one relaxed load per word (ordered by the
/// caller's earlier [`load_state`]).
pub(crate) fn copy_words<const N: usize>(words: &[AtomicU64; N]) -> [u64; N] {
    core::array::from_fn(|i| words[i].load(Ordering::Relaxed))
}

/// Loom model of publication (run with the cell's models, see `cell.rs`):
/// a creator thread stores a header and a byte cell's initial value, then
/// publishes, while an opener waits for the ready state and then copies
/// both out; it must see every word the creator stored. Weakening the
/// publishing store or the opener's load of the state word must make the
/// model fail.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::cell::{ByteCell, layout_words};
    use crate::protocol::sync::{assert_mutants_fail, with_mutant};
    use loom::sync::Arc;

    /// Header words in the model (the real header has 16; four show the
    /// same thing with fewer interleavings).
    const WORDS: usize = 4;
    const STATE: usize = 1;
    const READY: u64 = u64::from_be_bytes(*b"SHMREADY");
    const HEADER: [u64; WORDS] = [0x5348_4d52_5300_011a, READY, 0x0102_0304, 0xfeed];
    const INITIAL: &[u8] = b"initial value";
    const CAPACITY: usize = 16;

    fn publish_then_open() {
        loom::model(|| {
            let header: Arc<[AtomicU64; WORDS]> = Arc::new(core::array::from_fn(|_| AtomicU64::new(0)));
            let payload: Arc<Vec<AtomicU64>> =
                Arc::new((0..layout_words(CAPACITY).unwrap()).map(|_| AtomicU64::new(0)).collect());
            let creator = {
                let (header, payload) = (Arc::clone(&header), Arc::clone(&payload));
                loom::thread::spawn(move || {
                    store_all_but_state(&header[..], &HEADER, STATE);
                    ByteCell::init(&payload, CAPACITY, INITIAL);
                    publish(&header[STATE], READY);
                })
            };
            while load_state(&header[STATE]) != READY {
                sync::yield_now();
            }
            assert_eq!(copy_words(&header), HEADER, "the opener copied a header word from before publication");
            let cell = ByteCell::attach(&payload).expect("the capacity word was published");
            let mut value = Vec::new();
            cell.read_vec(&mut value).unwrap();
            assert_eq!(value, INITIAL, "the opener read a payload from before publication");
            creator.join().unwrap();
        });
    }

    #[test]
    fn loom_publication_holds() {
        with_mutant(None, publish_then_open);
    }

    #[test]
    fn loom_publication_mutants_fail() {
        assert_mutants_fail(&[
            (Site::HeaderPublish, publish_then_open, "publish_then_open"),
            (Site::HeaderStateLoad, publish_then_open, "publish_then_open"),
        ]);
    }
}
