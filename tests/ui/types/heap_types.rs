use std::rc::Rc;
use std::sync::Arc;

use shm_runtime::SharedState;

#[derive(SharedState)]
#[repr(C)]
struct Message {
    text: String,
    bytes: Vec<u8>,
    boxed: Box<u64>,
    counted: Rc<u64>,
    shared: Arc<u64>,
}

fn main() {}
