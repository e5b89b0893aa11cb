//! Lua scripts as Upstash takes them, run on a Redis that may know fewer shebang flags.
//!
//! Upstash accepts `#!lua flags=…` flags that an older Redis refuses with
//! `ERR Unexpected flag in script shebang` (`allow-key-locking`, which widely used
//! Upstash client libraries send). Code written for Upstash must run here unchanged,
//! so a script's unknown flags are dropped before Redis sees it, in `EVAL`, `EVAL_RO`
//! and `SCRIPT LOAD`, single or pipelined. The script Redis stores then has another
//! SHA-1 than the one the client computed, so the endpoint remembers which is which
//! and rewrites `EVALSHA` (and `EVALSHA_RO`) to the stored one.

use std::{collections::HashMap, sync::Mutex};

use super::resp::Command;

/// The shebang flags Redis 7.0 knows.
const KNOWN_FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// SHA-1 of each rewritten script as the client sent it → SHA-1 of what Redis runs.
#[derive(Debug, Default)]
pub struct Scripts {
    rewritten: Mutex<HashMap<String, String>>,
}

impl Scripts {
    /// Rewrites `command` in place where it carries or names a rewritten script.
    pub fn translate(&self, command: &mut Command) {
        let Some(name) = command.first() else { return };
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let script_at = match name.as_str() {
            "EVAL" | "EVAL_RO" => 1,
            "SCRIPT"
                if command
                    .get(1)
                    .is_some_and(|sub| sub.eq_ignore_ascii_case(b"LOAD")) =>
            {
                2
            }
            "EVALSHA" | "EVALSHA_RO" => {
                if let Some(sha) = command.get_mut(1) {
                    let sent = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    if let Some(stored) = self.lock().get(&sent) {
                        *sha = stored.clone().into_bytes();
                    }
                }
                return;
            }
            _ => return,
        };
        let Some(script) = command.get_mut(script_at) else {
            return;
        };
        if let Some(rewritten) = without_unknown_flags(script) {
            self.lock().insert(sha1(script), sha1(&rewritten));
            *script = rewritten;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.rewritten
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn sha1(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// The script with the flags Redis does not know dropped from its shebang, or `None`
/// when there is nothing to drop.
fn without_unknown_flags(script: &[u8]) -> Option<Vec<u8>> {
    let end = script
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(script.len());
    let first = std::str::from_utf8(&script[..end]).ok()?;
    let options = first.strip_prefix("#!lua")?;
    let mut dropped = false;
    let mut kept = Vec::new();
    for option in options.split_whitespace() {
        match option.strip_prefix("flags=") {
            Some(flags) => {
                let known: Vec<&str> = flags
                    .split(',')
                    .filter(|flag| {
                        let known = flag.is_empty() || KNOWN_FLAGS.contains(flag);
                        dropped |= !known;
                        known && !flag.is_empty()
                    })
                    .collect();
                kept.push(format!("flags={}", known.join(",")));
            }
            None => kept.push(option.to_owned()),
        }
    }
    if !dropped {
        return None;
    }
    let mut rewritten = format!("#!lua {}", kept.join(" "))
        .trim_end()
        .as_bytes()
        .to_vec();
    rewritten.extend_from_slice(&script[end..]);
    Some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_flags_are_dropped_and_known_ones_kept() {
        let rewrite = |script: &str| {
            without_unknown_flags(script.as_bytes()).map(|s| String::from_utf8(s).unwrap())
        };
        assert_eq!(
            rewrite("#!lua flags=allow-key-locking\nreturn 1").as_deref(),
            Some("#!lua flags=\nreturn 1")
        );
        assert_eq!(
            rewrite("#!lua flags=no-writes,allow-key-locking\nreturn 1").as_deref(),
            Some("#!lua flags=no-writes\nreturn 1")
        );
        assert_eq!(rewrite("#!lua flags=no-writes\nreturn 1"), None);
        assert_eq!(rewrite("return 1"), None);
    }

    #[test]
    fn evalsha_follows_the_rewritten_script() {
        let scripts = Scripts::default();
        let original = "#!lua flags=allow-key-locking\nreturn 1";
        let mut eval: Command = vec![
            b"EVAL".to_vec(),
            original.as_bytes().to_vec(),
            b"0".to_vec(),
        ];
        scripts.translate(&mut eval);
        let mut evalsha: Command = vec![
            b"evalsha".to_vec(),
            sha1(original.as_bytes()).into_bytes(),
            b"0".to_vec(),
        ];
        scripts.translate(&mut evalsha);
        assert_eq!(evalsha[1], sha1(&eval[1]).into_bytes());
    }
}
