//! [`OpenOptions`]: how long an opener waits, and which owners and modes of
//! a segment file it accepts. The rule itself ([`Access::check`]) is a pure
//! function of the file's metadata and the caller's identity, so it is
//! tested without switching users; `segment.rs` gathers both.

use crate::segment::DEFAULT_OPEN_WAIT;
use crate::segment::error::OpenError;
use crate::segment::name::SegmentName;
use std::time::Duration;

/// How to open a shared object: how long to wait for its creator, and which
/// segment files to trust.
///
/// By default (`OpenOptions::new()`, and every `load_sharedobject` /
/// `load_sharedobject_timeout`) a segment is opened only if this process's
/// effective user owns it and its mode grants nothing beyond `0600`
/// (owner read and write; setuid, setgid and sticky bits count as beyond).
/// A segment another user owns could be rewritten or shrunk at any time by
/// that user; one with group or other bits by anyone those bits admit.
/// Both are refused ([`OpenError::ForeignOwner`],
/// [`OpenError::ModeTooWide`]) unless the caller opts in:
///
/// - [`allow_group_shared`](Self::allow_group_shared): the creator shared
///   the segment with a group (see `share_with_group` on every creator);
/// - [`allow_any_owner_and_mode`](Self::allow_any_owner_and_mode): no check
///   at all.
///
/// The checks read the file's metadata, so they apply to root too (whom
/// the kernel's own permission bits do not stop).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{OpenError, OpenOptions, SharedInt, SharedObject};
/// use std::time::Duration;
///
/// let counter = SharedInt::create_sharedobject(7)?;
/// counter.share_with_group(None)?; // mode 0660, group: the creator's
/// // A strict open refuses the wider mode; opting in accepts it.
/// let strict = SharedInt::load_sharedobject(&counter.handle());
/// assert!(matches!(strict, Err(OpenError::ModeTooWide { mode: 0o660, .. })));
/// let options = OpenOptions::new().wait(Duration::from_millis(100)).allow_group_shared();
/// let peer = SharedInt::load_sharedobject_with(&counter.handle(), &options)?;
/// assert_eq!(peer.read(), 7);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    wait: Duration,
    access: Access,
}

/// Which segment files an opener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Owner is the caller's effective uid; mode within `0600`.
    OwnerOnly,
    /// Owner is the caller's effective uid, or the file's group is one of
    /// the caller's groups; mode within `0660`.
    Group,
    /// Anything.
    Any,
}

impl OpenOptions {
    /// The strict default: wait up to [`DEFAULT_OPEN_WAIT`], accept only
    /// segments this process's effective user owns with mode within `0600`.
    #[must_use]
    pub const fn new() -> Self {
        Self { wait: DEFAULT_OPEN_WAIT, access: Access::OwnerOnly }
    }

    /// Waits up to `wait` for the creator to finish setting the segment up
    /// (what `load_sharedobject_timeout`'s argument does).
    #[must_use]
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Also accepts a segment shared with a group: mode up to `0660` (no
    /// bit for other users), owned by this process's effective user or by
    /// another user when the file's group is this process's effective group
    /// or one of its supplementary groups. Every member of that group can
    /// then rewrite the segment as this process reads it (which shm's
    /// checks make an error, never undefined behaviour) or shrink its file.
    #[must_use]
    pub const fn allow_group_shared(mut self) -> Self {
        self.access = Access::Group;
        self
    }

    /// Accepts any owner and any mode. **Dangerous**: a segment that other
    /// users may write can be changed or shrunk under this process at any
    /// time by any of them, and one owned by another user by that user.
    /// Only for segments whose provenance is checked some other way. The
    /// kernel's own permission checks still apply.
    #[must_use]
    pub const fn allow_any_owner_and_mode(mut self) -> Self {
        self.access = Access::Any;
        self
    }

    /// How long an open waits for the creator.
    #[must_use]
    pub const fn wait_time(&self) -> Duration {
        self.wait
    }

    pub(crate) const fn access(&self) -> Access {
        self.access
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Who the caller is, as far as [`Access::check`] needs to know.
pub(crate) struct Caller {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id and supplementary groups (only gathered when the
    /// owner is not `uid` and groups are accepted).
    pub groups: Vec<u32>,
}

/// The metadata of a segment file that [`Access::check`] reads.
pub(crate) struct FileOwner {
    pub uid: u32,
    pub gid: u32,
    /// `st_mode`; only the permission bits (`0o7777`) are looked at.
    pub mode: u32,
}

/// Permission bits: read, write and execute for all three classes, and
/// setuid, setgid and sticky.
const PERMISSION_BITS: u32 = 0o7777;

impl Access {
    /// Mode bits this access accepts.
    pub(crate) const fn allowed_mode(self) -> u32 {
        match self {
            Self::OwnerOnly => 0o600,
            Self::Group => 0o660,
            Self::Any => PERMISSION_BITS,
        }
    }

    /// Whether groups matter to [`check`](Self::check) for a file owned by
    /// `owner` (so the caller's groups must be gathered).
    pub(crate) fn needs_groups(self, owner: u32, caller_uid: u32) -> bool {
        self == Self::Group && owner != caller_uid
    }

    /// Accepts or refuses a segment file: the owner first, then the mode.
    pub(crate) fn check(self, name: &SegmentName, file: &FileOwner, caller: &Caller) -> Result<(), OpenError> {
        if self == Self::Any {
            return Ok(());
        }
        let owner_ok = file.uid == caller.uid || (self == Self::Group && caller.groups.contains(&file.gid));
        if !owner_ok {
            return Err(OpenError::ForeignOwner {
                name: name.clone(),
                owner: file.uid,
                group: file.gid,
                me: caller.uid,
            });
        }
        let mode = file.mode & PERMISSION_BITS;
        let allowed = self.allowed_mode();
        if mode & !allowed != 0 {
            return Err(OpenError::ModeTooWide { name: name.clone(), mode, allowed });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> SegmentName {
        SegmentName::new("shmrs-options-test").unwrap()
    }

    fn check(access: Access, (uid, gid, mode): (u32, u32, u32), me: u32, groups: &[u32]) -> Result<(), OpenError> {
        access.check(&name(), &FileOwner { uid, gid, mode }, &Caller { uid: me, groups: groups.to_vec() })
    }

    #[test]
    fn owner_only_accepts_own_files_up_to_0600() {
        for mode in [0o600, 0o400, 0o200, 0o000, 0o100_600] {
            check(Access::OwnerOnly, (1000, 1000, mode), 1000, &[]).unwrap();
        }
        for mode in [0o640, 0o660, 0o604, 0o606, 0o666, 0o700, 0o4600, 0o2600, 0o1600, 0o610] {
            let err = check(Access::OwnerOnly, (1000, 1000, mode), 1000, &[]).unwrap_err();
            assert!(matches!(err, OpenError::ModeTooWide { mode: m, allowed: 0o600, .. } if m == mode), "{err:?}");
        }
        // The owner decides, not the group, even when the group is ours.
        let err = check(Access::OwnerOnly, (0, 1000, 0o600), 1000, &[1000]).unwrap_err();
        assert!(matches!(err, OpenError::ForeignOwner { owner: 0, group: 1000, me: 1000, .. }), "{err:?}");
        // Root gets no exemption.
        let err = check(Access::OwnerOnly, (65534, 65534, 0o600), 0, &[0]).unwrap_err();
        assert!(matches!(err, OpenError::ForeignOwner { owner: 65534, me: 0, .. }), "{err:?}");
    }

    #[test]
    fn group_accepts_own_or_group_files_up_to_0660() {
        check(Access::Group, (1000, 1000, 0o660), 1000, &[]).unwrap();
        check(Access::Group, (1000, 5, 0o640), 1000, &[]).unwrap();
        check(Access::Group, (0, 5, 0o660), 1000, &[7, 5]).unwrap();
        check(Access::Group, (0, 5, 0o600), 1000, &[5]).unwrap();
        for mode in [0o664, 0o662, 0o661, 0o670, 0o760, 0o2660] {
            let err = check(Access::Group, (1000, 1000, mode), 1000, &[]).unwrap_err();
            assert!(matches!(err, OpenError::ModeTooWide { mode: m, allowed: 0o660, .. } if m == mode), "{err:?}");
        }
        let err = check(Access::Group, (0, 5, 0o660), 1000, &[6, 7]).unwrap_err();
        assert!(matches!(err, OpenError::ForeignOwner { owner: 0, group: 5, me: 1000, .. }), "{err:?}");
    }

    #[test]
    fn any_accepts_anything() {
        check(Access::Any, (0, 0, 0o7777), 1000, &[]).unwrap();
    }

    #[test]
    fn messages_name_segment_values_and_opt_in() {
        let err = check(Access::OwnerOnly, (65534, 65533, 0o600), 0, &[]).unwrap_err().to_string();
        for part in ["shmrs-options-test", "uid 65534", "group 65533", "uid 0", "allow_group_shared"] {
            assert!(err.contains(part), "{part:?} missing in {err}");
        }
        assert!(err.contains("allow_any_owner_and_mode"), "{err}");
        let err = check(Access::OwnerOnly, (0, 0, 0o640), 0, &[]).unwrap_err().to_string();
        for part in ["shmrs-options-test", "0640", "0600", "allow_group_shared", "allow_any_owner_and_mode"] {
            assert!(err.contains(part), "{part:?} missing in {err}");
        }
        // The group opt-in would not help: not suggested.
        for access in [Access::OwnerOnly, Access::Group] {
            let err = check(access, (0, 0, 0o666), 0, &[]).unwrap_err().to_string();
            assert!(err.contains("0666") && err.contains("allow_any_owner_and_mode"), "{err}");
            assert!(!err.contains("allow_group_shared"), "{err}");
        }
    }

    #[test]
    fn builder_sets_wait_and_access() {
        let default = OpenOptions::default();
        assert_eq!(default, OpenOptions::new());
        assert_eq!((default.wait_time(), default.access()), (DEFAULT_OPEN_WAIT, Access::OwnerOnly));
        let o = OpenOptions::new().wait(Duration::from_millis(3)).allow_group_shared();
        assert_eq!((o.wait_time(), o.access()), (Duration::from_millis(3), Access::Group));
        assert_eq!(o.allow_any_owner_and_mode().access(), Access::Any);
    }

    proptest! {
        /// What each access accepts is exactly its rule, and the rules nest:
        /// whatever a stricter access accepts, a looser one does too.
        #[test]
        fn rules_nest(uid in 0u32..4, gid in 0u32..4, mode in 0u32..0o10000, me in 0u32..4, groups in proptest::collection::vec(0u32..4, 0..3)) {
            let file = (uid, gid, mode);
            let strict = check(Access::OwnerOnly, file, me, &groups).is_ok();
            let group = check(Access::Group, file, me, &groups).is_ok();
            prop_assert_eq!(strict, uid == me && mode & !0o600 == 0);
            prop_assert_eq!(group, (uid == me || groups.contains(&gid)) && mode & !0o660 == 0);
            prop_assert!(!strict || group);
        }
    }
}
