//! (filled in by the tenancy work)
