//! (filled in by the bounds work)
