//! Entry point: creates the one [`System`] and hands it, with the
//! arguments, to [`kexecctl::cli::main`].
//!
//! [`System`]: kexecctl::system::System

fn main() {
    let args = std::env::args_os().collect();
    // Test builds only: the recording fake, when the tests ask for it.
    #[cfg(feature = "test-fake")]
    if let Some(fake) = kexecctl::system::fake::Recorder::from_env() {
        std::process::exit(kexecctl::cli::main(args, &fake));
    }
    std::process::exit(kexecctl::cli::main(args, &kexecctl::system::linux::Linux));
}
