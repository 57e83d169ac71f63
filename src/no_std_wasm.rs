//! What the standard library would otherwise give the npm package's wasm: an allocator, and a
//! panic handler. A panic is a bug; it traps (the JS call throws a `RuntimeError`) rather than
//! pulling in std's message formatting.

// SAFETY: wasm32-unknown-unknown without threads runs this module on one thread only.
#[allow(unsafe_code)]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
