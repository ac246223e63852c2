//! /etc/kdump.conf's rebuild directives: any text parses or is refused
//! with a message; never both force and never.
#![no_main]
use std::path::Path;

use kexecctl::kdump;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: String| {
    if let Ok(policy) = kdump::parse_kdump_conf(Path::new("/etc/kdump.conf"), &text) {
        assert!(!(policy.force && policy.never));
    }
});
