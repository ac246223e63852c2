//! The legacy-config reader on arbitrary bytes: never panics, always ends,
//! and an accepted file is read the same way twice (no hidden state).
#![no_main]
use std::path::Path;

use kexecctl::config::Shell;
use libfuzzer_sys::fuzz_target;

fn read(data: &[u8]) -> Option<Vec<(String, String)>> {
    let mut shell = Shell::new(
        vec![("HOME".into(), "/root".into())],
        || Ok("6.1.0-28-amd64".to_string()),
    );
    shell.source(Path::new("/etc/default/kexec"), data).ok()?;
    Some(
        shell
            .assigned()
            .map(|(k, v)| (k.to_string(), v.value.clone()))
            .collect(),
    )
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(read(data), read(data));
});
