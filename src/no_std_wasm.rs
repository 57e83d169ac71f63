//! What the standard library would otherwise give the npm package's wasm: an allocator, and a
//! panic handler. A panic is a bug; it traps (the JS call throws a `RuntimeError`) rather than
//! pulling in std's message formatting.
//!
//! The allocator is lol_alloc's free list (sorted, adjacent blocks merged): the core makes few
//! allocations per call and holds few at once, so a short list serves as well as talc's size
//! classes did, for 1.5 KB less gzipped wasm.

// SAFETY: wasm32-unknown-unknown without threads runs this module on one thread only.
#[allow(unsafe_code)]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
