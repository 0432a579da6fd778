//! llguidance's C API (llguidance.h) in a static library: the `#[no_mangle]` functions of the
//! llguidance crate are kept in the archive because the crate is linked here.
pub use llguidance;
