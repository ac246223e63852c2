//! Red Hat's `blscfg` command, derived from rhboot/grub2
//! (`grub-core/commands/blscfg.c`, RHEL 9 and Fedora): Debian's GRUB has no
//! such command, so GRUB itself cannot be asked.
//!
//! Each Boot Loader Specification entry becomes a menu entry whose id is
//! the file name without `.conf` and whose body is GRUB script built from
//! its keys: `savedefault` when `save_default=true`, `load_video`, `linux
//! ($root)<linux> <options>`, `initrd ($root)<initrd>…` (after the
//! `early_initrd` files, placed in the first initrd's directory) and
//! `devicetree`. Only the *first* `options` line counts (else
//! `$default_kernelopts`), and its `$variables` are replaced when the menu
//! is built, each followed by a blank, the way blscfg's `expand_val` does
//! it (a final one-letter variable is dropped, as there).

use super::eval::{Eval, Run};
use super::{Body, MenuEntry};
use crate::boot::bls::BlsEntry;

impl Eval<'_> {
    pub(super) fn blscfg(&mut self) -> Run<()> {
        for entry in self.host.bls_entries() {
            let item = self.bls_menu_entry(&entry);
            self.push_menu_entry(item);
        }
        Ok(())
    }

    fn bls_menu_entry(&self, e: &BlsEntry) -> MenuEntry {
        let options = self
            .expand_val(e.first("options"))
            .or_else(|| self.expand_val(self.get("default_kernelopts")));
        let initrds = e.all("initrd");
        let (devicetree, dt_prefix) = match self.expand_val(e.first("devicetree")) {
            Some(dt) => (Some(dt), false),
            None => (self.expand_val(self.get("devicetree")), true),
        };
        let users = self.expand_val(e.first("grub_users"));
        let linux = e.first("linux").unwrap_or_default();
        let dir_of = |p: &str| p.rfind('/').map_or(String::new(), |i| p[..=i].to_string());
        let mut src = String::new();
        if self.get("save_default") == Some("true") {
            src.push_str("savedefault\n");
        }
        src.push_str("load_video\nset gfxpayload=keep\ninsmod gzio\n");
        src.push_str(&format!("linux ($root){linux}"));
        if let Some(o) = &options {
            src.push(' ');
            src.push_str(o);
        }
        src.push('\n');
        let early: Vec<String> = self
            .get("early_initrd")
            .map(|v| v.split(' ').map(str::to_string).collect())
            .unwrap_or_default();
        if !early.is_empty() || !initrds.is_empty() {
            let prefix = initrds.first().map_or_else(|| dir_of(linux), |i| dir_of(i));
            src.push_str("initrd");
            for f in &early {
                src.push_str(&format!(" ($root){prefix}{f}"));
            }
            for f in &initrds {
                src.push_str(&format!(" ($root){f}"));
            }
            src.push('\n');
        }
        if let Some(dt) = devicetree {
            let prefix = if dt_prefix {
                dir_of(linux)
            } else {
                String::new()
            };
            src.push_str(&format!("devicetree ($root){prefix}{dt}\n"));
        }
        let title = e.first("title").unwrap_or(linux).to_string();
        let mut args = vec![title.clone()];
        args.extend(e.all("grub_arg").into_iter().map(str::to_string));
        MenuEntry {
            title,
            id: Some(e.id.clone()),
            args,
            body: Body::Source(src),
            submenu: false,
            restricted: users.is_some(),
            line: 0,
            bls: true,
        }
    }

    /// blscfg's `expand_val`.
    fn expand_val(&self, value: Option<&str>) -> Option<String> {
        let value = value?.as_bytes();
        let mut buffer: Option<String> = None;
        let (mut start, mut end) = (0usize, 0usize);
        let mut is_var = false;
        let field = |buffer: &mut Option<String>, is_var: bool, start: usize, end: usize| {
            let text = String::from_utf8_lossy(value.get(start..=end).unwrap_or_default());
            let text = if is_var {
                match self.get(&text) {
                    Some(v) => format!("{v} "),
                    None => return,
                }
            } else {
                text.into_owned()
            };
            buffer.get_or_insert_with(String::new).push_str(&text);
        };
        for (i, &c) in value.iter().enumerate() {
            if c == b'$' && value[end] != b'\\' {
                if start != end {
                    field(&mut buffer, is_var, start, end);
                }
                is_var = true;
                start = i + 1;
            } else if is_var && !(c.is_ascii_alphanumeric() || c == b'_') {
                field(&mut buffer, is_var, start, end);
                is_var = false;
                start = i;
                if value[start] == b' ' {
                    start += 1;
                }
            }
            end = i;
        }
        if start != end {
            field(&mut buffer, is_var, start, end);
        }
        buffer
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FileStat, Flavor, GrubHost};
    use super::*;

    struct NoHost;
    impl GrubHost for NoHost {
        fn read_file(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        fn stat(&self, _: &str) -> Option<FileStat> {
            None
        }
        fn bls_entries(&self) -> Vec<BlsEntry> {
            Vec::new()
        }
    }

    #[test]
    fn test_expand_val_like_blscfg() {
        let host = NoHost;
        let vars = vec![
            ("kernelopts".to_string(), "root=/dev/vda2 ro".to_string()),
            ("a".to_string(), "A".to_string()),
        ];
        let eval = Eval::new(&host, vars, Flavor::RedHat);
        let x = |s: &str| eval.expand_val(Some(s));
        assert_eq!(x("$kernelopts").as_deref(), Some("root=/dev/vda2 ro "));
        assert_eq!(
            x("quiet $kernelopts rhgb").as_deref(),
            Some("quiet root=/dev/vda2 ro rhgb")
        );
        // Quirks kept: a final one-letter variable, and a one-letter value.
        assert_eq!(x("$kernelopts $a").as_deref(), Some("root=/dev/vda2 ro "));
        assert_eq!(x("q"), None);
        assert_eq!(x("$unset_variable"), None);
    }
}
