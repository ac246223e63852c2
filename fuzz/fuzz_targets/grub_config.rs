//! GRUB's script evaluation on arbitrary grub.cfg text: never panics and
//! always ends (bounded steps, depth and value sizes), with a grubenv, a
//! sourced file and BLS entries answered by a fake host.
#![no_main]
use kexecctl::boot::bls::{self, BlsEntry};
use kexecctl::boot::grub::{self, FileStat, Flavor, GrubHost};
use kexecctl::boot::grubenv;
use libfuzzer_sys::fuzz_target;

struct Host;

impl GrubHost for Host {
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        if path.ends_with("grubenv") {
            let changes = [
                ("saved_entry".to_string(), Some("1>0".to_string())),
                ("next_entry".to_string(), Some("0".to_string())),
                ("kernelopts".to_string(), Some("root=/dev/vda2 ro".to_string())),
            ];
            return grubenv::apply(&grubenv::create(), &changes).ok();
        }
        path.ends_with("custom.cfg")
            .then(|| b"menuentry c { linux /vmlinuz-c $1 }\nsource /boot/grub/custom.cfg\n".to_vec())
    }
    fn stat(&self, path: &str) -> Option<FileStat> {
        self.read_file(path).map(|b| FileStat {
            dir: false,
            size: b.len() as u64,
            mtime: None,
        })
    }
    fn bls_entries(&self) -> Vec<BlsEntry> {
        bls::parse_entry("m-6.5", "title T\nversion 6.5\nlinux /vmlinuz-6.5\noptions $kernelopts\n")
            .into_iter()
            .collect()
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let vars = vec![
            ("feature_menuentry_id".to_string(), "y".to_string()),
            ("prefix".to_string(), "/boot/grub".to_string()),
            ("grub_platform".to_string(), "efi".to_string()),
        ];
        for flavor in [Flavor::Upstream, Flavor::RedHat] {
            if let Ok(evaluation) = grub::evaluate("/boot/grub/grub.cfg", text, &Host, vars.clone(), flavor) {
                if let grub::Outcome::Linux(entry) = evaluation.outcome {
                    let _ = entry.cmdline();
                }
                let changes: Vec<_> = evaluation
                    .writes
                    .iter()
                    .map(|w| (w.name.clone(), w.value.clone()))
                    .collect();
                let block = Host.read_file("/boot/grub/grubenv").unwrap();
                if let Ok(after) = grubenv::apply(&block, &changes) {
                    assert_eq!(after.len(), block.len());
                }
            }
        }
    }
});
