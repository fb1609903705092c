//! (filled in by the names work)
