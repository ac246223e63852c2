//! GRUB's script evaluation on arbitrary grub.cfg text: never panics and
//! always ends (bounded steps), with a grubenv and BLS entries answered by
//! a fake host.
#![no_main]
use std::collections::BTreeMap;

use kexecctl::boot::bls::{self, BlsEntry};
use kexecctl::boot::grub::{self, GrubHost};
use libfuzzer_sys::fuzz_target;

struct Host;

impl GrubHost for Host {
    fn file_exists(&self, path: &str, _non_empty: bool) -> bool {
        path.ends_with("grubenv")
    }
    fn grubenv(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("saved_entry".to_string(), "1>0".to_string()),
            ("kernelopts".to_string(), "root=/dev/vda2 ro".to_string()),
        ])
    }
    fn bls_entries(&self) -> Vec<BlsEntry> {
        bls::parse_entry("m-6.5", "title T\nversion 6.5\nlinux /vmlinuz-6.5\noptions $kernelopts\n")
            .into_iter()
            .collect()
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut vars = BTreeMap::new();
        vars.insert("feature_menuentry_id".to_string(), "y".to_string());
        if let Ok(choice) = grub::default_entry(text, &Host, vars) {
            let _ = choice.entry.cmdline();
        }
    }
});
