//! The cases of the GRUB oracle, GRUB's recorded answers, and kexecctl's
//! answer to the same case for comparison.
//!
//! The recording (`tests/grub-oracle/answers.jsonl.gz`) is gzip'd JSON
//! lines: a header (format, grub-emu version, seed), each distinct
//! grub.cfg once, then the cases, each naming its configuration and giving
//! the platform, whether `/boot` is separate, the environment block, the
//! files present, and GRUB's answer: the `linux` and `initrd` arguments of
//! the entry it booted, its `chosen`, and the environment block after the
//! boot (grub-emu writes it through its disk, as GRUB does).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use kexecctl::boot::bls::BlsEntry;
use kexecctl::boot::grub::{self, FileStat, Flavor, GrubHost, Outcome};
use kexecctl::boot::grubenv;
use serde::{Deserialize, Serialize};

pub const FORMAT: u32 = 1;

/// An environment block, stored without its `#` padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub size: usize,
    /// The bytes before the padding (UTF-8 in every generated case).
    pub text: String,
}

impl Block {
    pub fn of(bytes: &[u8]) -> Block {
        let used = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'#').count();
        Block {
            size: bytes.len(),
            text: String::from_utf8_lossy(&bytes[..used]).into_owned(),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.text.as_bytes().to_vec();
        b.resize(self.size.max(b.len()), b'#');
        b
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// How it was made (suite, generator settings, or the hand-made shape).
    pub origin: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// GRUB booted a Linux kernel (grub-emu ran kexec), or not.
    pub linux: bool,
    /// The `linux` arguments: the kernel as written, then its arguments.
    #[serde(default)]
    pub argv: Vec<String>,
    /// The `initrd` arguments of the same entry.
    #[serde(default)]
    pub initrds: Vec<String>,
    #[serde(default)]
    pub chosen: String,
    /// The environment block after GRUB ran (when there was one).
    pub grubenv_after: Option<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub config: usize,
    /// `efi` or `pc` (GRUB's `grub_platform`).
    pub platform: String,
    pub separate_boot: bool,
    pub grubenv: Option<Block>,
    /// Empty files GRUB's paths name (kernels, initrds).
    pub files: Vec<String>,
    /// Other files (GRUB path → text), such as custom.cfg.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    /// What this variant sets (grubenv values, …), for messages.
    pub variant: String,
    pub answer: Option<Answer>,
}

impl Case {
    /// GRUB's directory, as GRUB names it on its partition.
    pub fn grub_dir(&self) -> &'static str {
        if self.separate_boot {
            "/grub"
        } else {
            "/boot/grub"
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    format: u32,
    grub_emu: String,
    seed: u64,
    configs: usize,
    cases: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Header(Header),
    Config {
        config: usize,
        config_origin: String,
        text: String,
    },
    Case(Box<Case>),
}

#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub grub_emu: String,
    pub seed: u64,
    pub configs: Vec<Config>,
    pub cases: Vec<Case>,
}

impl Recording {
    pub fn read(path: &Path) -> Recording {
        let file = fs::File::open(path).unwrap_or_else(|e| {
            panic!(
                "cannot open the recorded GRUB answers {}: {e}",
                path.display()
            )
        });
        let mut rec = Recording::default();
        for (n, line) in BufReader::new(GzDecoder::new(file)).lines().enumerate() {
            let line = line.unwrap_or_else(|e| panic!("{}: line {}: {e}", path.display(), n + 1));
            match serde_json::from_str::<Line>(&line)
                .unwrap_or_else(|e| panic!("{}: line {}: {e}", path.display(), n + 1))
            {
                Line::Header(h) => {
                    assert_eq!(h.format, FORMAT, "{}: unknown format", path.display());
                    rec.grub_emu = h.grub_emu;
                    rec.seed = h.seed;
                }
                Line::Config {
                    config,
                    config_origin,
                    text,
                } => {
                    assert_eq!(config, rec.configs.len(), "configs out of order");
                    rec.configs.push(Config {
                        origin: config_origin,
                        text,
                    });
                }
                Line::Case(case) => rec.cases.push(*case),
            }
        }
        rec
    }

    pub fn write(&self, path: &Path) {
        let tmp = path.with_extension("tmp");
        let mut out = GzEncoder::new(fs::File::create(&tmp).unwrap(), Compression::best());
        let header = Line::Header(Header {
            format: FORMAT,
            grub_emu: self.grub_emu.clone(),
            seed: self.seed,
            configs: self.configs.len(),
            cases: self.cases.len(),
        });
        writeln!(out, "{}", serde_json::to_string(&header).unwrap()).unwrap();
        for (i, c) in self.configs.iter().enumerate() {
            let line = Line::Config {
                config: i,
                config_origin: c.origin.clone(),
                text: c.text.clone(),
            };
            writeln!(out, "{}", serde_json::to_string(&line).unwrap()).unwrap();
        }
        for case in &self.cases {
            let line = Line::Case(Box::new(case.clone()));
            writeln!(out, "{}", serde_json::to_string(&line).unwrap()).unwrap();
        }
        out.finish().unwrap();
        fs::rename(&tmp, path).unwrap();
    }
}

/// The case's files as GRUB sees them (GRUB paths), for kexecctl.
pub struct CaseHost {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl CaseHost {
    pub fn new(config: &Config, case: &Case) -> CaseHost {
        let mut files = BTreeMap::new();
        let dir = case.grub_dir();
        files.insert(format!("{dir}/grub.cfg"), config.text.clone().into_bytes());
        if let Some(env) = &case.grubenv {
            files.insert(format!("{dir}/grubenv"), env.bytes());
        }
        for f in &case.files {
            files.insert(f.clone(), Vec::new());
        }
        for (path, text) in &case.extra {
            files.insert(path.clone(), text.clone().into_bytes());
        }
        CaseHost { files }
    }
}

impl GrubHost for CaseHost {
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(path).cloned()
    }

    fn stat(&self, path: &str) -> Option<FileStat> {
        if let Some(f) = self.files.get(path) {
            return Some(FileStat {
                dir: false,
                size: f.len() as u64,
                mtime: None,
            });
        }
        let dir = format!("{}/", path.trim_end_matches('/'));
        self.files
            .keys()
            .any(|k| k.starts_with(&dir))
            .then_some(FileStat {
                dir: true,
                size: 0,
                mtime: None,
            })
    }

    fn bls_entries(&self) -> Vec<BlsEntry> {
        Vec::new()
    }
}

/// GRUB's variables before grub.cfg runs, as grub-emu 2.12 has them with
/// the oracle's wrapper (`grub_platform` set, `(hd0)` as the root device).
pub fn initial_vars(case: &Case) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        "feature_200_final",
        "feature_all_video_module",
        "feature_chainloader_bpb",
        "feature_default_font_path",
        "feature_menuentry_id",
        "feature_menuentry_options",
        "feature_nativedisk_cmd",
        "feature_ntldr",
        "feature_platform_search_hint",
        "feature_timeout_style",
    ]
    .iter()
    .map(|f| (f.to_string(), "y".to_string()))
    .collect();
    for (k, v) in [
        ("grub_cpu", "x86_64".to_string()),
        ("grub_platform", case.platform.clone()),
        ("root", "hd0".into()),
        ("prefix", format!("(hd0){}", case.grub_dir())),
        ("color_normal", "light-gray/black".into()),
        ("color_highlight", "black/light-gray".into()),
        ("pager", String::new()),
        ("lang", String::new()),
        ("locale_dir", String::new()),
        ("secondary_locale_dir", String::new()),
        ("check_signatures", "no".into()),
    ] {
        vars.push((k.to_string(), v));
    }
    vars
}

/// kexecctl's answer to a case, in the shape of GRUB's.
pub fn kexecctl_answer(config: &Config, case: &Case) -> Result<Answer, String> {
    let host = CaseHost::new(config, case);
    let path = format!("{}/grub.cfg", case.grub_dir());
    let evaluation = grub::evaluate(
        &path,
        &config.text,
        &host,
        initial_vars(case),
        Flavor::Upstream,
    )
    .map_err(|e| format!("kexecctl fails: {} (line {:?})", e.message, e.line))?;
    let grubenv_after = match &case.grubenv {
        Some(env) => {
            let changes: Vec<_> = evaluation
                .writes
                .iter()
                .map(|w| (w.name.clone(), w.value.clone()))
                .collect();
            let after = if changes.is_empty() {
                env.bytes()
            } else {
                grubenv::apply(&env.bytes(), &changes)
                    .map_err(|e| format!("kexecctl's writes do not apply: {e}"))?
            };
            Some(Block::of(&after))
        }
        None => None,
    };
    Ok(match evaluation.outcome {
        Outcome::Linux(e) => Answer {
            linux: true,
            argv: std::iter::once(e.kernel_arg.clone().unwrap_or_default())
                .chain(e.args.iter().cloned())
                .collect(),
            initrds: e.initrds.clone(),
            chosen: e.chosen.clone(),
            grubenv_after,
        },
        Outcome::NotLinux { .. } => Answer {
            linux: false,
            argv: Vec::new(),
            initrds: Vec::new(),
            chosen: String::new(),
            grubenv_after,
        },
    })
}

/// The differences between GRUB's answer and kexecctl's (empty: agree).
/// kexecctl's initrds have the device part removed; GRUB's as written.
pub fn differences(grub_answer: &Answer, ours: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    if grub_answer.linux != ours.linux {
        out.push(format!(
            "GRUB {} Linux, kexecctl {}",
            if grub_answer.linux {
                "boots"
            } else {
                "does not boot"
            },
            if ours.linux { "does" } else { "does not" }
        ));
    }
    if grub_answer.linux && ours.linux {
        if grub_answer.argv != ours.argv {
            out.push(format!(
                "linux arguments: GRUB {:?}, kexecctl {:?}",
                grub_answer.argv, ours.argv
            ));
        }
        let grub_initrds: Vec<String> = grub_answer
            .initrds
            .iter()
            .map(|p| grub::strip_device(p).to_string())
            .collect();
        if grub_initrds != ours.initrds {
            out.push(format!(
                "initrds: GRUB {:?}, kexecctl {:?}",
                grub_answer.initrds, ours.initrds
            ));
        }
        if grub_answer.chosen != ours.chosen {
            out.push(format!(
                "chosen: GRUB {:?}, kexecctl {:?}",
                grub_answer.chosen, ours.chosen
            ));
        }
    }
    if grub_answer.grubenv_after != ours.grubenv_after {
        out.push(format!(
            "grubenv after boot: GRUB {:?}, kexecctl {:?}",
            grub_answer.grubenv_after.as_ref().map(|b| &b.text),
            ours.grubenv_after.as_ref().map(|b| &b.text)
        ));
    }
    out
}
