//! Raw code files: the headerless output of `nasm -f bin`, loaded with their size checked.

use std::path::Path;

use crate::{Error, Result};

/// The largest raw code file polylink loads: 1 MiB, far beyond any routine here, so that a
/// wrong path to a large file is refused rather than mapped.
pub const MAX_RAW_CODE: usize = 1 << 20;

/// Reads a raw code file, refusing a missing, empty or too large one.
pub fn load(path: &Path) -> Result<Vec<u8>> {
    let read_error = |cause| Error::Read {
        path: path.to_path_buf(),
        cause,
    };
    let name = path.display().to_string();
    let len = std::fs::metadata(path).map_err(read_error)?.len();
    if len > MAX_RAW_CODE as u64 {
        return Err(Error::TooLarge {
            name,
            len,
            limit: MAX_RAW_CODE,
        });
    }
    let code = std::fs::read(path).map_err(read_error)?;
    check_size(&name, &code)?;
    Ok(code)
}

/// Refuses empty code and code over [`MAX_RAW_CODE`].
pub fn check_size(name: &str, code: &[u8]) -> Result<()> {
    if code.is_empty() {
        return Err(Error::Empty { name: name.into() });
    }
    if code.len() > MAX_RAW_CODE {
        return Err(Error::TooLarge {
            name: name.into(),
            len: code.len() as u64,
            limit: MAX_RAW_CODE,
        });
    }
    Ok(())
}
