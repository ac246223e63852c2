//! BLS entries: parsing never panics, and the version order blscfg sorts
//! by is a consistent order (antisymmetric, reflexive).
#![no_main]
use std::cmp::Ordering;

use kexecctl::boot::bls;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, String)| {
    let (text, a, b) = input;
    let _ = bls::parse_entry("fuzz", &text);
    assert_eq!(bls::vercmp(&a, &a), Ordering::Equal);
    assert_eq!(bls::vercmp(&a, &b), bls::vercmp(&b, &a).reverse(), "{a:?} {b:?}");
});
