//! Layout fingerprints: 64-bit FNV-1a, computable in `const` context.

/// FNV-1a 64-bit offset basis.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `bytes` into the running FNV-1a hash `hash`.
#[must_use]
pub const fn fold(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

/// The fingerprint of a layout described by `text`.
///
/// The built-in objects describe themselves by their Rust type
/// (`"shm::SharedInt(i64)"`); two programs that disagree on the text get
/// different fingerprints and the opener gets `LayoutMismatch`.
#[must_use]
pub const fn of_str(text: &str) -> u64 {
    fold(OFFSET_BASIS, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_fnv1a_vectors() {
        // Reference values of FNV-1a 64 for "" and "a".
        assert_eq!(of_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(of_str("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(of_str("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn is_order_sensitive() {
        assert_ne!(of_str("ab"), of_str("ba"));
    }
}
