//! Property tests of the configuration reader on hostile input, in both
//! dialects (dash and bash): it must never panic, loop or overflow, and must
//! answer invalid UTF-8 with a clear error. `PROPTEST_CASES` raises the
//! number of cases for a long run.

use std::ffi::OsString;
use std::path::Path;

use kexecctl::config::{Dialect, Shell};
use kexecctl::error::ExitCode;
use proptest::prelude::*;

fn source_as(dialect: Dialect, bytes: &[u8]) -> Result<(), kexecctl::error::Error> {
    let env = [(OsString::from("HOME"), OsString::from("/root"))];
    let mut shell = Shell::with_dialect(dialect, env, || Ok("6.1.0-13-amd64".to_string()));
    shell.source(Path::new("/etc/default/kexec"), bytes)
}

fn source(bytes: &[u8]) -> Result<(), kexecctl::error::Error> {
    source_as(Dialect::Dash, bytes)
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(vec![Dialect::Dash, Dialect::Bash])
}

/// Bytes drawn mostly from the characters that mean something to the shell.
fn shellish() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: &[u8] =
        b"AB_x=$ {}()`'\"\\\n\t;:#~&|<>-+?%*@!0123456789uname -rdeclaretypset,.[]^";
    prop::collection::vec(prop::sample::select(alphabet), 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn test_arbitrary_bytes_never_panic(
        d in dialect(),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        match source_as(d, &bytes) {
            Ok(()) => prop_assert!(std::str::from_utf8(&bytes).is_ok()),
            Err(e) => {
                prop_assert_eq!(e.code, ExitCode::NotConfigured);
                let location = e.location.expect("errors name the file");
                prop_assert!(location.line.is_some() && location.column.is_some());
                if std::str::from_utf8(&bytes).is_err() {
                    prop_assert!(e.message.contains("invalid UTF-8"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn test_shell_like_input_never_panics(d in dialect(), bytes in shellish()) {
        if let Err(e) = source_as(d, &bytes) {
            prop_assert_eq!(e.code, ExitCode::NotConfigured);
            prop_assert!(!e.message.is_empty());
        }
    }
}

#[test]
fn test_deep_nesting_is_an_error_not_a_crash() {
    let deep = "A=".to_string() + &"${x:-\"".repeat(100_000);
    let err = source(deep.as_bytes()).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{}", err.message);
    let deep = "A=".to_string() + &"${x:-".repeat(100_000);
    let err = source_as(Dialect::Bash, deep.as_bytes()).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{}", err.message);
}

#[test]
fn test_invalid_utf8_names_line_and_column() {
    let err = source(b"LOAD_KEXEC=true\nAPPEND=\"quiet \xc3\x28\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/default/kexec:2:15: invalid UTF-8 in the file: kexecctl reads text configuration only"
    );
}
