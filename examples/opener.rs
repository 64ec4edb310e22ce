//! The opener side of the hello/answer pair: it loads the creator's shared
//! string, prints what it finds, and answers "From afar".
//!
//! `cargo run --example creator` starts this program itself. By hand, pass
//! the handle the creator prints as the first argument:
//!
//! ```text
//! cargo run --example opener -- '<handle>'
//! ```
//!
//! Without an argument it reads the handle from `SHM_HANDLE`.

use shm_runtime::{Handle, SharedObject, SharedString};
use std::error::Error;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("opener: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let handle: Handle = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => Handle::from_env()?,
    };
    let message = SharedString::load_sharedobject(&handle)?;
    println!("opener: read {:?}", message.read()?);
    message.write("From afar")?;
    println!("opener: answered {:?}", message.read()?);
    Ok(())
}
