//! Kernel image inspection (bzImage setup header, PE, ELF, gzip, arm64
//! Image) on bytes an attacker may control: never panics, and what it
//! reports is self-consistent.
#![no_main]
use kexecctl::image::{self, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let format = image::inspect(data);
    let _ = format.describe();
    if let Some(max) = format.max_cmdline() {
        assert!(max < u32::MAX as usize);
    }
    if format.is_x86_64_loadable() {
        assert!(matches!(format, Format::BzImage { .. }));
    }
});
