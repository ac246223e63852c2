//! grubenv: reading any block never panics; a write keeps the block's
//! size; on a well-formed block, reading the written block gives back what
//! was set. (On the fuzzer's blocks GRUB's own rules can hide a value — a
//! name read across a line without `=`, a later duplicate — so only the
//! size is checked there.)
#![no_main]
use std::collections::BTreeMap;

use kexecctl::boot::grubenv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<(String, String)>)| {
    let (block, set) = input;
    let _ = grubenv::iterate(&block);
    let set: BTreeMap<String, String> = set
        .into_iter()
        .filter(|(k, _)| !k.is_empty() && !k.contains(['=', '\n', '\\', '#']))
        .collect();
    // A well-formed block of the real size, with the fuzzer's padding.
    let real = grubenv::create();
    if let Ok(new) = grubenv::update(&block, &set) {
        assert_eq!(new.len(), block.len(), "the block never grows or shrinks");
    }
    if let Ok(new) = grubenv::update(&real, &set) {
        assert_eq!(new.len(), real.len(), "the block never grows or shrinks");
        let vars = grubenv::parse(&new);
        for (k, v) in &set {
            assert_eq!(vars.get(k), Some(v), "{k}");
        }
    }
});
