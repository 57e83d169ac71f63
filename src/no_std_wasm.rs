//! What the standard library would otherwise give the npm package's wasm: an allocator, and a
//! panic handler. A panic is a bug; it traps (the JS call throws a `RuntimeError`) rather than
//! pulling in std's message formatting.

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
