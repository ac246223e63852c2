//! `kexecctl config`: the variables the legacy files set, and where.
//!
//! This is how an admin checks what kexecctl sees in `/etc/default/kexec` or
//! `/etc/sysconfig/kdump`, and how the tests compare kexecctl with dash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cli::output::Output;
use crate::config::{self, Config, LegacySet};
use crate::context::Ctx;
use crate::error::Result;

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Read FILE (a host path, not under --root) in a shell started with
    /// your environment, as `. FILE` would; repeat to source several files
    /// in order into one shell. Default: the legacy files under --root, read
    /// as the init scripts read them, with an empty environment.
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Read only this set of legacy files (with --file: apply its defaults).
    #[arg(long, value_name = "SET", value_parser = ["kexec", "kdump-tools", "sysconfig-kdump"])]
    pub set: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct VarOut {
    value: String,
    origin: String,
}

#[derive(Debug, Serialize)]
struct SetOut {
    set: Option<&'static str>,
    files: Vec<PathBuf>,
    variables: BTreeMap<String, VarOut>,
}

#[derive(Debug, Serialize)]
struct ConfigOut {
    /// Every variable of every set read (later sets win on a shared name).
    variables: BTreeMap<String, VarOut>,
    sets: Vec<SetOut>,
}

fn set_out(set: Option<LegacySet>, config: &Config) -> SetOut {
    SetOut {
        set: set.map(LegacySet::name),
        files: config.files.clone(),
        variables: config
            .shell
            .assigned()
            .map(|(name, var)| {
                let out = VarOut {
                    value: var.value.clone(),
                    origin: var.origin.to_string(),
                };
                (name.to_string(), out)
            })
            .collect(),
    }
}

pub fn run(args: &ConfigArgs, ctx: &Ctx, out: &Output) -> Result<i32> {
    let chosen = args.set.as_deref().and_then(LegacySet::from_name);
    let mut sets = Vec::new();
    if !args.files.is_empty() {
        let config = config::read_files(&ctx.root, &args.files, true, std::env::vars_os(), chosen)?;
        sets.push(set_out(chosen, &config));
    } else {
        let wanted: Vec<LegacySet> = match chosen {
            Some(set) => vec![set],
            None => LegacySet::ALL.to_vec(),
        };
        for set in wanted {
            if let Some(config) = config::read_set(&ctx.root, set)? {
                sets.push(set_out(Some(set), &config));
            }
        }
        if sets.is_empty() {
            log::warn!(
                "no legacy configuration files under {}",
                ctx.root.dir().display()
            );
        }
    }
    let report = ConfigOut {
        variables: sets.iter().flat_map(|s| s.variables.clone()).collect(),
        sets,
    };
    out.put("variables", &report.variables);
    out.put("sets", &report.sets);
    print_text(&report, out);
    Ok(0)
}

/// Shell syntax an admin can read and `.`-source again; origins as comments.
fn print_text(report: &ConfigOut, out: &Output) {
    for set in &report.sets {
        let files: Vec<String> = set.files.iter().map(|f| f.display().to_string()).collect();
        match set.set {
            Some(name) => out.line(format!("# {name}: {}", files.join(" "))),
            None => out.line(format!("# {}", files.join(" "))),
        }
        for (name, var) in &set.variables {
            out.line(format!(
                "{name}={}\t# {}",
                shell_words::quote(&var.value),
                var.origin
            ));
        }
    }
}
