//! Entry point: everything happens in [`kexecctl::cli::main`].

fn main() {
    std::process::exit(kexecctl::cli::main(std::env::args_os().collect()));
}
