//! Validate: the reconcile's step that decides whether a spec can be scheduled.
//!
//! The checks themselves live in `microfleet_crds::validate`, the one validation the operator, `render` and
//! the fetcher's local run share; this module only names them for the pipeline. Nothing may be added here.

pub use microfleet_crds::validate::{parse_schedule, validate_spec, Schedule, SpecProblem};
