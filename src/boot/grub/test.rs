//! GRUB's `test` / `[` command (`grub-core/commands/test.c`).
//!
//! Not POSIX `test`: GRUB reads the arguments left to right, combining
//! each result into a running "and" (`-a` is a no-op, `-o` closes the
//! current "and" group), `!` inverts the next test, parentheses nest, and a
//! lone word is true when non-empty. Numbers are read with GRUB's
//! `strtoul` (base prefixes `0x` and `0`, garbage as 0) and truncated to
//! `int`. `-pgt`/`-plt` compare the numbers after a common prefix; file
//! tests ask the host.

use super::eval::Eval;
use super::select::strtoul;

/// Parentheses nested deeper than this make the test false (GRUB would
/// recurse until its stack runs out).
const MAX_PARENS: usize = 256;

pub(super) fn evaluate(eval: &Eval, args: &[&str]) -> bool {
    let mut n = 0;
    parse(eval, args, &mut n, 0)
}

struct Acc {
    invert: bool,
    or: bool,
    and: bool,
}

impl Acc {
    fn update(&mut self, val: bool) {
        self.and = self.and && (if self.invert { !val } else { val });
        self.invert = false;
    }
}

fn parse(eval: &Eval, args: &[&str], argn: &mut usize, depth: usize) -> bool {
    let mut acc = Acc {
        invert: false,
        or: false,
        and: true,
    };
    if depth > MAX_PARENS {
        *argn = args.len();
        return false;
    }
    while *argn < args.len() {
        let a = args[*argn];
        if *argn + 2 < args.len() {
            if let Some(val) = three(eval, a, args[*argn + 1], args[*argn + 2]) {
                acc.update(val);
                *argn += 3;
                continue;
            }
        }
        if *argn + 1 < args.len() {
            if let Some(val) = two(eval, a, args[*argn + 1]) {
                acc.update(val);
                *argn += 2;
                continue;
            }
        }
        *argn += 1;
        match a {
            ")" => return acc.or || acc.and,
            "(" => {
                let val = parse(eval, args, argn, depth + 1);
                acc.update(val);
            }
            "!" => acc.invert = !acc.invert,
            "-a" => {}
            "-o" => {
                acc.or = acc.or || acc.and;
                acc.and = true;
            }
            _ => acc.update(!a.is_empty()),
        }
    }
    acc.or || acc.and
}

/// GRUB's `grub_strtosl`: a `-` then `strtoul`, truncated to `int`.
fn number(eval: &Eval, s: &str) -> i32 {
    let (value, negative) = match s.strip_prefix('-') {
        Some(rest) => (strtoul(rest, eval.long_bits).value, true),
        None => (strtoul(s, eval.long_bits).value, false),
    };
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    value as u32 as i32
}

fn three(eval: &Eval, a: &str, op: &str, b: &str) -> Option<bool> {
    Some(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        ">=" => a >= b,
        "-eq" => number(eval, a) == number(eval, b),
        "-ge" => number(eval, a) >= number(eval, b),
        "-gt" => number(eval, a) > number(eval, b),
        "-le" => number(eval, a) <= number(eval, b),
        "-lt" => number(eval, a) < number(eval, b),
        "-ne" => number(eval, a) != number(eval, b),
        "-pgt" | "-plt" => {
            let (x, y) = (a.as_bytes(), b.as_bytes());
            let mut i = x.iter().zip(y).take_while(|(p, q)| p == q).count() as isize;
            // Back over the digits of the common prefix (GRUB stops at index 0).
            i -= 1;
            while i > 0 && x.get(i as usize).is_some_and(u8::is_ascii_digit) {
                i -= 1;
            }
            let i = (i + 1).max(0) as usize;
            let xa = strtoul(a.get(i..).unwrap_or(""), eval.long_bits).value;
            let yb = strtoul(b.get(i..).unwrap_or(""), eval.long_bits).value;
            if op == "-pgt" { xa > yb } else { xa < yb }
        }
        _ if op.starts_with("-nt") || op.starts_with("-ot") => {
            let bias = if op.len() > 3 {
                number(eval, &op[3..]) as i64
            } else {
                0
            };
            let f1 = file_info(eval, a);
            let f2 = file_info(eval, b);
            let times = match (f1.and_then(|f| f.mtime), f2.and_then(|f| f.mtime)) {
                (Some(t1), Some(t2)) => Some((t1, t2)),
                _ => None,
            };
            if op.starts_with("-nt") {
                (f1.is_some() && f2.is_none()) || times.is_some_and(|(t1, t2)| t1 + bias > t2)
            } else {
                (f1.is_none() && f2.is_some()) || times.is_some_and(|(t1, t2)| t1 + bias < t2)
            }
        }
        _ => return None,
    })
}

fn two(eval: &Eval, op: &str, arg: &str) -> Option<bool> {
    Some(match op {
        "-d" => file_info(eval, arg).is_some_and(|f| f.dir),
        "-e" => file_info(eval, arg).is_some(),
        "-f" => file_info(eval, arg).is_some_and(|f| !f.dir),
        "-s" => {
            let path = super::eval::strip_device(arg);
            path.starts_with('/') && eval.host.stat(path).is_some_and(|f| !f.dir && f.size > 0)
        }
        "-n" => !arg.is_empty(),
        "-z" => arg.is_empty(),
        _ => return None,
    })
}

/// What GRUB's `get_fileinfo` finds: a device alone (or `/`, or nothing)
/// is its root directory; a name without `/` is looked up in the root
/// directory, another relative name is not found.
fn file_info(eval: &Eval, path: &str) -> Option<super::FileStat> {
    let trimmed = super::eval::strip_device(path).trim_end_matches('/');
    if trimmed.is_empty() {
        return Some(super::FileStat {
            dir: true,
            size: 0,
            mtime: None,
        });
    }
    if trimmed.starts_with('/') {
        eval.host.stat(trimmed)
    } else if trimmed.contains('/') {
        None
    } else {
        eval.host.stat(&format!("/{trimmed}"))
    }
}
