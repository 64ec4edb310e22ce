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

const HELP: &str = "\
usage: opener [<handle>]

Loads the creator's shared string (examples/creator.rs), prints it and
answers \"From afar\". Without <handle>, the handle is read from SHM_HANDLE.

Both sides with one command (the creator starts the opener):
  cargo run --example creator
By hand, in two terminals (the creator prints the handle):
  cargo run --example creator -- --no-spawn
  cargo run --example opener -- '<handle>'

Options:
  -h, --help   print this help
";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
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
