//! A checked scenario made into schedulers and jobs.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jobgraph::{AbstractJob, AnyJob, Context, Job, Scheduler};
use jobgraph_command::{CommandJob, Program, Sink, SshHost, SshJob};

use crate::journal::{job_key, Journal};
use crate::scenario::{GroupDef, JobDef, Loaded, SequenceDef, SshSettings};

/// How long a cancelled command has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// What the runner knows of each command job of the scenario.
#[derive(Clone, Debug)]
pub struct JobInfo {
    /// Its id in the file.
    pub id: String,
    /// Its resume key (a hash of command, host, env and cwd).
    pub key: String,
    /// Whether it runs forever.
    pub forever: bool,
    /// Whether the journal says it is done already (then it is not run again).
    pub skipped: bool,
}

/// The scenario as schedulers, ready to run.
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

/// Options from the command line that shape the run.
pub struct BuildOptions<'a> {
    /// Overrides the file's window.
    pub window: Option<usize>,
    /// Overrides the file's timeout.
    pub timeout: Option<Duration>,
    /// Receives every line of output, given the job's id.
    pub sink: &'a dyn Fn(&str) -> Option<Sink>,
    /// The journal of a run to resume.
    pub resume: Option<&'a Journal>,
}

/// Stands for a job the journal says is done: it does not run again.
struct Skipped {
    command: String,
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
        Some(format!("{} (done in a previous run)", self.command))
    }
}

struct Builder<'a> {
    options: &'a BuildOptions<'a>,
    ssh: &'a SshSettings,
    hosts: BTreeMap<String, SshHost>,
    jobs: HashMap<AnyJob, JobInfo>,
    schedulers: Vec<Scheduler>,
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
    let mut scheduler = Scheduler::new()
        .label(label)
        .grace(GRACE + Duration::from_secs(1))
        .shutdown_timeout(Duration::from_secs(15))
        .stall_timeout(None);
    if let Some(window) = options
        .window
        .or(scenario.window.as_ref().map(|w| *w.get_ref()))
    {
        scheduler = scheduler.window(window);
    }
    if let Some(timeout) = options.timeout.or(scenario.timeout.map(|d| d.0)) {
        scheduler = scheduler.timeout(timeout);
    }
    let mut builder = Builder {
        options,
        ssh: &scenario.ssh,
        hosts: BTreeMap::new(),
        jobs: HashMap::new(),
        schedulers: vec![scheduler.clone()],
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

/// A command or ssh job set up as its definition says (the two builders share these
/// setters, not a type): the runner's grace, env, cwd, timeout and output sink.
macro_rules! set_up {
    ($job:expr, $def:expr, $sink:expr) => {{
        let mut job = $job.grace(GRACE);
        for (k, v) in &$def.env {
            job = job.env(k.get_ref(), v.get_ref());
        }
        if let Some(cwd) = &$def.cwd {
            job = job.cwd(cwd.get_ref());
        }
        if let Some(timeout) = $def.timeout {
            job = job.timeout(timeout.0);
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
            let mut group = Scheduler::new()
                .label(
                    def.label
                        .clone()
                        .unwrap_or_else(|| def.id.get_ref().clone()),
                )
                .critical(def.critical.unwrap_or(true))
                .grace(GRACE + Duration::from_secs(1))
                .stall_timeout(None);
            if let Some(window) = &def.window {
                group = group.window(*window.get_ref());
            }
            if let Some(timeout) = def.timeout {
                group = group.timeout(timeout.0);
            }
            self.schedulers.push(group.clone());
            self.fill(&group, &def.jobs, &def.groups, &def.sequences);
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
            let list = sequence.jobs.get_ref();
            for pair in list.windows(2) {
                if let (Some(job), Some(req)) =
                    (by_id.get(pair[1].get_ref()), by_id.get(pair[0].get_ref()))
                {
                    job.add_requires(req);
                }
            }
        }
    }

    fn host(&mut self, text: &str) -> SshHost {
        let ssh = self.ssh;
        self.hosts
            .entry(text.to_string())
            .or_insert_with(|| {
                // Checked when the scenario was loaded.
                let mut host = SshHost::parse(text).expect("a checked host");
                if let Some(identity) = &ssh.identity {
                    host = host.identity(expand_home(identity.get_ref()));
                }
                for option in &ssh.options {
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
            (Some(argv), _) => Program::Argv(argv.get_ref().clone()),
            (None, Some(shell)) => Program::Shell(shell.get_ref().clone()),
            (None, None) => unreachable!("checked when loaded"),
        };
        let host_text = def.host.as_ref().map(|h| h.get_ref().clone());
        let env: BTreeMap<String, String> = def
            .env
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
            .collect();
        let cwd = def.cwd.as_ref().map(|c| c.get_ref().as_str());
        let key = job_key(&program, host_text.as_deref(), &env, cwd);
        let label = def.label.clone().unwrap_or_else(|| id.clone());
        let skipped = self
            .options
            .resume
            .is_some_and(|journal| journal.is_done(&id, &key));
        let job: AnyJob = if skipped {
            Job::custom(Skipped {
                command: program.display(),
            })
            .any()
        } else if let Some(host_text) = &host_text {
            let host = self.host(host_text);
            let sink = (self.options.sink)(&id);
            let job = set_up!(SshJob::from_program(&host, program), def, sink);
            Job::custom(job).any()
        } else {
            let sink = (self.options.sink)(&id);
            let job = set_up!(CommandJob::from_program(program), def, sink);
            Job::custom(job).any()
        };
        job.set_label(label);
        job.set_critical(def.critical.unwrap_or(true));
        job.set_forever(def.forever);
        self.jobs.insert(
            job.clone(),
            JobInfo {
                id,
                key,
                forever: def.forever,
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

/// A sink that does nothing, for building without running (check, graph).
pub fn no_sink(_id: &str) -> Option<Sink> {
    None
}
