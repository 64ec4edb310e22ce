//! Segment names: validation and unguessable generated names.

use std::fmt;
use std::sync::Arc;

/// Prefix of every generated segment name; `/dev/shm/shmrs-*` are ours.
pub const NAME_PREFIX: &str = "shmrs-";

/// Longest accepted name in bytes (`NAME_MAX` for a file in /dev/shm).
pub const MAX_NAME_LEN: usize = 255;

/// A validated segment name, cheap to clone (errors carry one).
///
/// Valid names are 1 to 255 bytes of ASCII letters, digits, `.`, `_` and
/// `-`, not starting with `.`: the name of the file in /dev/shm, which a
/// file name of 255 bytes fills exactly. The leading `/` that `shm_open`
/// wants is not part of the name.
///
/// ```
/// use shm_runtime::SegmentName;
/// let name = SegmentName::new("sensor-1.state").unwrap();
/// assert_eq!(name.as_str(), "sensor-1.state");
/// assert!(SegmentName::new("a/b").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SegmentName(Arc<str>);

/// Why a name was refused; see [`SegmentName::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName {
    /// The refused name, lossily decoded and cut to 64 characters.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid segment name {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for InvalidName {}

/// Checks `name` against the rules in [`SegmentName`], naming the first
/// rule it breaks. Pure: makes no system call.
pub(crate) fn validate(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name must not be empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("a name must be at most 255 bytes");
    }
    if name.contains('/') {
        return Err("a name must not contain `/`");
    }
    if name.contains('\0') {
        return Err("a name must not contain a NUL byte");
    }
    if name.starts_with('.') {
        return Err("a name must not start with `.`");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err("a name may only use ASCII letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

impl SegmentName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, InvalidName> {
        match validate(name) {
            Ok(()) => Ok(Self(Arc::from(name))),
            Err(reason) => Err(InvalidName { name: name.chars().take(64).collect(), reason }),
        }
    }

    /// A fresh name: [`NAME_PREFIX`] followed by 128 random bits in hex,
    /// from the kernel's random source, so other processes cannot predict
    /// it.
    pub(crate) fn generate() -> std::io::Result<Self> {
        let mut bytes = [0u8; 16];
        crate::sys::random::fill(&mut bytes)?;
        Ok(Self(Arc::from(generated_name(u128::from_ne_bytes(bytes)))))
    }

    /// Stands for a generated name in an error raised before one was
    /// drawn.
    pub(crate) fn unnamed() -> Self {
        Self(Arc::from("(generated name)"))
    }

    /// The name as given, without the leading `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name [`SegmentName::generate`] makes from 128 random bits.
fn generated_name(bits: u128) -> String {
    format!("{NAME_PREFIX}{bits:032x}")
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn a2_rejects_each_bad_name_with_its_reason() {
        assert_eq!(validate(""), Err("a name must not be empty"));
        assert_eq!(validate("a/b"), Err("a name must not contain `/`"));
        assert_eq!(validate("/a"), Err("a name must not contain `/`"));
        assert_eq!(validate("a\0b"), Err("a name must not contain a NUL byte"));
        assert_eq!(validate(&"x".repeat(256)), Err("a name must be at most 255 bytes"));
        assert_eq!(validate(".hidden"), Err("a name must not start with `.`"));
        assert!(validate("sp ace").is_err());
        assert!(validate("é").is_err());
        assert_eq!(validate(&"x".repeat(255)), Ok(()));
        assert_eq!(validate("a.b_c-9"), Ok(()));
    }

    #[test]
    fn invalid_name_error_names_the_input_and_reason() {
        let err = SegmentName::new("a/b").unwrap_err();
        assert_eq!(err.to_string(), "invalid segment name \"a/b\": a name must not contain `/`");
    }

    #[test]
    fn f4_generated_names_are_valid_distinct_and_prefixed() {
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let name = SegmentName::generate().unwrap();
            assert!(name.as_str().starts_with(NAME_PREFIX));
            assert_eq!(validate(name.as_str()), Ok(()));
            assert!(seen.insert(name), "generated name repeated");
        }
    }

    #[test]
    fn f4_generated_names_do_not_follow_each_other() {
        // Two consecutive names share no long common prefix after the
        // project prefix: nothing sequential (pid, counter, time) leaks in.
        let a = SegmentName::generate().unwrap();
        let b = SegmentName::generate().unwrap();
        let common = a.as_str().bytes().zip(b.as_str().bytes()).take_while(|(x, y)| x == y).count();
        assert!(common < NAME_PREFIX.len() + 8, "{a} and {b} share {common} bytes");
    }

    proptest! {
        #[test]
        fn a2_validate_accepts_exactly_the_documented_alphabet(name in "\\PC{0,300}") {
            let ok = !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && !name.starts_with('.')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            prop_assert_eq!(validate(&name).is_ok(), ok);
        }

        #[test]
        fn a2_names_with_slash_or_nul_never_pass(a in "[a-z]{0,10}", b in "[a-z]{0,10}", bad in prop::sample::select(vec!['/', '\0'])) {
            let name = format!("{a}{bad}{b}");
            prop_assert!(validate(&name).is_err());
        }

        #[test]
        fn f4_generated_name_format_is_valid(bits in any::<u128>()) {
            let name = generated_name(bits);
            prop_assert_eq!(validate(&name), Ok(()));
            prop_assert_eq!(name.len(), NAME_PREFIX.len() + 32);
        }
    }
}
