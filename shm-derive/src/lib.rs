//! `#[derive(SharedState)]` for `shm-runtime`. Use it through
//! `shm_runtime::SharedState`; this crate is an implementation detail.

use proc_macro::TokenStream;

/// Placeholder until the derive lands: expands to nothing.
#[proc_macro_derive(SharedState, attributes(shm))]
pub fn derive_shared_state(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
