//! utmp's runlevel record: any bytes, never a panic.
#![no_main]
use kexecctl::facts::init;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(level) = init::runlevel_from_utmp(data) {
        assert!(level.is_ascii_graphic());
    }
});
