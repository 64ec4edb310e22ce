//! The role words of a ring (`FORMAT.md`, words 24 and 32): which process
//! holds the producer side and which the consumer side. A side claims its
//! word with a compare-exchange (from free, let go, or a dead holder's
//! identity), lets go with another, and the other side loads it to learn
//! whether its peer is attached, gone, or dead. The words live in a ring's
//! region, so these functions work on heap words in the loom model below;
//! `End` in `ring_end.rs` uses them.
//!
//! Two orderings carry data. A new holder must see the read or write
//! position its predecessor left (else a second consumer reads items
//! again): the let-go is `Release` and the claim `Acquire`. A waiter that
//! finds its peer let go must see everything the peer published before
//! (else it reports the ring closed with items left in it): the let-go's
//! `Release` again, and the waiter's `Acquire` load.

use crate::protocol::sync::{self, AtomicU64, Ordering, Site};

/// Role word value: nobody holds the role.
pub(crate) const FREE: u64 = 0;
/// Role word value: the holder let go (dropped its end).
pub(crate) const CLOSED: u64 = u64::MAX;

/// Claims `word` for identity `me` if it is free, let go, or held by a
/// process `alive` reports dead (whose claim is taken over). Otherwise
/// returns the holder. Of several racing claimers exactly one wins.
pub(crate) fn claim(word: &AtomicU64, me: u64, alive: impl Fn(u64) -> Option<bool>) -> Result<(), u64> {
    loop {
        // Relaxed: only picks the value to exchange; the exchange acquires.
        let holder = word.load(Ordering::Relaxed);
        let takeable = holder == FREE || holder == CLOSED || alive(holder) == Some(false);
        if !takeable {
            return Err(holder);
        }
        // Acquire pairs with the Release in the previous holder's
        // `let_go`: the position it stored before is visible to us.
        let claimed = sync::at(Site::RoleClaim, Ordering::Acquire);
        if word.compare_exchange(holder, me, claimed, Ordering::Relaxed).is_ok() {
            return Ok(());
        }
    }
}

/// Lets go of `word` if `me` still holds it (a holder taken over as dead
/// does not clear its successor's claim); returns whether it did.
/// `Release` pairs with the `Acquire` of the next [`claim`] and of the
/// other side's [`load_peer`]: both see every store this thread made
/// before.
pub(crate) fn let_go(word: &AtomicU64, me: u64) -> bool {
    let released = sync::at(Site::RoleLetGo, Ordering::Release);
    word.compare_exchange(me, CLOSED, released, Ordering::Relaxed).is_ok()
}

/// Lets go of `own` (as [`let_go`]) and returns the other side's word as
/// it then is, for the caller to decide who removes the ring's name
/// (`None`: this end had been taken over as dead, and lets its successor
/// decide). Of two ends letting go at once, at least one sees the other's
/// [`CLOSED`]: each stores its let-go, then a `SeqCst` fence, then loads
/// the other's word (the two fences are ordered, and the later one's load
/// sees the earlier one's store). Both may see it; removing a name twice
/// is harmless.
pub(crate) fn let_go_and_look(own: &AtomicU64, peer: &AtomicU64, me: u64) -> Option<u64> {
    if !let_go(own, me) {
        return None;
    }
    // Pairs with the same fence in the other end's `let_go_and_look`.
    sync::fence(Site::RoleLastOut, Ordering::SeqCst);
    Some(load_peer(peer))
}

/// Loads the other side's role word, for a waiter deciding whether its
/// peer is gone. `Acquire` pairs with the `Release` in the peer's
/// [`let_go`]: a waiter that loads [`CLOSED`] and then re-checks the ring
/// sees everything the peer published before letting go.
pub(crate) fn load_peer(word: &AtomicU64) -> u64 {
    word.load(sync::at(Site::RolePeerLoad, Ordering::Acquire))
}

/// Loom models of the role words (run with the cell's models, see
/// `cell.rs`), on a real ring of heap words. Weakening the claim's
/// `Acquire` or the let-go's `Release` must make the hand-over model fail
/// (the second consumer reads an item again); weakening the let-go or the
/// waiter's load must make the closing model fail (an item is reported
/// lost).
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::ring::{Ring, Shape, layout_words};
    use crate::protocol::sync::{assert_mutants_fail, with_mutant};
    use loom::sync::Arc;

    /// A one-word-slot ring of two slots, with `items` already published.
    fn ring_words(items: u64) -> Arc<Vec<AtomicU64>> {
        let words: Vec<AtomicU64> = (0..layout_words(2, 1).unwrap()).map(|_| AtomicU64::new(0)).collect();
        let ring = Ring::init(&words, Shape { capacity: 2, slot_words: 1, element_bytes: 8 }, 0);
        let mut p = ring.producer().unwrap();
        for k in 1..=items {
            ring.put(&p, k - 1, &k.to_ne_bytes());
        }
        ring.publish(&mut p, items);
        Arc::new(words)
    }

    /// Claims the consumer role of the ring in `words` as `me` (waiting
    /// while the other consumer holds it), reads one item, lets go.
    fn consume_one(words: &[AtomicU64], role: &AtomicU64, me: u64) -> u64 {
        while claim(role, me, |_| Some(true)).is_err() {
            sync::yield_now();
        }
        let ring = Ring::attach(words, 1, 8).unwrap();
        let mut c = ring.consumer().expect("positions are consistent");
        assert!(ring.available(&mut c, 1).unwrap() >= 1, "an item is ready");
        let mut out = [0u8; 8];
        ring.get(&c, 0, &mut out);
        ring.release(&mut c, 1);
        assert!(let_go(role, me), "nobody else clears our claim");
        u64::from_ne_bytes(out)
    }

    /// Two consumers one after the other (whichever claims first) each
    /// read one of two items: the second starts where the first let go.
    fn consumers_hand_over() {
        loom::model(|| {
            let words = ring_words(2);
            let role = Arc::new(AtomicU64::new(FREE));
            let first = {
                let (words, role) = (Arc::clone(&words), Arc::clone(&role));
                loom::thread::spawn(move || consume_one(&words, &role, 1))
            };
            let second = consume_one(&words, &role, 2);
            let first = first.join().unwrap();
            let mut got = [first, second];
            got.sort_unstable();
            assert_eq!(got, [1, 2], "an item was read twice");
        });
    }

    /// Two processes race to take over the claim of a dead one: exactly
    /// one wins, and the other is told the winner holds it.
    fn one_of_two_takes_over() {
        loom::model(|| {
            const DEAD: u64 = 7;
            let role = Arc::new(AtomicU64::new(DEAD));
            let alive = |holder: u64| Some(holder != DEAD);
            let other = {
                let role = Arc::clone(&role);
                loom::thread::spawn(move || claim(&role, 2, alive))
            };
            let mine = claim(&role, 1, alive);
            let other = other.join().unwrap();
            match (mine, other) {
                (Ok(()), Err(holder)) => assert_eq!(holder, 1),
                (Err(holder), Ok(())) => assert_eq!(holder, 2),
                outcome => panic!("not exactly one winner: {outcome:?}"),
            }
        });
    }

    /// The producer publishes one item and lets go while the consumer
    /// waits as `End::wait_for` does: load the producer's role word, then
    /// look at the ring, and only then give up if the producer was gone.
    /// The item is never reported lost.
    fn closing_producer_loses_nothing() {
        loom::model(|| {
            const PRODUCER: u64 = 1;
            let words = ring_words(0);
            let role = Arc::new(AtomicU64::new(PRODUCER));
            let producer = {
                let (words, role) = (Arc::clone(&words), Arc::clone(&role));
                loom::thread::spawn(move || {
                    let ring = Ring::attach(&words, 1, 8).unwrap();
                    let mut p = ring.producer().unwrap();
                    ring.put(&p, 0, &42u64.to_ne_bytes());
                    ring.publish(&mut p, 1);
                    assert!(let_go(&role, PRODUCER));
                })
            };
            let ring = Ring::attach(&words, 1, 8).unwrap();
            let mut c = ring.consumer().unwrap();
            loop {
                let peer = load_peer(&role);
                if ring.available(&mut c, 1).unwrap() >= 1 {
                    let mut out = [0u8; 8];
                    ring.get(&c, 0, &mut out);
                    assert_eq!(u64::from_ne_bytes(out), 42, "the item arrived whole");
                    break;
                }
                assert_ne!(peer, CLOSED, "the producer let go and its item was reported lost");
                sync::yield_now();
            }
            producer.join().unwrap();
        });
    }

    /// Both ends attached let go at once: at least one of them is the
    /// last one out (else the ring's name would never be removed).
    fn last_one_out_is_seen() {
        loom::model(|| {
            let words = Arc::new([AtomicU64::new(1), AtomicU64::new(2)]);
            let other = Arc::clone(&words);
            let consumer = loom::thread::spawn(move || let_go_and_look(&other[1], &other[0], 2) == Some(CLOSED));
            let producer_last = let_go_and_look(&words[0], &words[1], 1) == Some(CLOSED);
            let consumer_last = consumer.join().unwrap();
            assert!(producer_last || consumer_last, "neither end removed the name");
        });
    }

    #[test]
    fn loom_ring_roles_hold() {
        with_mutant(None, || {
            consumers_hand_over();
            one_of_two_takes_over();
            closing_producer_loses_nothing();
            last_one_out_is_seen();
        });
    }

    #[test]
    fn loom_ring_roles_mutants_fail() {
        let (hand_over, closing) = (consumers_hand_over as fn(), closing_producer_loses_nothing as fn());
        assert_mutants_fail(&[
            (Site::RoleClaim, hand_over, "consumers_hand_over"),
            (Site::RoleLetGo, hand_over, "consumers_hand_over"),
            (Site::RoleLetGo, closing, "closing_producer_loses_nothing"),
            (Site::RolePeerLoad, closing, "closing_producer_loses_nothing"),
            (Site::RoleLastOut, last_one_out_is_seen as fn(), "last_one_out_is_seen"),
        ]);
    }
}
