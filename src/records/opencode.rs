//! The opencode session record: not read yet (the screen is used).

use super::{RecordError, RecordFiles, Transcript};

/// Reads the terminal's record.
pub fn read(_files: &RecordFiles) -> Result<Transcript, RecordError> {
    Err(RecordError::Missing("not implemented for opencode".into()))
}
