//! Handles: the text that names a shared object to another process.

use crate::format::header::ObjectKind;
use crate::segment::name::SegmentName;
use std::ffi::OsString;
use std::fmt;
use std::process::Command;
use std::str::FromStr;

/// Environment variable [`Handle::pass_to`] and [`Handle::from_env`] use
/// unless told otherwise.
pub const HANDLE_ENV: &str = "SHM_HANDLE";

/// Identifies one shared object: its segment name, object kind, layout
/// fingerprint, payload size and the nonce chosen at creation.
///
/// The text form is one line of at most 330 ASCII bytes, so it fits an
/// argument or an environment variable:
///
/// ```text
/// shm1:<kind>:<fingerprint, 16 hex>:<payload size, decimal>:<nonce, 16 hex>:<name>
/// ```
///
/// A handle is a claim, not an authority: opening checks every field
/// against the segment's header and refuses a mismatch.
///
/// ```
/// use shm_runtime::Handle;
/// let text = "shm1:int:00112233445566ff:8:0123456789abcdef:shmrs-example";
/// let handle: Handle = text.parse().unwrap();
/// assert_eq!(handle.name().as_str(), "shmrs-example");
/// assert_eq!(handle.to_string(), text);
/// assert!("shm1:int:nonsense".parse::<Handle>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    name: SegmentName,
    kind: ObjectKind,
    fingerprint: u64,
    payload_size: u64,
    nonce: u64,
}

/// Why a text is not a handle. It arises from parsing a text that was
/// cut, edited, or is not a handle at all (a handle's text is what
/// `Display` of a [`Handle`] printed):
///
/// ```
/// use shm_runtime::{Handle, InvalidHandle};
///
/// let refused: InvalidHandle = "shmrs-abc:int".parse::<Handle>().unwrap_err();
/// assert!(refused.to_string().contains("shmrs-abc:int"), "{refused}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHandle {
    /// The text, cut to 80 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid handle {:?}: {}", self.text, self.reason)
    }
}

impl std::error::Error for InvalidHandle {}

/// Why [`Handle::from_env`] found no handle. It arises in a process its
/// parent did not start with [`Handle::pass_to`] (the variable is not
/// set), or whose variable holds something else than a handle's text:
///
/// ```
/// use shm_runtime::{Handle, HandleEnvError};
///
/// let missing = Handle::from_env_var("SHM_DOC_NO_SUCH_VARIABLE").unwrap_err();
/// assert!(matches!(missing, HandleEnvError::Missing { .. }), "{missing}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandleEnvError {
    /// The variable is not set.
    Missing {
        /// The variable.
        var: String,
    },
    /// The variable is not valid Unicode.
    NotUnicode {
        /// The variable.
        var: String,
        /// Its value.
        value: OsString,
    },
    /// The variable does not hold a handle.
    Invalid {
        /// The variable.
        var: String,
        /// What is wrong with its value.
        source: InvalidHandle,
    },
}

impl fmt::Display for HandleEnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { var } => write!(f, "environment variable {var} with a shm handle is not set"),
            Self::NotUnicode { var, .. } => write!(f, "environment variable {var} is not valid Unicode"),
            Self::Invalid { var, source } => write!(f, "environment variable {var}: {source}"),
        }
    }
}

impl std::error::Error for HandleEnvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid { source, .. } => Some(source),
            _ => None,
        }
    }
}

const VERSION_TAG: &str = "shm1";

impl Handle {
    pub(crate) fn new(name: SegmentName, kind: ObjectKind, fingerprint: u64, payload_size: u64, nonce: u64) -> Self {
        Self { name, kind, fingerprint, payload_size, nonce }
    }

    /// The segment name.
    #[must_use]
    pub fn name(&self) -> &SegmentName {
        &self.name
    }

    /// The kind of object the handle claims.
    #[must_use]
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// The layout fingerprint the handle claims.
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The payload size in bytes the handle claims.
    #[must_use]
    pub fn payload_size(&self) -> u64 {
        self.payload_size
    }

    /// The creation nonce the handle claims.
    #[must_use]
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// Hands this handle to a child process through the environment
    /// variable [`HANDLE_ENV`]; the child calls [`Handle::from_env`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedObject;
    /// let counter = shm_runtime::SharedInt::create_sharedobject(0)?;
    /// let mut child = std::process::Command::new("worker");
    /// counter.handle().pass_to(&mut child).spawn()?;
    /// # Ok(()) }
    /// ```
    pub fn pass_to<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        self.pass_to_var(command, HANDLE_ENV)
    }

    /// Like [`Handle::pass_to`] with another variable, for a child that
    /// needs several handles.
    pub fn pass_to_var<'c>(&self, command: &'c mut Command, var: &str) -> &'c mut Command {
        command.env(var, self.to_string())
    }

    /// Reads the handle a parent passed with [`Handle::pass_to`].
    pub fn from_env() -> Result<Self, HandleEnvError> {
        Self::from_env_var(HANDLE_ENV)
    }

    /// Reads the handle a parent passed with [`Handle::pass_to_var`].
    pub fn from_env_var(var: &str) -> Result<Self, HandleEnvError> {
        let value = std::env::var_os(var).ok_or_else(|| HandleEnvError::Missing { var: var.to_owned() })?;
        let text =
            value.to_str().ok_or_else(|| HandleEnvError::NotUnicode { var: var.to_owned(), value: value.clone() })?;
        text.parse().map_err(|source| HandleEnvError::Invalid { var: var.to_owned(), source })
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{VERSION_TAG}:{}:{:016x}:{}:{:016x}:{}",
            self.kind, self.fingerprint, self.payload_size, self.nonce, self.name
        )
    }
}

/// Parses exactly 16 lowercase hex digits.
fn parse_hex16(field: &str, what: &str) -> Result<u64, String> {
    if field.len() != 16 || !field.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!("{what} must be 16 lowercase hex digits, found {field:?}"));
    }
    u64::from_str_radix(field, 16).map_err(|e| format!("{what}: {e}"))
}

/// Parses a canonical decimal number (digits only, no leading zero).
fn parse_decimal(field: &str, what: &str) -> Result<u64, String> {
    let canonical =
        !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) && (field == "0" || !field.starts_with('0'));
    if !canonical {
        return Err(format!("{what} must be a decimal number, found {field:?}"));
    }
    field.parse().map_err(|e| format!("{what} {field:?}: {e}"))
}

fn parse(text: &str) -> Result<Handle, String> {
    let mut fields = text.splitn(6, ':');
    let mut next = |what: &str| fields.next().ok_or_else(|| format!("missing the {what} field"));
    let tag = next("version")?;
    if tag != VERSION_TAG {
        return Err(format!("expected it to start with `{VERSION_TAG}:`, found {tag:?}"));
    }
    let kind_word = next("kind")?;
    let kind = ObjectKind::from_word(kind_word).ok_or_else(|| format!("unknown object kind {kind_word:?}"))?;
    let fingerprint = parse_hex16(next("fingerprint")?, "fingerprint")?;
    let payload_size = parse_decimal(next("size")?, "size")?;
    let nonce = parse_hex16(next("nonce")?, "nonce")?;
    let name_text = next("name")?;
    let name = SegmentName::new(name_text).map_err(|e| format!("segment name: {}", e.reason))?;
    Ok(Handle { name, kind, fingerprint, payload_size, nonce })
}

impl FromStr for Handle {
    type Err = InvalidHandle;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text).map_err(|reason| InvalidHandle { text: text.chars().take(80).collect(), reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Handle {
        Handle::new(SegmentName::new("shmrs-abc").unwrap(), ObjectKind::String, 0x0123_4567_89ab_cdef, 72, 0xfeed)
    }

    #[test]
    fn display_is_the_documented_form() {
        assert_eq!(sample().to_string(), "shm1:string:0123456789abcdef:72:000000000000feed:shmrs-abc");
    }

    #[test]
    fn c6_each_garbled_field_is_named() {
        let cases = [
            ("", "expected it to start with `shm1:`"),
            ("shm2:int:0000000000000000:8:0000000000000000:x", "start with `shm1:`"),
            ("shm1:float:0000000000000000:8:0000000000000000:x", "unknown object kind"),
            ("shm1:int:000000000000000:8:0000000000000000:x", "fingerprint must be 16"),
            ("shm1:int:000000000000000G:8:0000000000000000:x", "fingerprint must be 16"),
            ("shm1:int:000000000000000A:8:0000000000000000:x", "fingerprint must be 16"),
            ("shm1:int:0000000000000000:+8:0000000000000000:x", "size must be a decimal"),
            ("shm1:int:0000000000000000:08:0000000000000000:x", "size must be a decimal"),
            ("shm1:int:0000000000000000:99999999999999999999:0000000000000000:x", "size \"9999"),
            ("shm1:int:0000000000000000:8:00000000000000000:x", "nonce must be 16"),
            ("shm1:int:0000000000000000:8:0000000000000000", "missing the name field"),
            ("shm1:int:0000000000000000:8:0000000000000000:", "must not be empty"),
            ("shm1:int:0000000000000000:8:0000000000000000:a/b", "must not contain `/`"),
            ("shm1:int:0000000000000000:8:0000000000000000:a:b", "may only use"),
        ];
        for (text, expected) in cases {
            let err = text.parse::<Handle>().unwrap_err();
            assert!(err.reason.contains(expected), "{text:?}: {err}");
            assert!(err.to_string().starts_with("invalid handle"), "{err}");
        }
    }

    #[test]
    fn env_round_trip_and_errors() {
        // Only this test touches these variables.
        let var = "SHM_RUNTIME_UNIT_TEST_HANDLE";
        let mut cmd = Command::new("true");
        sample().pass_to_var(&mut cmd, var);
        let passed = cmd.get_envs().find(|(k, _)| *k == var).and_then(|(_, v)| v).unwrap();
        assert_eq!(passed.to_str().unwrap(), sample().to_string());
        assert_eq!(
            Handle::from_env_var("SHM_RUNTIME_UNIT_TEST_UNSET"),
            Err(HandleEnvError::Missing { var: "SHM_RUNTIME_UNIT_TEST_UNSET".into() })
        );
    }

    fn any_handle() -> impl Strategy<Value = Handle> {
        (
            prop::sample::select(vec![ObjectKind::Int, ObjectKind::Bool, ObjectKind::String, ObjectKind::Bytes]),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            "[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,254}",
        )
            .prop_map(|(kind, fp, size, nonce, name)| {
                Handle::new(SegmentName::new(&name).unwrap(), kind, fp, size, nonce)
            })
    }

    proptest! {
        #[test]
        fn c6_display_then_parse_is_identity(h in any_handle()) {
            let text = h.to_string();
            prop_assert!(text.len() <= 330);
            prop_assert_eq!(text.parse::<Handle>().unwrap(), h);
        }

        /// Parsing accepts only canonical text: whatever parses prints back
        /// as the same text, so two texts never name one handle.
        #[test]
        fn c6_parse_accepts_only_canonical_text(text in "shm1:(int|bool|bytes|x):[0-9a-fA-F]{15,17}:[0-9+]{1,4}:[0-9a-f]{16}:[a-z./:]{0,8}") {
            if let Ok(h) = text.parse::<Handle>() {
                prop_assert_eq!(h.to_string(), text);
            }
        }

        #[test]
        fn c6_garbage_is_refused_or_exact(text in "\\PC{0,400}") {
            if let Ok(h) = text.parse::<Handle>() {
                prop_assert_eq!(h.to_string(), text);
            }
        }

        /// One flipped character in a valid handle either still parses to
        /// a handle that prints as the flipped text, or is refused.
        #[test]
        fn c6_tampered_text_is_refused_or_exact(h in any_handle(), at in any::<prop::sample::Index>(), c in any::<char>()) {
            let mut chars: Vec<char> = h.to_string().chars().collect();
            let i = at.index(chars.len());
            chars[i] = c;
            let tampered: String = chars.into_iter().collect();
            if let Ok(parsed) = tampered.parse::<Handle>() {
                prop_assert_eq!(parsed.to_string(), tampered);
            }
        }
    }
}
