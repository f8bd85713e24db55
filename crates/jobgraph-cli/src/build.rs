//! A checked scenario made into schedulers and jobs.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jobgraph::{AbstractJob, AnyJob, BoxError, Context, Job, RetryOn, Scheduler};
use jobgraph_command::{
    CommandJob, CommandOutput, Program, Sink, SlurmJob, SshHost, SshJob, SshPull, SshPush,
    SshScript, SshTarget, Submitted,
};

use crate::resume::{keys, Decision, Keys, Resume};
use crate::scenario::{
    GroupDef, JobDef, Loaded, RetryOnDef, Scenario, SequenceDef, SlurmChoice, SlurmSettings,
    SshSettings,
};

/// How long a cancelled command has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// How long a run waits for its cancelled jobs when some run on Slurm: a step's
/// `srun` gets `STEP_GRACE` between SIGTERM and SIGKILL, and a batch job is waited for
/// until Slurm says it ended.
pub const SLURM_GRACE: Duration = Duration::from_secs(30);

/// What the runner knows of each command job of the scenario.
#[derive(Clone, Debug)]
pub struct JobInfo {
    /// Its id in the file (an instance's: `sim[size=2]`).
    pub id: String,
    /// Its resume keys.
    pub keys: Keys,
    /// Whether it runs forever.
    pub forever: bool,
    /// Whether the file marks it critical (what `--keep-going` and
    /// `--halt-on-failure` change is the run's reaction, not this).
    pub critical: bool,
    /// Whether the journal says it is done already (then it is not run again).
    pub skipped: bool,
}

/// The scenario as schedulers, ready to run.
#[derive(Debug)]
pub struct Built {
    /// The top scheduler.
    pub scheduler: Scheduler,
    /// Every scheduler, the top one first.
    pub schedulers: Vec<Scheduler>,
    /// Each command job (not the groups).
    pub jobs: HashMap<AnyJob, JobInfo>,
    /// The ssh hosts, to close at the end.
    pub hosts: Vec<SshHost>,
}

/// How a failure changes the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// As the file says: a critical job's failure stops the run, a non-critical one's
    /// does not (and what requires it still runs, as in asynciojobs).
    #[default]
    AsWritten,
    /// No failure stops the run; a job that requires a failed one does not run (make's
    /// `-k`).
    KeepGoing,
    /// Any failure stops the run, a non-critical job's too.
    Halt,
}

/// Options from the command line that shape the run.
pub struct BuildOptions<'a> {
    /// Overrides the file's window.
    pub window: Option<usize>,
    /// Overrides the file's timeout.
    pub timeout: Option<Duration>,
    /// Receives every line of output, given the job's id and its output prefix.
    pub sink: &'a dyn Fn(&str, &str) -> Option<Sink>,
    /// What a resumed run decided for each job, and the keys it decided from.
    pub resume: Option<&'a Resume>,
    /// How a failure changes the run.
    pub on_failure: OnFailure,
    /// Places every command job without a `host` (and without `slurm = false`) on
    /// Slurm.
    pub slurm: bool,
    /// Learns each Slurm batch job's id, given the job's id and label.
    pub submitted: &'a dyn Fn(&str, &str) -> Option<Submitted>,
}

/// A job's Slurm settings, when Slurm runs it: its own over the `[slurm]` table's.
pub fn slurm_settings(
    scenario_slurm: Option<&SlurmSettings>,
    def: &JobDef,
    all: bool,
) -> Option<SlurmSettings> {
    if def.host.is_some() || (def.command.is_none() && def.shell.is_none()) {
        return None;
    }
    let defaults = scenario_slurm.cloned().unwrap_or_default();
    match def.slurm.as_ref().map(|s| s.get_ref()) {
        Some(SlurmChoice::On(false)) => None,
        Some(SlurmChoice::On(true)) => Some(defaults),
        Some(SlurmChoice::With(over)) => Some(defaults.merged(over)),
        None if all => Some(defaults),
        None => None,
    }
}

/// Whether any job of the scenario runs on Slurm.
pub fn uses_slurm(scenario: &Scenario, all: bool) -> bool {
    fn any(jobs: &[JobDef], groups: &[GroupDef], f: &dyn Fn(&JobDef) -> bool) -> bool {
        jobs.iter().any(f) || groups.iter().any(|g| any(&g.jobs, &g.groups, f))
    }
    let defaults = scenario.slurm.as_ref().map(|s| s.get_ref());
    any(&scenario.jobs, &scenario.groups, &|def| {
        slurm_settings(defaults, def, all).is_some()
    })
}

impl std::fmt::Debug for BuildOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("window", &self.window)
            .field("timeout", &self.timeout)
            .field("resume", &self.resume.map(|resume| resume.decisions.len()))
            .field("on_failure", &self.on_failure)
            .field("slurm", &self.slurm)
            .finish_non_exhaustive()
    }
}

impl BuildOptions<'_> {
    /// Options that only build: no sink, no resume, the file's window and timeout.
    pub fn plain() -> BuildOptions<'static> {
        BuildOptions {
            window: None,
            timeout: None,
            sink: &no_sink,
            resume: None,
            on_failure: OnFailure::AsWritten,
            slurm: false,
            submitted: &no_submitted,
        }
    }
}

/// Stands for a job the journal says is done: it does not run again.
struct Skipped {
    details: String,
}

impl AbstractJob for Skipped {
    type Output = String;
    fn run(&mut self, _ctx: &Context<'_>) -> String {
        "skipped: done in a previous run (journal)".to_string()
    }
    fn kind(&self) -> &'static str {
        "Skipped"
    }
    fn details(&self) -> Option<String> {
        Some(format!("{} (done in a previous run)", self.details))
    }
}

/// Why a job did not run under `--keep-going`: something it comes after failed.
#[derive(Debug, thiserror::Error)]
#[error("not run: `{0}`, which it comes after, failed")]
pub struct NotRun(pub String);

/// Under `--keep-going`: a command that runs only when nothing it comes after
/// (its requirements, and its groups') failed.
struct UnlessFailed<J> {
    job: J,
    groups: Vec<AnyJob>,
}

impl<J> AbstractJob for UnlessFailed<J>
where
    J: AbstractJob<Output = Result<CommandOutput, jobgraph_command::CommandError>>,
{
    type Output = Result<CommandOutput, BoxError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        let mut before: Vec<AnyJob> = ctx.job().map(AnyJob::requirements).unwrap_or_default();
        for group in &self.groups {
            before.extend(group.requirements());
        }
        if let Some(failed) = before.iter().find(|r| r.raised_exception().is_some()) {
            return Err(NotRun(failed.text_label()).into());
        }
        self.job.run(ctx).map_err(Into::into)
    }
    fn shutdown(&mut self) {
        self.job.shutdown();
    }
    fn kind(&self) -> &'static str {
        self.job.kind()
    }
    fn text_label(&self) -> Option<String> {
        self.job.text_label()
    }
    fn details(&self) -> Option<String> {
        self.job.details()
    }
}

struct Builder<'a> {
    options: &'a BuildOptions<'a>,
    ssh: &'a SshSettings,
    slurm: Option<&'a SlurmSettings>,
    /// The schedulers' grace: long enough for a command's, or a Slurm job's, end.
    grace: Duration,
    /// Every job's keys: a resumed run's, else computed for this build.
    keys: Cow<'a, HashMap<String, Keys>>,
    hosts: BTreeMap<String, SshHost>,
    jobs: HashMap<AnyJob, JobInfo>,
    schedulers: Vec<Scheduler>,
    /// The groups the jobs being built are in, outermost first.
    groups: Vec<AnyJob>,
}

/// Builds the schedulers of a checked scenario.
pub fn build(loaded: &Loaded, options: &BuildOptions<'_>) -> Built {
    let scenario = &loaded.scenario;
    let label = scenario.label.clone().unwrap_or_else(|| {
        loaded
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    // A cancelled Slurm job is waited for until Slurm says it ended (a step has
    // STEP_GRACE between SIGTERM and SIGKILL): the run gives it that long.
    let grace = if uses_slurm(scenario, options.slurm) {
        SLURM_GRACE
    } else {
        GRACE + Duration::from_secs(1)
    };
    let mut scheduler = Scheduler::new()
        .label(label)
        .grace(grace)
        .shutdown_timeout(Duration::from_secs(15))
        .stall_timeout(None);
    if let Some(window) = options
        .window
        .or(scenario.window.as_ref().map(|w| *w.get_ref()))
    {
        // 0: no limit, as the library's `window(0)`.
        scheduler = scheduler.window(window);
    }
    if let Some(timeout) = options.timeout.or(scenario.timeout.map(|d| d.0)) {
        scheduler = scheduler.timeout(timeout);
    }
    scheduler =
        with_limits(scheduler, &scenario.limits).longest_path_first(scenario.longest_path_first);
    let mut builder = Builder {
        options,
        ssh: &scenario.ssh,
        slurm: scenario.slurm.as_ref().map(|s| s.get_ref()),
        grace,
        keys: match options.resume {
            Some(resume) => Cow::Borrowed(&resume.keys),
            None => Cow::Owned(keys(scenario)),
        },
        hosts: BTreeMap::new(),
        jobs: HashMap::new(),
        schedulers: vec![scheduler.clone()],
        groups: Vec::new(),
    };
    builder.fill(
        &scheduler,
        &scenario.jobs,
        &scenario.groups,
        &scenario.sequences,
    );
    Built {
        scheduler,
        schedulers: builder.schedulers,
        jobs: builder.jobs,
        hosts: builder.hosts.into_values().collect(),
    }
}

/// A command, ssh or Slurm job set up as its definition says (the builders share these
/// setters, not a type): the runner's grace, env, cwd and output sink. A job's
/// `timeout` is the scheduler's per-job timeout (see `Builder::job`).
macro_rules! set_up {
    ($job:expr, $def:expr, $sink:expr) => {{
        let mut job = $job.grace(GRACE);
        for (k, v) in &$def.env {
            job = job.env(k.get_ref(), v.get_ref());
        }
        if let Some(cwd) = &$def.cwd {
            job = job.cwd(cwd.get_ref());
        }
        if let Some(sink) = $sink {
            job = job.sink(sink);
        }
        job
    }};
}

impl Builder<'_> {
    fn fill(
        &mut self,
        scheduler: &Scheduler,
        jobs: &[JobDef],
        groups: &[GroupDef],
        sequences: &[SequenceDef],
    ) {
        let mut by_id: HashMap<String, AnyJob> = HashMap::new();
        for def in jobs {
            let job = self.job(def);
            scheduler.add(&job);
            by_id.insert(def.id.get_ref().clone(), job);
        }
        for def in groups {
            let critical = match self.options.on_failure {
                OnFailure::AsWritten => def.critical.unwrap_or(true),
                OnFailure::KeepGoing => false,
                OnFailure::Halt => true,
            };
            let mut group = Scheduler::new()
                .label(
                    def.label
                        .clone()
                        .unwrap_or_else(|| def.id.get_ref().clone()),
                )
                .critical(critical)
                .grace(self.grace)
                .stall_timeout(None);
            if let Some(window) = &def.window {
                group = group.window(*window.get_ref());
            }
            group = with_limits(group, &def.limits).longest_path_first(def.longest_path_first);
            set_uses(&group.any(), &def.uses);
            if let Some(timeout) = def.timeout {
                group = group.timeout(timeout.0);
            }
            self.schedulers.push(group.clone());
            self.groups.push(group.any());
            self.fill(&group, &def.jobs, &def.groups, &def.sequences);
            self.groups.pop();
            scheduler.add(&group);
            by_id.insert(def.id.get_ref().clone(), group.any());
        }
        // Requirements once every job of the scope exists (checked: all are here).
        let requires = jobs
            .iter()
            .map(|j| (&j.id, &j.requires))
            .chain(groups.iter().map(|g| (&g.id, &g.requires)));
        for (id, required) in requires {
            for r in required {
                if let (Some(job), Some(req)) = (by_id.get(id.get_ref()), by_id.get(r.get_ref())) {
                    job.add_requires(req);
                }
            }
        }
        for sequence in sequences {
            for pair in sequence.steps.windows(2) {
                for later in &pair[1] {
                    for earlier in &pair[0] {
                        if let (Some(job), Some(req)) =
                            (by_id.get(later.get_ref()), by_id.get(earlier.get_ref()))
                        {
                            job.add_requires(req);
                        }
                    }
                }
            }
        }
    }

    /// The host a job names: `[ssh]`'s settings, then `[ssh.hosts."NAME"]`'s.
    fn host(&mut self, name: &str) -> SshHost {
        let ssh = self.ssh;
        self.hosts
            .entry(name.to_string())
            .or_insert_with(|| {
                let settings = ssh.hosts.get(name);
                // Checked when the scenario was loaded.
                let mut target: SshTarget = name.parse().expect("a checked host");
                if let Some(settings) = settings {
                    if let Some(address) = &settings.address {
                        let at: SshTarget = address.parse().expect("a checked address");
                        target.host = at.host;
                        target.user = at.user.or(target.user);
                        target.port = at.port.or(target.port);
                    }
                    target.user = target.user.or(settings.user.clone());
                    target.port = target.port.or(settings.port);
                }
                let mut host = SshHost::new(target);
                let identity = settings
                    .and_then(|s| s.identity.as_ref())
                    .or(ssh.identity.as_ref());
                if let Some(identity) = identity {
                    host = host.identity(expand_home(identity.get_ref()));
                }
                for option in &ssh.options {
                    host = host.option(option.get_ref().clone());
                }
                for option in settings.iter().flat_map(|s| &s.options) {
                    host = host.option(option.get_ref().clone());
                }
                if let Some(shared) = ssh.shared {
                    host = host.shared(shared);
                }
                if let Some(n) = ssh.sessions {
                    host = host.sessions(n);
                }
                if let Some(n) = ssh.connections {
                    host = host.connections(n);
                }
                host
            })
            .clone()
    }

    fn job(&mut self, def: &JobDef) -> AnyJob {
        let id = def.id.get_ref().clone();
        let program = match (&def.command, &def.shell) {
            (Some(argv), _) => Some(Program::Argv(argv.get_ref().clone())),
            (None, Some(shell)) => Some(Program::Shell(shell.get_ref().clone())),
            // A copy or a script (checked when loaded: one of them, with a host).
            (None, None) => None,
        };
        let keys = self.keys[&id].clone();
        let label = def.label.clone().unwrap_or_else(|| id.clone());
        let skipped = self
            .options
            .resume
            .is_some_and(|resume| resume.decisions.get(&id) == Some(&Decision::Skip));
        let critical = def.critical.unwrap_or(true);
        let keep_going = self.options.on_failure == OnFailure::KeepGoing;
        let groups = self.groups.clone();
        /// The job as built: under --keep-going, it runs only after no failure.
        fn made<J>(job: J, keep_going: bool, groups: Vec<AnyJob>) -> AnyJob
        where
            J: AbstractJob<Output = Result<CommandOutput, jobgraph_command::CommandError>>,
        {
            if keep_going {
                Job::custom(UnlessFailed { job, groups }).any()
            } else {
                Job::custom(job).any()
            }
        }
        let job: AnyJob = if skipped {
            Job::custom(Skipped {
                details: program
                    .as_ref()
                    .map(Program::display)
                    .unwrap_or_else(|| id.clone()),
            })
            .any()
        } else if let Some(host_text) = &def.host {
            let host = self.host(host_text.get_ref());
            // Output lines name the host, as pssh and apssh do: `[label@host]`.
            let prefix = format!("{label}@{}", host.target().host);
            let sink = (self.options.sink)(&id, &prefix);
            match (program, &def.push, &def.pull, &def.script) {
                (Some(program), ..) => made(
                    set_up!(SshJob::from_program(&host, program), def, sink),
                    keep_going,
                    groups,
                ),
                (None, Some(push), ..) => {
                    let push = push.get_ref();
                    let mut job = SshPush::new(&host, &push.files, push.to.clone())
                        .recursive(push.recursive)
                        .preserve(push.preserve)
                        .grace(GRACE);
                    if let Some(sink) = sink {
                        job = job.sink(sink);
                    }
                    made(job, keep_going, groups)
                }
                (None, None, Some(pull), _) => {
                    let pull = pull.get_ref();
                    let mut job = SshPull::new(&host, pull.files.clone(), &pull.to)
                        .recursive(pull.recursive)
                        .preserve(pull.preserve)
                        .grace(GRACE);
                    if let Some(sink) = sink {
                        job = job.sink(sink);
                    }
                    made(job, keep_going, groups)
                }
                (None, None, None, Some(script)) => {
                    let job = SshScript::new(&host, script.get_ref()).args(def.args.clone());
                    made(set_up!(job, def, sink), keep_going, groups)
                }
                (None, None, None, None) => unreachable!("checked when loaded"),
            }
        } else if let Some(settings) = slurm_settings(self.slurm, def, self.options.slurm) {
            let program = program.expect("checked when loaded: Slurm runs a command");
            let sink = (self.options.sink)(&id, &label);
            let mut job = SlurmJob::from_program(program).slurm(settings.builder());
            // Also Slurm's own time limit (`--time`), unless `[slurm]` sets one.
            if let Some(timeout) = def.timeout {
                job = job.timeout(timeout.0);
            }
            if let Some(submitted) = (self.options.submitted)(&id, &label) {
                job = job.on_submit(submitted);
            }
            made(set_up!(job, def, sink), keep_going, groups)
        } else {
            let program = program.expect("checked when loaded: a local job runs a command");
            let sink = (self.options.sink)(&id, &label);
            made(
                set_up!(CommandJob::from_program(program), def, sink),
                keep_going,
                groups,
            )
        };
        job.set_label(label);
        // The scheduler's per-job timeout: at its deadline the job is cancelled (its
        // command's process group killed) and ends timed out, as listings, the
        // debrief, the events and the journal say.
        if let Some(timeout) = def.timeout {
            job.set_timeout(timeout.0);
        }
        set_uses(&job, &def.uses);
        if let Some(priority) = &def.priority {
            job.set_priority(*priority.get_ref());
        }
        if let Some(cost) = &def.cost {
            job.set_cost(cost.get_ref().0);
        }
        if let Some(retries) = &def.retries {
            job.set_retries(*retries.get_ref());
            if let Some(delay) = &def.retry_delay {
                job.set_backoff(delay.get_ref().backoff());
            }
            if let Some(on) = &def.retry_on {
                job.set_retry_on(retry_on(on.get_ref()));
            }
        }
        job.set_critical(match self.options.on_failure {
            OnFailure::AsWritten => critical,
            OnFailure::KeepGoing => false,
            OnFailure::Halt => true,
        });
        job.set_forever(def.forever);
        self.jobs.insert(
            job.clone(),
            JobInfo {
                id,
                keys,
                forever: def.forever,
                critical,
                skipped,
            },
        );
        job
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// What a job's `retry_on` means to the scheduler.
fn retry_on(def: &RetryOnDef) -> RetryOn {
    match def {
        RetryOnDef::Kind(kind) if kind == "failure" => RetryOn::Failure,
        RetryOnDef::Kind(kind) if kind == "timeout" => RetryOn::Timeout,
        RetryOnDef::Kind(_) => RetryOn::Any,
        RetryOnDef::Statuses(statuses) => {
            let statuses = statuses.clone();
            RetryOn::when(move |error| {
                let status = error
                    .downcast_ref::<jobgraph_command::CommandError>()
                    .and_then(|e| e.status())
                    .and_then(|s| s.code());
                status.is_some_and(|code| statuses.contains(&code))
            })
        }
    }
}

/// A sink that does nothing, for building without running (check, graph).
pub fn no_sink(_id: &str, _prefix: &str) -> Option<Sink> {
    None
}

/// Learns no Slurm job id, for building without running.
pub fn no_submitted(_id: &str, _label: &str) -> Option<Submitted> {
    None
}

/// `scheduler` with the limits of a `[limits]` table (checked already: from 1 to
/// `u32::MAX`).
fn with_limits(
    mut scheduler: Scheduler,
    limits: &Option<toml::Spanned<BTreeMap<toml::Spanned<String>, toml::Spanned<i64>>>>,
) -> Scheduler {
    for (name, limit) in limits.iter().flat_map(|l| l.get_ref()) {
        let limit = u32::try_from(*limit.get_ref()).unwrap_or(u32::MAX);
        scheduler = scheduler.limit(name.get_ref(), limit);
    }
    scheduler
}

/// Gives `job` the amounts of a `uses` table (checked already: from 1 to its limit).
fn set_uses(
    job: &AnyJob,
    uses: &Option<toml::Spanned<BTreeMap<toml::Spanned<String>, toml::Spanned<i64>>>>,
) {
    for (name, amount) in uses.iter().flat_map(|u| u.get_ref()) {
        job.set_uses(
            name.get_ref(),
            u32::try_from(*amount.get_ref()).unwrap_or(u32::MAX),
        );
    }
}
