//! [`Watch`], a stopwatch that prints elapsed times the way asynciojobs' does.

use std::io::Write;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::sync::Mutex;

/// A stopwatch shared by cheap clones: jobs print the time elapsed since it was
/// created or reset, as `000.505`.
///
/// ```
/// use jobgraph::Watch;
/// let watch = Watch::start();
/// assert_eq!(watch.elapsed().len(), 7); // "000.000"
/// ```
#[derive(Clone, Debug)]
pub struct Watch(Arc<Mutex<Instant>>);

impl Watch {
    /// Starts a watch and prints `000.000  {message}` (asynciojobs' `Watch(message)`).
    pub fn new(message: &str) -> Self {
        let watch = Watch::start();
        println!("{}  {message}", watch.elapsed());
        watch
    }

    /// Starts a watch without printing anything.
    pub fn start() -> Self {
        Watch(Arc::new(Mutex::new(Instant::now())))
    }

    /// Restarts the watch from zero.
    pub fn reset(&self) {
        *self.0.lock() = Instant::now();
    }

    /// Seconds elapsed since the start or the last reset.
    pub fn seconds(&self) -> f64 {
        self.0.lock().elapsed().as_secs_f64()
    }

    /// The elapsed time as asynciojobs shows it: seconds with 3 decimals, 7 wide
    /// (`001.000`).
    pub fn elapsed(&self) -> String {
        format!("{:07.3}", self.seconds())
    }

    /// Prints `{elapsed} {suffix}`, without a newline (put one in `suffix`), in one write.
    pub fn print_elapsed(&self, suffix: &str) {
        print_flushed(&format!("{} {suffix}", self.elapsed()));
    }

    /// Prints the time of day, `HH:MM:SS.mmm` (UTC), then `suffix`, without a newline.
    pub fn print_wall_clock(suffix: &str) {
        print_flushed(&format!("{}{suffix}", wall_clock()));
    }
}

/// The time of day in UTC as `HH:MM:SS.mmm`.
pub(crate) fn wall_clock() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let millis = since_epoch.as_millis() % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

fn print_flushed(text: &str) {
    let mut out = std::io::stdout().lock();
    // Like print!: a closed stdout is not the job's business.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
