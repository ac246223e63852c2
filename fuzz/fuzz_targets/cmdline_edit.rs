//! Command-line tokenising and editing (fastreboot's --remove/--append,
//! kdumpctl's REMOVE/APPEND): never panics; an edit never drops a token it
//! was not asked to drop (byte for byte, in order); kdumpctl's splitter
//! either parses or reports the unmatched quote.
#![no_main]
use kexecctl::cmdline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, Vec<String>, String)| {
    let (line, remove, append) = input;
    let edited = cmdline::edit(&line, &remove, &append);
    let kept: Vec<&str> = cmdline::kernel_params(&line)
        .into_iter()
        .filter(|p| !remove.contains(&p.key))
        .map(|p| &line[p.span])
        .collect();
    let mut rest = edited.as_str();
    for token in kept {
        let at = rest
            .find(token)
            .unwrap_or_else(|| panic!("{token:?} dropped from {line:?} -> {edited:?}"));
        rest = &rest[at + token.len()..];
    }
    let _ = cmdline::open_quote(&line);
    let _ = cmdline::kdumpctl_params(&line, false);
});
