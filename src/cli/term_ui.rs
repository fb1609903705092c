//! How a deploy shows itself on the terminal: its steps, the build's progress and the
//! confirmations it asks for.

use std::io::IsTerminal;
use std::time::Duration;

use crate::deploy::Ui;
use crate::deploy::image::BuildProgress;

/// Progress on stderr (on a terminal: a bar for the build-context upload, then a spinner for
/// the build), dialoguer confirmations.
pub struct TermUi {
    yes: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl TermUi {
    pub fn new(yes: bool) -> TermUi {
        TermUi { yes, bar: None }
    }
}

impl Ui for TermUi {
    fn step(&mut self, message: &str) {
        if let Some(s) = self.bar.take() {
            s.finish_and_clear();
        }
        eprintln!("deploy: {message}");
    }

    fn build_progress(&mut self, progress: BuildProgress) {
        if !std::io::stderr().is_terminal() {
            match progress {
                BuildProgress::Upload { sent, total } if sent == total => eprintln!("deploy: build context sent ({:.1} MB)", total as f64 / 1e6),
                BuildProgress::Line(line) if line.starts_with("Step ") || line.starts_with("Successfully") => eprintln!("deploy: build: {line}"),
                _ => {}
            }
            return;
        }
        match progress {
            BuildProgress::Upload { sent, total } => {
                let bar = self.bar.get_or_insert_with(|| {
                    let style = indicatif::ProgressStyle::with_template("sending build context {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})")
                        .expect("a valid template");
                    indicatif::ProgressBar::new(total).with_style(style)
                });
                bar.set_position(sent);
            }
            BuildProgress::Line(line) => {
                if self.bar.as_ref().is_some_and(|b| b.length().is_some()) {
                    // The upload is over: its bar gives way to the build's spinner.
                    self.bar.take().expect("checked").finish_and_clear();
                }
                let spinner = self.bar.get_or_insert_with(|| {
                    let s = indicatif::ProgressBar::new_spinner();
                    s.enable_steady_tick(Duration::from_millis(100));
                    s
                });
                spinner.set_message(format!("building image: {line}"));
            }
        }
    }

    fn confirm(&mut self, question: &str) -> bool {
        self.yes || super::confirm(question).unwrap_or(false)
    }
}
