//! [`SharedObject`]: what every object has (loading, its handle and name,
//! whether it created the segment, sharing with a group, cleanup), written
//! once over the object's segment.
//!
//! The trait is sealed: its supertrait [`sealed::Sealed`] sits in a module
//! no other crate can name, and hands the segment over in wrappers whose
//! field is crate-private, so `Segment` stays out of the public API.

use crate::segment::error::{CleanupError, OpenError, ShareError};
use crate::segment::handle::Handle;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use core::fmt;
use std::time::Duration;

pub(crate) mod sealed {
    use crate::segment::Segment;

    /// An object's segment, borrowed. Public in a private module: no other
    /// crate can name it or reach the segment inside.
    pub struct SegmentRef<'a>(pub(crate) &'a Segment);

    /// An object's segment, handed over whole (for `cleanup`).
    pub struct SegmentOwned(pub(crate) Segment);

    /// What [`SharedObject`](super::SharedObject) is written over; private,
    /// so that only this crate's objects implement it.
    pub trait Sealed {
        /// The segment the object lives in.
        #[doc(hidden)]
        fn segment(&self) -> SegmentRef<'_>;

        /// Lets go of everything the object holds besides its segment (a
        /// ring end's claim on its side, references into the mapping) and
        /// hands the segment over.
        #[doc(hidden)]
        fn into_segment(self) -> SegmentOwned
        where
            Self: Sized;
    }
}

/// The methods every shared object has: [`SharedInt`](crate::SharedInt),
/// [`SharedBool`](crate::SharedBool), [`SharedBytes`](crate::SharedBytes),
/// [`SharedString`](crate::SharedString), [`Shared<T>`](crate::Shared),
/// [`SharedArray<T>`](crate::SharedArray),
/// [`MemoryInterface<T, R>`](crate::MemoryInterface) and
/// [`ByteRing<R>`](crate::ByteRing). Generic code takes any of them
/// (`&impl SharedObject`, or `Box<dyn SharedObject>`: the methods that
/// return `Self` or consume it need a sized type and are not callable
/// through `dyn`; dropping the box does what `cleanup` does, without
/// reporting an error).
///
/// The trait is sealed: it cannot be implemented outside this crate.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ByteRing, Producer, SharedInt, SharedObject, SharedString};
///
/// fn describe(object: &dyn SharedObject) -> String {
///     let side = if object.is_creator() { "created here" } else { "opened" };
///     format!("{} ({side})", object.handle().kind())
/// }
///
/// let count = SharedInt::create_sharedobject(0)?;
/// let peer = SharedInt::load_sharedobject(&count.handle())?;
/// let objects: Vec<Box<dyn SharedObject>> =
///     vec![Box::new(count), Box::new(peer), Box::new(SharedString::create_sharedobject(8)?)];
/// let described: Vec<String> = objects.iter().map(|o| describe(o.as_ref())).collect();
/// assert_eq!(described, ["int (created here)", "int (opened)", "string (created here)"]);
///
/// let ring = ByteRing::<Producer>::create_memorybuf(64, 4)?;
/// let handle = ring.handle();
/// ring.cleanup()?; // the creator's cleanup removes the name
/// assert!(ByteRing::<Producer>::load_sharedobject(&handle).is_err());
/// # Ok(()) }
/// ```
pub trait SharedObject: sealed::Sealed {
    /// Opens the object `handle` names if `options` accept the segment's
    /// owner and mode (see [`OpenOptions`]), waiting up to
    /// `options.wait_time()` for its creator to finish setting it up. A
    /// ring end opens its side `R`, a claim: a live holder is
    /// [`OpenError::RoleTaken`], a dead holder's claim is taken over.
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError>
    where
        Self: Sized;

    /// Opens the object `handle` names, waiting up to
    /// [`DEFAULT_OPEN_WAIT`](crate::DEFAULT_OPEN_WAIT) for its creator to
    /// finish setting it up.
    /// Only a segment this process's effective user owns, with mode
    /// `0600`, is accepted (see [`OpenOptions`]). A ring end claims its
    /// side, as in [`load_sharedobject_with`](Self::load_sharedobject_with)
    /// (the rings also have this as `load_memorybuf`).
    fn load_sharedobject(handle: &Handle) -> Result<Self, OpenError>
    where
        Self: Sized,
    {
        Self::load_sharedobject_with(handle, &OpenOptions::new())
    }

    /// Opens the object `handle` names, waiting up to `wait` for its
    /// creator to finish setting it up. Owner and mode are checked as by
    /// [`load_sharedobject`](Self::load_sharedobject); a ring end claims
    /// its side, as in
    /// [`load_sharedobject_with`](Self::load_sharedobject_with).
    fn load_sharedobject_timeout(handle: &Handle, wait: Duration) -> Result<Self, OpenError>
    where
        Self: Sized,
    {
        Self::load_sharedobject_with(handle, &OpenOptions::new().wait(wait))
    }

    /// Gives the segment's group read and write access (mode
    /// `0660`), first setting its group to `group` if given (this
    /// process must belong to it, or be root); `None` keeps the
    /// file's group, this process's effective group at creation.
    /// Openers in that group then open it with
    /// [`OpenOptions::allow_group_shared`]
    /// (a strict open refuses the wider mode, also for this user).
    /// Only the creating process may call this (for a ring, the end that
    /// created it); the change goes through a descriptor checked to be the
    /// file it created.
    fn share_with_group(&self, group: Option<u32>) -> Result<(), ShareError> {
        self.segment().0.share_with_group(group)
    }

    /// The handle another process passes to `load_sharedobject` (or to a
    /// ring's `load_memorybuf`).
    #[must_use]
    fn handle(&self) -> Handle {
        self.segment().0.handle()
    }

    /// The segment name.
    #[must_use]
    fn name(&self) -> &SegmentName {
        self.segment().0.name()
    }

    /// Whether this object created the segment in this process (and
    /// so removes its name on `cleanup` or drop). A forked child's copy of
    /// the creator's object is not the creator.
    #[must_use]
    fn is_creator(&self) -> bool {
        self.segment().0.is_creator()
    }

    /// Removes the segment's name if this process created it, then
    /// unmaps. Openers only unmap. A name already removed by someone
    /// else is not an error. A ring end first lets go of its side (the
    /// other side sees [`RingError::Closed`](crate::RingError::Closed) once
    /// it has read everything). Dropping the object does the same but
    /// cannot report an error.
    fn cleanup(self) -> Result<(), CleanupError>
    where
        Self: Sized,
    {
        self.into_segment().0.cleanup()
    }
}

/// `Debug` of an object that shows nothing but its handle: the type's name
/// and `handle: "<handle text>"`.
pub(crate) fn debug_handle(object: &impl SharedObject, type_name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct(type_name).field("handle", &object.handle().to_string()).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ByteRing, Consumer, MemoryInterface, ObjectKind, Producer, Ring, Shared, SharedArray, SharedBool, SharedBytes,
        SharedInt, SharedString,
    };
    use std::path::PathBuf;

    /// Where the object's name is in the file system.
    fn path(object: &(impl SharedObject + ?Sized)) -> PathBuf {
        PathBuf::from("/dev/shm").join(object.name().as_str())
    }

    /// What every object promises, through the trait alone: `creator` made
    /// a segment that `O` opens (the other side, for a ring).
    fn check_object<C: SharedObject, O: SharedObject + fmt::Debug>(creator: C, kind: ObjectKind) {
        let handle = creator.handle();
        let text = handle.to_string();
        assert_eq!(text.parse::<Handle>().unwrap(), handle, "{kind}: the handle's text round-trips");
        assert_eq!(handle.kind(), kind);
        assert_eq!(creator.name(), handle.name());
        assert!(creator.is_creator(), "{kind}");
        assert!(path(&creator).exists(), "{kind}");

        let opener = O::load_sharedobject(&text.parse().unwrap()).unwrap();
        assert!(!opener.is_creator(), "{kind}: an opener is not the creator");
        assert_eq!((opener.name(), opener.handle()), (creator.name(), handle.clone()), "{kind}");
        assert!(format!("{opener:?}").contains(&text), "{kind}: Debug shows the handle");
        assert!(
            matches!(opener.share_with_group(None), Err(ShareError::NotCreator { .. })),
            "{kind}: only the creator shares"
        );
        opener.cleanup().unwrap();
        assert!(path(&creator).exists(), "{kind}: an opener's cleanup only unmaps");
        let opener = O::load_sharedobject_timeout(&handle, Duration::from_secs(1)).unwrap();
        drop(opener);
        let opener = O::load_sharedobject_with(&handle, &OpenOptions::new()).unwrap();
        drop(opener);

        creator.cleanup().unwrap();
        assert!(!PathBuf::from("/dev/shm").join(handle.name().as_str()).exists(), "{kind}: cleanup removes the name");
        let gone = O::load_sharedobject_timeout(&handle, Duration::ZERO).unwrap_err();
        assert!(matches!(gone, OpenError::NotFound { .. }), "{kind}: {gone}");
    }

    #[test]
    fn every_object_is_a_shared_object() {
        check_object::<_, SharedInt>(SharedInt::create_sharedobject(1).unwrap(), ObjectKind::Int);
        check_object::<_, SharedBool>(SharedBool::create_sharedobject(true).unwrap(), ObjectKind::Bool);
        check_object::<_, SharedBytes>(SharedBytes::create_sharedobject(8).unwrap(), ObjectKind::Bytes);
        check_object::<_, SharedString>(SharedString::create_sharedobject(8).unwrap(), ObjectKind::String);
        check_object::<_, Shared<[u32; 3]>>(Shared::<[u32; 3]>::create_zeroed().unwrap(), ObjectKind::State);
        check_object::<_, SharedArray<u16>>(SharedArray::<u16>::create_sharedobject(3).unwrap(), ObjectKind::Array);
        let ring = MemoryInterface::<u64, Producer>::create_memorybuf(2).unwrap();
        check_object::<_, MemoryInterface<u64, Consumer>>(ring, ObjectKind::Ring);
        let ring = MemoryInterface::<u64, Consumer>::create_memorybuf(2).unwrap();
        check_object::<_, MemoryInterface<u64, Producer>>(ring, ObjectKind::Ring);
        let ring = ByteRing::<Producer>::create_memorybuf(8, 2).unwrap();
        check_object::<_, ByteRing<Consumer>>(ring, ObjectKind::ByteRing);
    }

    #[test]
    fn any_object_fits_in_a_box_and_goes_with_it() {
        let objects: Vec<Box<dyn SharedObject>> = vec![
            Box::new(SharedInt::create_sharedobject(1).unwrap()),
            Box::new(SharedBool::create_sharedobject(false).unwrap()),
            Box::new(SharedBytes::create_sharedobject(4).unwrap()),
            Box::new(SharedString::create_sharedobject(4).unwrap()),
            Box::new(Shared::<u64>::create_zeroed().unwrap()),
            Box::new(SharedArray::<u8>::create_sharedobject(2).unwrap()),
            Box::new(MemoryInterface::<u8>::create_memorybuf(2).unwrap()),
            Box::new(ByteRing::<Consumer>::create_memorybuf(4, 2).unwrap()),
        ];
        let kinds: Vec<ObjectKind> = objects.iter().map(|o| o.handle().kind()).collect();
        assert_eq!(kinds.len(), 8);
        assert!(kinds.iter().enumerate().all(|(i, k)| !kinds[..i].contains(k)), "one of each kind: {kinds:?}");
        assert!(objects.iter().all(|o| o.is_creator() && path(o.as_ref()).exists()));
        let paths: Vec<PathBuf> = objects.iter().map(|o| path(o.as_ref())).collect();
        drop(objects);
        assert!(paths.iter().all(|p| !p.exists()), "dropping a creator's box removes its name");
    }

    #[test]
    fn both_rings_are_rings() {
        fn fill(ring: &impl Ring) -> (usize, usize, bool) {
            (ring.len(), ring.capacity(), ring.is_empty())
        }
        let mut tx = MemoryInterface::<u32>::create_memorybuf(3).unwrap();
        let rx = MemoryInterface::<u32, Consumer>::load_memorybuf(&tx.handle()).unwrap();
        tx.write(&5).unwrap();
        assert_eq!((fill(&tx), fill(&rx)), ((1, 3, false), (1, 3, false)));
        let mut tx = ByteRing::create_memorybuf(8, 2).unwrap();
        let rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
        assert_eq!(fill(&rx), (0, 2, true));
        tx.write(b"x").unwrap();
        assert_eq!(fill(&rx), (1, 2, false));
        assert_eq!((rx.peer_alive(), tx.get_number_of_memories()), (Some(true), 2));
    }
}
