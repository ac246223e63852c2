//! grubenv: reading any block never panics; a write keeps the block's
//! size, and reading the written block gives back what was set.
#![no_main]
use std::collections::BTreeMap;

use kexecctl::boot::grubenv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<(String, String)>)| {
    let (block, set) = input;
    if let Ok(text) = std::str::from_utf8(&block) {
        let _ = grubenv::parse(text);
    }
    let set: BTreeMap<String, String> = set
        .into_iter()
        .filter(|(k, _)| !k.is_empty() && !k.contains(['=', '\n', '\\', '#']))
        .collect();
    // A well-formed block of the real size, with the fuzzer's padding.
    let mut real = String::from(grubenv::SIGNATURE);
    real.push_str(&"#".repeat(1024 - real.len()));
    for base in [block.as_slice(), real.as_bytes()] {
        if let Ok(new) = grubenv::update(base, &set) {
            assert_eq!(new.len(), base.len(), "the block never grows or shrinks");
            let vars = grubenv::parse(std::str::from_utf8(&new).unwrap());
            for (k, v) in &set {
                assert_eq!(vars.get(k), Some(v), "{k}");
            }
        }
    }
});
