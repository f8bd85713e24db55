//! [`PrintJob`]: asynciojobs' job that prints a line, with an optional banner and sleep.

use std::fmt;
use std::time::Duration;

use super::context::Context;
use super::custom::AbstractJob;

/// A job that prints messages on one line, optionally after a banner and before a sleep
/// (asynciojobs' `PrintJob`).
///
/// ```
/// use jobgraph::{Job, PrintJob, Scheduler};
/// use std::time::Duration;
///
/// let hello = Job::custom(PrintJob::new(["hello", "world"]).sleep(Duration::from_millis(10)));
/// assert!(Scheduler::new().add(&hello).run().unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct PrintJob {
    messages: Vec<String>,
    sleep: Option<Duration>,
    banner: Option<String>,
}

impl PrintJob {
    /// A job that prints these messages, separated by spaces.
    pub fn new<I>(messages: I) -> Self
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        PrintJob {
            messages: messages.into_iter().map(|m| m.to_string()).collect(),
            sleep: None,
            banner: None,
        }
    }

    /// Sleeps this long after printing (cut short if the run is cancelled).
    /// `Duration::MAX` sleeps until the run cancels the job (see [`Context::sleep`]).
    pub fn sleep(mut self, duration: Duration) -> Self {
        self.sleep = Some(duration);
        self
    }

    /// Prints this banner (and a space) before the messages.
    pub fn banner(mut self, banner: impl Into<String>) -> Self {
        self.banner = Some(banner.into());
        self
    }
}

impl AbstractJob for PrintJob {
    type Output = ();

    fn run(&mut self, ctx: &Context<'_>) {
        let mut line = String::new();
        if let Some(banner) = &self.banner {
            line.push_str(banner);
            line.push(' ');
        }
        line.push_str(&self.messages.join(" "));
        println!("{line}");
        if let Some(duration) = self.sleep {
            println!("Sleeping for {}s", duration.as_secs_f64());
            ctx.sleep(duration);
        }
    }

    fn kind(&self) -> &'static str {
        "PrintJob"
    }

    fn details(&self) -> Option<String> {
        let mut text = String::new();
        if let Some(duration) = self.sleep {
            text.push_str(&format!("[+ sleep {}s] ", duration.as_secs_f64()));
        }
        text.push_str("msg= ");
        if let Some(first) = self.messages.first() {
            text.push_str(first);
        }
        if self.messages.len() > 1 {
            text.push_str("...");
        }
        Some(text)
    }
}
