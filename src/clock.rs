//! Time as a dependency: every domain and storage function is handed `now` from the
//! clock in `AppState`, so tests move time instead of sleeping.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

/// Seconds since the Unix epoch: how every time is stored and compared.
pub type UnixTime = i64;

/// The source of `now`. Cheap to clone; clones of a test clock move together.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Added to the wall clock: zero in production, moved forward by tests.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// A clock that follows the wall clock until `advance` moves it ahead.
    pub fn test() -> Self {
        Self {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> UnixTime {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        wall.saturating_add(self.offset.as_ref().map_or(0, |o| o.load(Ordering::SeqCst)))
    }

    /// Moves a test clock forward; a system clock cannot be moved and ignores this.
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.offset {
            offset.fetch_add(
                i64::try_from(by.as_secs()).unwrap_or(i64::MAX),
                Ordering::SeqCst,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_forward_together_with_its_clones() {
        let clock = Clock::test();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::from_secs(3600));
        assert!(other.now() >= before + 3600);
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        let clock = Clock::system();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() < before + 3600);
    }
}
