//! Explaining a permission refusal: the kernel's ptrace access check, in its order
//! (credentials, dumpable, then the Yama LSM), from what this process can see.

use std::os::unix::fs::MetadataExt;

/// What decides whether this process may write another's memory: the kernel's ptrace access
/// check, in its order (credentials, dumpable, then the Yama LSM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub our_uid: u32,
    /// Whether we hold CAP_SYS_PTRACE, which overrides the first two checks.
    pub capable: bool,
    /// The target's real, effective and saved uids (from /proc/PID/status).
    pub target_uids: Vec<u32>,
    /// Who owns the files in /proc/PID (status, mem, …): the process's uid while it is
    /// dumpable, root when it is not. (The directory itself keeps the process's uid.)
    pub proc_owner: Option<u32>,
    /// kernel.yama.ptrace_scope, when Yama is there.
    pub ptrace_scope: Option<u8>,
    /// Whether the target descends from us (Yama's scope 1 lets us reach those only).
    pub descendant: bool,
}

/// Why access was denied, as far as this process can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    OtherUser { uid: u32, ours: u32 },
    NotDumpable,
    PtraceScope { scope: u8 },
    Unknown,
}

impl Facts {
    pub fn gather(pid: u32) -> Facts {
        let ours = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let theirs = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let capable = status_field(&ours, "CapEff:")
            .and_then(|caps| u64::from_str_radix(caps, 16).ok())
            .is_some_and(|caps| caps & (1 << 19) != 0); // CAP_SYS_PTRACE
        let target_uids = theirs
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .map(|uids| {
                let uids = uids.split_ascii_whitespace().take(3);
                uids.filter_map(|u| u.parse().ok()).collect()
            })
            .unwrap_or_default();
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Facts {
            // The kernel compares the filesystem uid, which is the effective uid here.
            our_uid: rustix::process::geteuid().as_raw(),
            capable,
            target_uids,
            proc_owner: std::fs::metadata(format!("/proc/{pid}/status"))
                .ok()
                .map(|m| m.uid()),
            ptrace_scope: scope,
            descendant: descends_from(pid, std::process::id()),
        }
    }

    /// The first check the kernel would fail.
    pub fn denial(&self) -> Denial {
        if !self.capable
            && let Some(&uid) = self.target_uids.iter().find(|&&u| u != self.our_uid)
        {
            return Denial::OtherUser {
                uid,
                ours: self.our_uid,
            };
        }
        let uid = self.target_uids.first().copied();
        if !self.capable && self.proc_owner.is_some() && self.proc_owner != uid {
            return Denial::NotDumpable;
        }
        match self.ptrace_scope {
            Some(scope @ 1) if !self.descendant && !self.capable => Denial::PtraceScope { scope },
            Some(scope @ 2) if !self.capable => Denial::PtraceScope { scope },
            Some(scope @ 3..) => Denial::PtraceScope { scope },
            _ => Denial::Unknown,
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::OtherUser { uid, ours } => write!(
                f,
                "it runs as another user ({}, you are {}): only its own user, or root with \
                 CAP_SYS_PTRACE, may reach its memory",
                user(*uid),
                user(*ours)
            ),
            Denial::NotDumpable => write!(
                f,
                "it is not dumpable (it called prctl(PR_SET_DUMPABLE, 0), or changed its \
                 credentials): only a process with CAP_SYS_PTRACE may reach its memory"
            ),
            Denial::PtraceScope { scope: 1 } => write!(
                f,
                "ptrace is restricted (kernel.yama.ptrace_scope = 1): a process may reach only \
                 its own descendants; start the host from the patcher, have the host name the \
                 patcher with prctl(PR_SET_PTRACER), or run with CAP_SYS_PTRACE"
            ),
            Denial::PtraceScope { scope: 2 } => write!(
                f,
                "ptrace is restricted (kernel.yama.ptrace_scope = 2): only a process with \
                 CAP_SYS_PTRACE may reach another's memory"
            ),
            Denial::PtraceScope { scope } => write!(
                f,
                "ptrace is disabled (kernel.yama.ptrace_scope = {scope}): no process may reach \
                 another's memory until reboot"
            ),
            Denial::Unknown => write!(
                f,
                "neither its user, its dumpable flag nor Yama explains it, so a security module \
                 (SELinux, AppArmor) or the container's policy (seccomp, or a user namespace \
                 that does not own the process) must forbid it"
            ),
        }
    }
}

/// `uid 1000 (alice)`, with the name from /etc/passwd when there is one.
fn user(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse() == Ok(uid)).then(|| name.to_owned())
    });
    match name {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

fn status_field<'s>(status: &'s str, key: &str) -> Option<&'s str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_ascii_whitespace().next())
}

/// Whether `pid`'s chain of parents reaches `ancestor`.
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut pid = pid;
    for _ in 0..4096 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        match status_field(&status, "PPid:").and_then(|p| p.parse::<u32>().ok()) {
            Some(parent) if parent == ancestor => return true,
            Some(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            our_uid: 1000,
            capable: false,
            target_uids: vec![1000, 1000, 1000],
            proc_owner: Some(1000),
            ptrace_scope: None,
            descendant: false,
        }
    }

    #[test]
    fn denials_follow_the_kernels_order() {
        let f = facts();
        assert_eq!(f.denial(), Denial::Unknown);
        let other = Facts {
            target_uids: vec![0, 0, 0],
            proc_owner: Some(0),
            ..f.clone()
        };
        assert_eq!(other.denial(), Denial::OtherUser { uid: 0, ours: 1000 });
        let setuid = Facts {
            target_uids: vec![1000, 0, 0],
            ..f.clone()
        };
        assert_eq!(setuid.denial(), Denial::OtherUser { uid: 0, ours: 1000 });
        let undumpable = Facts {
            proc_owner: Some(0),
            ..f.clone()
        };
        assert_eq!(undumpable.denial(), Denial::NotDumpable);
        let yama = Facts {
            ptrace_scope: Some(1),
            ..f.clone()
        };
        assert_eq!(yama.denial(), Denial::PtraceScope { scope: 1 });
        let child = Facts {
            descendant: true,
            ..yama.clone()
        };
        assert_eq!(child.denial(), Denial::Unknown);
        let admin_only = Facts {
            ptrace_scope: Some(2),
            descendant: true,
            ..f.clone()
        };
        assert_eq!(admin_only.denial(), Denial::PtraceScope { scope: 2 });
        let root = Facts {
            capable: true,
            ..admin_only.clone()
        };
        assert_eq!(root.denial(), Denial::Unknown);
        let none = Facts {
            capable: true,
            ptrace_scope: Some(3),
            ..f
        };
        assert_eq!(none.denial(), Denial::PtraceScope { scope: 3 });
        assert!(
            Denial::PtraceScope { scope: 1 }
                .to_string()
                .contains("PR_SET_PTRACER")
        );
        // Every explanation is a whole sentence: each once ended mid-way.
        let all = [
            Denial::OtherUser { uid: 0, ours: 1 },
            Denial::NotDumpable,
            Denial::PtraceScope { scope: 1 },
            Denial::PtraceScope { scope: 2 },
            Denial::PtraceScope { scope: 3 },
            Denial::Unknown,
        ];
        for denial in all {
            let text = denial.to_string();
            assert!(!text.ends_with(" may") && !text.ends_with(','), "{text}");
        }
        assert!(Denial::Unknown.to_string().ends_with("must forbid it"));
    }
}
