//! /proc/self/mountinfo: any text parses without a panic, and the mount
//! holding a path is one of the mounts read.
#![no_main]
use std::path::Path;

use kexecctl::boot::locate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: String| {
    let mounts = locate::parse_mountinfo(&text);
    if let Some(m) = locate::mount_of(&mounts, Path::new("/boot/grub/grub.cfg")) {
        assert!(Path::new("/boot/grub/grub.cfg").starts_with(&m.mount_point));
    }
});
