//! Which entry GRUB runs, and running it (`grub-core/normal/menu.c`).
//!
//! `default` names an entry of the current menu. Upstream GRUB (Debian,
//! Ubuntu, Arch, SUSE, RHEL 7) first reads it as a number with its
//! `strtoul` — base prefixes `0x` and `0` (octal), leading blanks skipped,
//! anything after the digits ignored (`2 foo` and `1>2` are entry 2 and 1),
//! and a value beyond an `int` wrapped — and only when no digit starts it,
//! compares it with each entry's title or id up to its first unescaped `>`
//! (`>>` is a literal `>`). Red Hat's GRUB (Fedora 30+, RHEL 8+) looks for
//! an id first, then a title, and takes a number only when nothing else
//! follows it. A number out of range, or no match, means entry 0.
//!
//! Running an entry sets `chosen` (the ids from the top, each `>`
//! doubled — what `savedefault` stores), gives `default` the part after
//! its first `>` for the submenu, runs the body with the entry's arguments
//! as `$1…`, and boots if a kernel is loaded; a submenu's body runs in a
//! new context and its menu is shown in turn. When the default entry does
//! not boot, the entries named by `fallback` are tried, then GRUB waits for
//! the user at the menu.

use super::eval::{Eval, Halt, Run, Running, is_blank};
use super::{Body, Flavor, MenuEntry};

/// GRUB's `strtoul` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    pub value: u64,
    /// Index after the last digit read.
    pub end: usize,
    pub error: Option<NumberError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// No digit: `GRUB_ERR_BAD_NUMBER`.
    NoDigits,
    /// Too large for an `unsigned long`: `GRUB_ERR_OUT_OF_RANGE`.
    Overflow,
}

/// GRUB's `grub_strtoul(s, &end, 0)` with an `unsigned long` of `long_bits`.
pub fn strtoul(s: &str, long_bits: u32) -> Number {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && is_blank(bytes[i] as char) {
        i += 1;
    }
    let mut base = 10u64;
    if bytes.get(i) == Some(&b'0') {
        match bytes.get(i + 1) {
            Some(b'x') => {
                base = 16;
                i += 2;
            }
            Some(b'0'..=b'7') => base = 8,
            _ => {}
        }
    }
    let mut num: u64 = 0;
    let mut found = false;
    while let Some(&b) = bytes.get(i) {
        let digit = match b.to_ascii_lowercase() {
            d @ b'0'..=b'9' => (d - b'0') as u64,
            l @ b'a'..=b'z' => (l - b'a') as u64 + 10,
            _ => break,
        };
        if digit >= base {
            break;
        }
        found = true;
        match num.checked_mul(base).and_then(|n| n.checked_add(digit)) {
            Some(n) => num = n,
            None => {
                return Number {
                    value: u64::MAX,
                    end: i,
                    error: Some(NumberError::Overflow),
                };
            }
        }
        i += 1;
    }
    if !found {
        return Number {
            value: 0,
            end: i,
            error: Some(NumberError::NoDigits),
        };
    }
    if long_bits == 32 && num > u32::MAX as u64 {
        return Number {
            value: u32::MAX as u64,
            end: i,
            error: Some(NumberError::Overflow),
        };
    }
    Number {
        value: num,
        end: i,
        error: None,
    }
}

/// Upstream `menuentry_eq`: `name` equals `spec` up to spec's first
/// unescaped `>`.
pub fn menuentry_eq(name: &str, spec: &str) -> bool {
    let (name, spec) = (name.as_bytes(), spec.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        let gt = spec.get(j) == Some(&b'>');
        let next_gt = spec.get(j + 1) == Some(&b'>');
        if gt && !next_gt {
            return i == name.len();
        }
        if gt {
            j += 1;
        }
        let (n, s) = (name.get(i), spec.get(j));
        if n != s {
            return false;
        }
        if n.is_none() {
            return true;
        }
        i += 1;
        j += 1;
    }
}

/// Red Hat's `menuentry_eq` with a length limit: a non-zero "match
/// length", or 0 for no match (a one-letter id followed by a blank, or an
/// empty id, does not match — as in Red Hat's code).
fn menuentry_eq_limit(id: &str, spec: &str, limit: Option<usize>) -> usize {
    let (id, spec) = (id.as_bytes(), spec.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    while limit.is_none_or(|l| i <= l) {
        let gt = spec.get(j) == Some(&b'>');
        let next_gt = spec.get(j + 1) == Some(&b'>');
        if gt && !next_gt && i == id.len() {
            return j;
        }
        if gt && !next_gt {
            return 0;
        }
        if gt {
            j += 1;
        }
        let (a, b) = (id.get(i), spec.get(j));
        if a != b {
            if limit == Some(i) && a.is_none() && b.is_some_and(|&c| is_blank(c as char)) {
                return i.saturating_sub(1);
            }
            return 0;
        }
        if a.is_none() {
            return i;
        }
        i += 1;
        j += 1;
    }
    0
}

/// The part of a `default` after its first unescaped `>`.
pub fn rest_after_gt(spec: &str) -> Option<&str> {
    let bytes = spec.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'>' {
            if bytes.get(i + 1) == Some(&b'>') {
                i += 2;
                continue;
            }
            return Some(&spec[i + 1..]);
        }
        i += 1;
    }
    None
}

fn int_of(n: u64) -> i64 {
    n as u32 as i32 as i64
}

impl Eval<'_> {
    /// GRUB's `get_entry_number`: an index into `menu` (maybe out of
    /// range) or -1.
    pub(super) fn entry_number(&self, menu: &[MenuEntry], val: &str) -> i64 {
        match self.flavor {
            Flavor::Upstream => {
                let n = strtoul(val, self.long_bits);
                match n.error {
                    None => int_of(n.value),
                    Some(NumberError::Overflow) => -1,
                    Some(NumberError::NoDigits) => menu
                        .iter()
                        .position(|e| {
                            menuentry_eq(&e.title, val) || menuentry_eq(e.id_or_title(), val)
                        })
                        .map_or(-1, |i| i as i64),
                }
            }
            Flavor::RedHat => match self.redhat_helper(menu, val) {
                (_, Some(tail)) if !tail.is_empty() => -1,
                (entry, _) => entry,
            },
        }
    }

    /// Red Hat's `get_entry_number_helper`: the entry and what follows it.
    fn redhat_helper<'v>(&self, menu: &[MenuEntry], val: &'v str) -> (i64, Option<&'v str>) {
        let l = val.find(is_blank).unwrap_or(val.len());
        for (i, e) in menu.iter().enumerate() {
            if menuentry_eq_limit(e.id_or_title(), val, Some(l)) != 0 {
                return (i as i64, Some(&val[l..]));
            }
        }
        for (i, e) in menu.iter().enumerate() {
            if menuentry_eq_limit(&e.title, val, None) != 0 {
                return (i as i64, None);
            }
        }
        let n = strtoul(val, self.long_bits);
        let tail = &val[n.end.min(val.len())..];
        if n.error == Some(NumberError::NoDigits)
            || tail.chars().next().is_some_and(|c| !is_blank(c))
        {
            return (-1, None);
        }
        if n.error.is_some() {
            return (-1, None);
        }
        (int_of(n.value), Some(tail))
    }

    /// GRUB's `get_and_remove_first_entry_number` (for `fallback`).
    fn take_first_entry_number(&mut self, menu: &[MenuEntry], name: &str) -> Run<i64> {
        let Some(val) = self.get(name).map(str::to_string) else {
            return Ok(-1);
        };
        self.step(1 + val.len() as u64 / 256)?;
        match self.flavor {
            Flavor::Upstream => {
                let n = strtoul(&val, self.long_bits);
                if n.error.is_some() {
                    self.unset(name);
                    return Ok(-1);
                }
                let tail = val[n.end..].trim_start_matches(is_blank).to_string();
                self.set(name, &tail)?;
                Ok(int_of(n.value))
            }
            Flavor::RedHat => {
                let (entry, tail) = self.redhat_helper(menu, &val);
                let tail = tail.unwrap_or("");
                let entry = if tail.is_empty() || tail.starts_with(is_blank) {
                    entry
                } else {
                    -1
                };
                if entry >= 0 {
                    let rest = tail.trim_start_matches(is_blank).to_string();
                    if rest.is_empty() {
                        self.unset(name);
                    } else {
                        self.set(name, &rest)?;
                    }
                } else {
                    self.unset(name);
                }
                Ok(entry)
            }
        }
    }

    /// `grub_show_menu`: boots the default entry (and the fallbacks).
    /// Returns when nothing booted and GRUB would go back to the caller
    /// (a submenu entered automatically); halts when GRUB would wait at
    /// the menu.
    pub(super) fn show_menu(
        &mut self,
        menu: Vec<MenuEntry>,
        nested: bool,
        autobooted: bool,
    ) -> Run<()> {
        let default = self.get("default").map(str::to_string);
        if !nested && self.top_default.is_none() {
            self.top_default = Some(default.clone().unwrap_or_default());
        }
        let index = default
            .as_deref()
            .map_or(-1, |d| self.entry_number(&menu, d));
        let index = if index < 0 || index >= menu.len() as i64 {
            0
        } else {
            index as usize
        };
        let entry = menu[index].clone();
        self.execute_entry(&entry, true)?;
        loop {
            let fallback = self.take_first_entry_number(&menu, "fallback")?;
            if fallback < 0 {
                break;
            }
            // GRUB dereferences the entry unchecked; stop instead.
            let Some(entry) = menu.get(fallback as usize).cloned() else {
                break;
            };
            self.execute_entry(&entry, true)?;
        }
        if autobooted {
            return Ok(());
        }
        Err(self.halt_action("waits at its menu: the default entry boots nothing"))
    }

    /// `grub_menu_execute_entry`.
    pub(super) fn execute_entry(&mut self, entry: &MenuEntry, auto_boot: bool) -> Run<()> {
        self.step(1 + entry.args.len() as u64 / 16)?;
        if entry.restricted && self.get("superusers").is_some() {
            let title = entry.title.clone();
            let running = self.running_entry(entry, String::new());
            self.running.push(running);
            return Err(self.halt_action(&format!(
                "asks for a password before running entry `{title}` (superusers is set)"
            )));
        }
        let old_chosen = self.get("chosen").map(str::to_string);
        let old_default = self.get("default").map(str::to_string);
        if entry.submenu {
            self.open_context();
            if auto_boot {
                self.set("timeout", "0")?;
            }
        }
        let own = entry.id_or_title().replace('>', ">>");
        let chosen = match &old_chosen {
            Some(c) => format!("{c}>{own}"),
            None => own,
        };
        self.set("chosen", &chosen)?;
        self.export("chosen");
        match old_default
            .as_deref()
            .and_then(rest_after_gt)
            .filter(|r| !r.is_empty())
        {
            Some(rest) => self.set("default", rest)?,
            None => self.unset("default"),
        }
        let running = self.running_entry(entry, chosen);
        self.running.push(running);
        self.enter("menu entries")?;
        let result = self.with_scope(entry.args.clone(), |e| match &entry.body {
            Body::Block(body) => e.exec_list(body).map(|_| ()),
            Body::Source(code) => e.run_code(code).map(|_| ()),
        });
        self.leave();
        result?;
        if self.loader.is_some() {
            return Err(self.halt_boot());
        }
        if entry.submenu {
            let menu = self.take_menu();
            let shown = if menu.is_empty() {
                Ok(())
            } else {
                self.show_menu(menu, true, auto_boot)
            };
            shown?;
            self.close_context();
        }
        // A submenu whose entries ran keeps their, more precise, report.
        if !entry.submenu || self.attempted.len() <= self.running.len() {
            self.attempted = self.running.clone();
        }
        self.running.pop();
        match old_chosen {
            Some(c) => self.set("chosen", &c)?,
            None => self.unset("chosen"),
        }
        match old_default {
            Some(d) => self.set("default", &d)?,
            None => self.unset("default"),
        }
        self.unset("timeout");
        Ok(())
    }

    fn running_entry(&self, entry: &MenuEntry, chosen: String) -> Running {
        Running {
            title: entry.title.clone(),
            id: entry.id.clone(),
            chosen,
            bls: entry.bls,
            line: entry.line,
        }
    }

    /// Reads the top-level configuration and shows its menu, as GRUB's
    /// normal mode does.
    pub(super) fn normal_mode(&mut self, path: &str, text: &str) -> Run<()> {
        self.read_config(path, text)?;
        let menu = self.take_menu();
        if menu.is_empty() {
            return Err(self.halt_action("has no menu entry: it waits at its command line"));
        }
        self.show_menu(menu, false, false)
    }
}

/// A halt that reached the top: the loader booted or the action taken.
pub(super) fn final_halt(result: Run<()>) -> Halt {
    match result {
        Err(h) => h,
        Ok(()) => Halt::Done(Box::new(super::eval::Done {
            loader: None,
            action: "boots nothing".into(),
            entries: Vec::new(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_strtoul_like_grub() {
        let v = |s: &str| {
            let n = strtoul(s, 64);
            (n.value, n.error)
        };
        assert_eq!(v("12"), (12, None));
        assert_eq!(v(" 7>2"), (7, None));
        assert_eq!(v("010"), (8, None), "a leading 0 means octal");
        assert_eq!(v("08"), (8, None), "…unless an octal digit follows");
        assert_eq!(v("0x1f"), (31, None));
        assert_eq!(v("0x"), (0, Some(NumberError::NoDigits)));
        assert_eq!(v("-1"), (0, Some(NumberError::NoDigits)));
        assert_eq!(v("2nd kernel"), (2, None));
        assert_eq!(v("99999999999999999999").1, Some(NumberError::Overflow));
        assert_eq!(strtoul("4294967297", 32).error, Some(NumberError::Overflow));
        assert_eq!(int_of(strtoul("4294967297", 64).value), 1);
    }

    #[test]
    fn test_menuentry_eq_escapes() {
        assert!(menuentry_eq("a>b", "a>>b"));
        assert!(menuentry_eq("a", "a>b"));
        assert!(!menuentry_eq("ab", "a>b"));
        assert_eq!(rest_after_gt("a>>b>c"), Some("c"));
        assert_eq!(menuentry_eq_limit("abc", "abc def", Some(3)), 2);
        assert_eq!(menuentry_eq_limit("a", "a def", Some(1)), 0);
        assert_eq!(menuentry_eq_limit("abc", "abc>x", None), 3);
    }
}
