//! `cargo xtask build-all`: runs the [`Plan`] in order, skips steps that are fresh, writes each
//! output atomically, and records what it built in the manifest.
//!
//! A step is fresh when its stamp (under `<out>/.stamps/`) records the same command, the same
//! size and modification time for every input, and the output as it is now. Equality, not
//! "newer than": touching a source rebuilds what depends on it, and so does restoring an older
//! one. Cargo steps always ask cargo, which judges its own freshness; their output is copied only
//! when cargo's artifact changed. A step's stamp is removed before it runs and written after its
//! output is renamed into place, so an interrupted or failed step never looks fresh.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::fsutil;
use crate::manifest::{Artifact, Manifest, Program};
use crate::plan::{Action, Arg, Layout, Plan, Step, Var};

/// Prints a cargo-style progress line on stderr: the verb right-aligned in 12 columns.
pub fn progress(verb: &str, subject: &str) {
    eprintln!("{verb:>12} {subject}");
}

/// Size and modification time of a file, the fingerprint of an input or an output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FileStat {
    path: PathBuf,
    len: u64,
    mtime_ns: u128,
}

impl FileStat {
    fn of(path: &Path) -> std::io::Result<FileStat> {
        let meta = std::fs::metadata(path)?;
        let mtime = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(FileStat {
            path: path.to_path_buf(),
            len: meta.len(),
            mtime_ns: mtime.as_nanos(),
        })
    }
}

/// How an output was last made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    /// The command in script form (see [`Step::script_words`]).
    command: Vec<String>,
    inputs: Vec<FileStat>,
    output: FileStat,
    /// The command exactly as run, with the final output path.
    argv: Vec<String>,
    /// What the tool wrote to stderr (warnings), replayed into the manifest.
    stderr: String,
}

/// Values computed during the run ([`Var`]).
#[derive(Debug, Default)]
struct Vars {
    native_libs: Option<Vec<String>>,
    gcc_libdir: Option<String>,
}

/// A build in progress.
struct Run<'a> {
    plan: &'a Plan,
    verbose: bool,
    vars: Vars,
    stamps: HashMap<PathBuf, Stamp>,
    ran: usize,
}

/// Runs the whole plan and writes the manifest.
pub fn run(ctx: &Ctx, plan: &Plan) -> Result<Manifest> {
    let started = Instant::now();
    for dir in plan
        .layout
        .output_dirs()
        .into_iter()
        .chain([plan.layout.stamps_dir()])
    {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let _lock = lock(&plan.layout.out)?;
    let mut run = Run {
        plan,
        verbose: ctx.verbose,
        vars: Vars::default(),
        stamps: HashMap::new(),
        ran: 0,
    };
    for step in &plan.steps {
        let what = format!("{} {}", step.verb.to_lowercase(), step.subject);
        let stamp = match &step.action {
            Action::Tool { program, args } => run.tool(step, program, args),
            Action::Cargo {
                args,
                artifact,
                defines_native_libs,
            } => run.cargo(step, args, artifact, *defines_native_libs),
        }
        .with_context(|| format!("{what} failed"))?;
        run.stamps.insert(step.output.clone(), stamp);
    }
    let manifest = run.manifest()?;
    let json = serde_json::to_vec_pretty(&manifest)?;
    fsutil::write_atomic(&plan.layout.manifest(), &json)?;

    let total = plan.steps.len();
    let secs = started.elapsed().as_secs_f64();
    let summary = if run.ran == 0 {
        format!("nothing to do: all {total} steps are fresh ({secs:.2}s)")
    } else {
        let fresh = total - run.ran;
        format!(
            "{} of {total} steps run, {fresh} fresh ({secs:.2}s)",
            run.ran
        )
    };
    progress("Finished", &summary);
    Ok(manifest)
}

/// Takes the output directory for this run, waiting while another build-all holds it: two
/// builds writing the same temporary files would break each other.
fn lock(out: &Path) -> Result<std::fs::File> {
    let path = out.join(".lock");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("could not create {}", path.display()))?;
    if file.try_lock().is_err() {
        progress(
            "Blocking",
            &format!("waiting for another build of {}", out.display()),
        );
        file.lock()
            .with_context(|| format!("could not lock {}", path.display()))?;
    }
    Ok(file)
}

impl Run<'_> {
    fn show(&self, path: &Path) -> String {
        self.plan.layout.show(path).to_string_lossy().into_owned()
    }

    fn var(&mut self, var: Var) -> Result<Vec<String>> {
        match var {
            Var::NativeLibs => self
                .vars
                .native_libs
                .clone()
                .context("NATIVE_LIBS is used before the Rust staticlib step defines it"),
            Var::GccLibDir => {
                if self.vars.gcc_libdir.is_none() {
                    let output = Cmd::new(&self.plan.cc)
                        .arg("-print-libgcc-file-name")
                        .run(self.verbose)?;
                    let file = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                    let dir = Path::new(&file).parent().with_context(|| {
                        format!(
                            "`{} -print-libgcc-file-name` printed {file:?}",
                            self.plan.cc
                        )
                    })?;
                    self.vars.gcc_libdir = Some(dir.to_string_lossy().into_owned());
                }
                Ok(self.vars.gcc_libdir.clone().into_iter().collect())
            }
        }
    }

    /// The arguments as run: paths relative to the source tree, variables expanded, and the
    /// output written to `output`.
    fn render(&mut self, args: &[Arg], output: &Path) -> Result<Vec<String>> {
        let mut words = Vec::new();
        for arg in args {
            match arg {
                Arg::Lit(s) => words.push(s.clone()),
                Arg::Path(p) => words.push(self.show(p)),
                Arg::Output => words.push(self.show(output)),
                Arg::Var(v) => words.extend(self.var(*v)?),
            }
        }
        Ok(words)
    }

    /// The stamp of `step` if it is fresh, or why it is not.
    fn fresh(&self, step: &Step, command: &[String], inputs: &[FileStat]) -> Result<Stamp, String> {
        let path = self.plan.layout.stamp(&step.output);
        let stamp: Stamp = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or("no record of an earlier build")?;
        if stamp.command != command {
            return Err("its command changed".into());
        }
        if let Some(changed) = inputs.iter().find(|i| !stamp.inputs.contains(i)) {
            return Err(format!("{} changed", self.show(&changed.path)));
        }
        if FileStat::of(&step.output).ok().as_ref() != Some(&stamp.output) {
            return Err(format!(
                "{} is missing or was changed",
                self.show(&step.output)
            ));
        }
        Ok(stamp)
    }

    fn fresh_or_forget(
        &self,
        step: &Step,
        command: &[String],
        inputs: &[FileStat],
    ) -> Option<Stamp> {
        match self.fresh(step, command, inputs) {
            Ok(stamp) => {
                if self.verbose {
                    progress("Fresh", &step.subject);
                }
                Some(stamp)
            }
            Err(reason) => {
                if self.verbose {
                    progress("Dirty", &format!("{}: {reason}", step.subject));
                }
                // From here until the new stamp is written, the output is not fresh.
                let _ = std::fs::remove_file(self.plan.layout.stamp(&step.output));
                None
            }
        }
    }

    fn tool(&mut self, step: &Step, program: &str, args: &[Arg]) -> Result<Stamp> {
        let command = step.script_words(&self.plan.layout);
        let inputs = step
            .inputs
            .iter()
            .map(|p| FileStat::of(p).with_context(|| format!("input {} is missing", self.show(p))))
            .collect::<Result<Vec<_>>>()?;
        if let Some(stamp) = self.fresh_or_forget(step, &command, &inputs) {
            return Ok(stamp);
        }

        progress(step.verb, &step.subject);
        let temp = fsutil::temp_path(&step.output);
        let _ = std::fs::remove_file(&temp);
        let cmd = Cmd::new(program)
            .args(self.render(args, &temp)?)
            .cwd(&self.plan.layout.root);
        let output = cmd.run(self.verbose).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })?;
        if !temp.exists() {
            bail!("`{cmd}` succeeded but wrote no {}", self.show(&temp));
        }
        fsutil::rename(&temp, &step.output)?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !stderr.is_empty() {
            eprint!("{stderr}");
        }
        let argv = std::iter::once(program.to_owned())
            .chain(self.render(args, &step.output)?)
            .collect();
        self.ran += 1;
        self.record(step, command, inputs, argv, stderr)
    }

    fn cargo(
        &mut self,
        step: &Step,
        args: &[String],
        artifact: &Path,
        defines_native_libs: bool,
    ) -> Result<Stamp> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let cmd = Cmd::new(cargo)
            .args(args.iter().map(OsString::from))
            .cwd(&self.plan.layout.root);
        let output = cmd.run(self.verbose)?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if self.verbose {
            eprint!("{stderr}");
        }
        if defines_native_libs {
            let libs = stderr
                .lines()
                .find_map(|l| l.split_once("native-static-libs:"))
                .map(|(_, libs)| libs.split_whitespace().map(str::to_owned).collect())
                .with_context(|| format!("`{cmd}` printed no native-static-libs line"))?;
            self.vars.native_libs = Some(libs);
        }

        let command = step.script_words(&self.plan.layout);
        let built = FileStat::of(artifact)
            .with_context(|| format!("`{cmd}` produced no {}", artifact.display()))?;
        let inputs = vec![built];
        if let Some(stamp) = self.fresh_or_forget(step, &command, &inputs) {
            return Ok(stamp);
        }
        progress(step.verb, &step.subject);
        fsutil::copy_atomic(artifact, &step.output)?;
        let argv = std::iter::once("cargo".to_owned())
            .chain(args.iter().cloned())
            .collect();
        self.ran += 1;
        self.record(step, command, inputs, argv, String::new())
    }

    fn record(
        &self,
        step: &Step,
        command: Vec<String>,
        inputs: Vec<FileStat>,
        argv: Vec<String>,
        stderr: String,
    ) -> Result<Stamp> {
        let stamp = Stamp {
            command,
            inputs,
            output: FileStat::of(&step.output)
                .with_context(|| format!("{} vanished", self.show(&step.output)))?,
            argv,
            stderr,
        };
        let path = self.plan.layout.stamp(&step.output);
        fsutil::write_atomic(&path, &serde_json::to_vec_pretty(&stamp)?)?;
        Ok(stamp)
    }

    fn manifest(&mut self) -> Result<Manifest> {
        let layout = &self.plan.layout;
        let mut programs = Vec::new();
        for spec in &self.plan.programs {
            let inputs = self.render(&spec.inputs, &spec.output)?;
            let stamp = &self.stamps[&spec.output];
            let is_cargo = spec.linker == "cargo";
            programs.push(Program {
                name: spec.name.to_owned(),
                path: spec.output.clone(),
                entry: spec.entry.to_owned(),
                linker: spec.linker.to_owned(),
                inputs,
                link_command: if is_cargo {
                    Vec::new()
                } else {
                    stamp.argv.clone()
                },
                link_stderr: (!is_cargo).then(|| stamp.stderr.clone()),
                uses_libc: spec.uses_libc,
                static_link: spec.static_link,
            });
        }
        let artifacts = |dir: &str| -> Vec<Artifact> {
            let dir = layout.out.join(dir);
            self.plan
                .steps
                .iter()
                .filter(|s| s.output.parent() == Some(dir.as_path()))
                .map(|s| Artifact {
                    name: s
                        .output
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into(),
                    path: s.output.clone(),
                    from: s.subject.clone(),
                })
                .collect()
        };
        Ok(Manifest {
            root: layout.root.clone(),
            out_dir: layout.out.clone(),
            native_static_libs: self.vars.native_libs.clone().unwrap_or_default(),
            staticlibs: artifacts("lib"),
            objects: artifacts("obj"),
            raw_bins: artifacts("raw"),
            programs,
        })
    }
}

/// `cargo xtask build-all`: prints the plan as a script (`dry_run`), or builds it and prints
/// the hardening of every program, as `polylink checksec` reads it.
pub fn build_all(ctx: &Ctx, out_dir: Option<&Path>, dry_run: bool) -> Result<()> {
    use std::io::Write as _;
    let plan = Plan::new(
        Layout::new(&ctx.root, out_dir),
        &crate::tools::c_compiler()?,
    );
    if dry_run {
        std::io::stdout().write_all(plan.script().as_bytes())?;
        return Ok(());
    }
    let manifest = checked(ctx, &plan)?;
    let results = manifest
        .programs
        .iter()
        .map(|p| {
            crate::checksec::check(&p.path)
                .map_err(|fault| anyhow::anyhow!("{}: {fault}", p.path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::checksec::print_table(&mut std::io::stdout().lock(), &results)?;
    Ok(())
}

/// The tasks that inspect the build first bring the default build up to date.
pub fn default_build(ctx: &Ctx) -> Result<(Plan, Manifest)> {
    let plan = Plan::new(Layout::new(&ctx.root, None), &crate::tools::c_compiler()?);
    let manifest = checked(ctx, &plan)?;
    Ok((plan, manifest))
}

/// Checks the header and the tools, then runs the plan.
fn checked(ctx: &Ctx, plan: &Plan) -> Result<Manifest> {
    crate::header::check(&plan.layout.root)?;
    crate::tools::check(ctx, &plan.cc)?;
    run(ctx, plan)
}
