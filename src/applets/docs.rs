//! `kexecctl generate-docs --out DIR` (hidden): man pages and shell
//! completions for every personality, generated from the clap definitions
//! so they are never written twice. The Makefile runs it at build time.

use std::fs;
use std::path::Path;

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::applets::{coldreboot, fastreboot, kdump_setup, kexec_load, kexecctl};
use crate::error::{Error, Result};

fn commands() -> Vec<Command> {
    vec![
        kexecctl::Args::command(),
        kexec_load::Args::command(),
        coldreboot::Args::command(),
        kdump_setup::Args::command(),
        fastreboot::Args::command(),
    ]
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, &e)
}

pub fn generate(out: &Path) -> Result<()> {
    let man = out.join("man8");
    fs::create_dir_all(&man).map_err(|e| io(&man, e))?;
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        let path = man.join(format!("{name}.8"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("8")
            .render(&mut buf)
            .map_err(|e| io(&path, e))?;
        fs::write(&path, buf).map_err(|e| io(&path, e))?;
        for (shell, dir) in [
            (Shell::Bash, "bash-completion"),
            (Shell::Zsh, "zsh"),
            (Shell::Fish, "fish"),
        ] {
            let dir = out.join(dir);
            fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let mut cmd = cmd.clone();
            clap_complete::generate_to(shell, &mut cmd, &name, &dir).map_err(|e| io(&dir, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_clap_definition_is_consistent() {
        for cmd in commands() {
            cmd.debug_assert();
        }
    }

    #[test]
    fn test_man_pages_and_completions_for_every_personality() {
        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path()).unwrap();
        for name in [
            "kexecctl",
            "kexec-load",
            "coldreboot",
            "kdump-setup",
            "fastreboot",
        ] {
            let page = fs::read_to_string(tmp.path().join(format!("man8/{name}.8"))).unwrap();
            assert!(page.contains(".TH "), "{name}");
            assert!(
                tmp.path()
                    .join(format!("bash-completion/{name}.bash"))
                    .is_file()
            );
            assert!(tmp.path().join(format!("zsh/_{name}")).is_file());
            assert!(tmp.path().join(format!("fish/{name}.fish")).is_file());
        }
    }
}
