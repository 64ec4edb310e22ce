//! The native part of the Python package `shm` (`shm._shm`): shm-runtime's
//! objects as Python classes, and its errors as exceptions under
//! `shm.Error`. The package's `__init__.py` re-exports everything here; the
//! seeds' APIs (`shm.compat`) are Python code over these classes.

mod array;
mod broadcast;
mod codec;
mod compat;
mod errors;
mod ring;
mod schema;
mod shared;
mod typed_array;
mod typed_ring;
mod values;
mod wait;

use pyo3::prelude::*;

/// The module `shm._shm`.
#[pymodule]
fn _shm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<values::SharedInt>()?;
    m.add_class::<values::SharedBool>()?;
    m.add_class::<values::SharedString>()?;
    m.add_class::<values::SharedBytes>()?;
    m.add_class::<ring::ByteRing>()?;
    m.add_class::<compat::CompatSide>()?;
    m.add_class::<array::BytesArray>()?;
    m.add_class::<typed_ring::MemoryInterface>()?;
    m.add_class::<schema::StructType>()?;
    m.add_class::<shared::Shared>()?;
    m.add_class::<broadcast::Broadcast>()?;
    m.add_class::<broadcast::Subscriber>()?;
    m.add_class::<typed_array::SharedArray>()?;
    m.add_function(wrap_pyfunction!(schema::peek, m)?)?;
    m.add("NAME_PREFIX", shm_runtime::NAME_PREFIX)?;
    Ok(())
}
